# ============================================================ pipeline regressors
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data": ("str", "data"),
}


ROWS_SCHEMA = [
    ("id", "int", False),
    ("x1", "float", False),
    ("x2", "float", False),
    ("group", "str", False),
    ("flag", "bool", False),
    ("label", "bool", False),
    ("target", "float", False),
    ("cluster_x", "float", False),
    ("cluster_y", "float", False),
]


SINK1__0_SELECT_SCHEMA = [
    ("id", "int", False),
    ("prediction", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `regressors`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv rows (`rows` (read_csv rows, line 24) is cached)
    outputs.events.stage("s1")
    rows = numbered(
        read_table(
            spark,
            "rows",
            "csv",
            resolve_path("${data}/labelled.csv", params),
            ROWS_SCHEMA,
            columns=["id", "x1", "x2", "group", "target"],
        ),
    )
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: split test (`test` (split test, line 25) is cached)
    outputs.events.stage("s2")
    test = split_rows(rows, 0.75, 5, part=1, by="id")
    test = test.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s3: split train (`train` (split train, line 25) is cached)
    outputs.events.stage("s3")
    train = split_rows(rows, 0.75, 5, part=0, by="id")

    # --- stage s4: fit forest (`forest` (fit forest, line 27) trains a model, which later steps
    #     use)
    outputs.events.stage("s4")
    forest = fit_model(
        in_order(train),
        "random_forest_regressor",
        {"n_trees": 30, "max_depth": 5, "seed": 2},
        kind="regressor",
        features=[("x1", "float", False), ("x2", "float", False)],
        label=("target", "float"),
    )

    # --- stage s5: fit linear, save_model (`linear` (fit linear, line 26) trains a model, which
    #     later steps use; it writes out/linear_model)
    outputs.events.stage("s5")
    linear = fit_model(
        in_order(train),
        "linear_regression",
        {"reg": 0.0},
        kind="regressor",
        features=[("x1", "float", False), ("x2", "float", False), ("group", "str", False)],
        label=("target", "float"),
    )
    outputs.save_model(linear, resolve_path("out/linear_model", params))

    # --- stage s6: predict scored (`scored` (predict scored, line 28) is cached)
    outputs.events.stage("s6")
    scored = predict(test, linear)
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s7: select, write_csv (it writes out/linear_scored.csv)
    outputs.events.stage("s7")
    sink1__0_select = scored.select("id", "prediction", ORDER)
    outputs.write_table(
        sink1__0_select,
        "csv",
        resolve_path("out/linear_scored.csv", params),
        SINK1__0_SELECT_SCHEMA,
    )
    rows.unpersist()  # its last consumer has run

    # --- stage s8: evaluate, write_json (it writes out/linear_metrics.json)
    outputs.events.stage("s8")
    sink2__0_evaluate = evaluate(scored, linear, label="target", task="regression", metrics=["rmse", "mae", "r2"])
    outputs.write_metrics(sink2__0_evaluate, "json", resolve_path("out/linear_metrics.json", params))
    scored.unpersist()  # its last consumer has run

    # --- stage s9: predict, evaluate, write_json (it writes out/forest_regressor_metrics.json)
    outputs.events.stage("s9")
    sink3__0_predict = predict(test, forest)
    sink3__1_evaluate = evaluate(sink3__0_predict, forest, label="target", task="regression", metrics=["rmse", "r2"])
    outputs.write_metrics(
        sink3__1_evaluate,
        "json",
        resolve_path("out/forest_regressor_metrics.json", params),
    )
    test.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("regressors", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
