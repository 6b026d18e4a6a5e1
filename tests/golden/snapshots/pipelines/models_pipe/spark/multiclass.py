# ============================================================ pipeline multiclass
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data": ("str", "data"),
}


ROWS__0_READ_CSV_SCHEMA = [
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
    ("prediction", "str", False),
    ("probability", "float", False),
]


SINK4__1_SELECT_SCHEMA = [
    ("id", "int", False),
    ("prediction", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `multiclass`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv (read_csv rows__0_read_csv (line 44) is cached)
    outputs.events.stage("s1")
    rows__0_read_csv = numbered(
        read_table(
            spark,
            "rows__0_read_csv",
            "csv",
            resolve_path("${data}/labelled.csv", params),
            ROWS__0_READ_CSV_SCHEMA,
            columns=["id", "x1", "x2", "group", "target"],
        ),
    )
    rows__0_read_csv = rows__0_read_csv.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: derive rows, split test, split train (`test` (split test, line 47) is cached;
    #     `train` (split train, line 47) is cached)
    outputs.events.stage("s2")
    rows = (
        rows__0_read_csv
        .withColumns({
            "level": F.when(F.col("target") > 30.0, F.lit("high")).otherwise(F.when(F.col("target") > -15.0, F.lit("mid")).otherwise(F.lit("low"))),
            "band": float_floor(ieee_divide(F.col("target"), F.lit(10.0))).try_cast("bigint"),
        })
    )
    test = split_rows(rows, 0.75, 5, part=1, by="id")
    test = test.persist(StorageLevel.MEMORY_AND_DISK)
    train = split_rows(rows, 0.75, 5, part=0, by="id")

    # --- stage s3: fit bands (`bands` (fit bands, line 60) trains a model, which later steps use)
    outputs.events.stage("s3")
    bands = fit_model(
        in_order(train),
        "linear_regression",
        {"reg": 0.0},
        kind="regressor",
        features=[("x1", "float", False), ("x2", "float", False)],
        label=("band", "int"),
    )

    # --- stage s4: fit forest (`forest` (fit forest, line 51) trains a model, which later steps
    #     use)
    outputs.events.stage("s4")
    forest = fit_model(
        in_order(train),
        "random_forest_classifier",
        {"n_trees": 30, "max_depth": 4, "seed": 1},
        kind="classifier",
        features=[("x1", "float", False), ("x2", "float", False)],
        label=("level", "str"),
    )

    # --- stage s5: fit logistic (`logistic` (fit logistic, line 50) trains a model, which later
    #     steps use)
    outputs.events.stage("s5")
    logistic = fit_model(
        in_order(train),
        "logistic_regression",
        {"max_iter": 200, "reg": 0.0},
        kind="classifier",
        features=[("x1", "float", False), ("x2", "float", False), ("group", "str", False)],
        label=("level", "str"),
    )

    # --- stage s6: predict scored (`scored` (predict scored, line 52) is cached)
    outputs.events.stage("s6")
    scored = predict(test, logistic)
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s7: select, write_csv (it writes out/multiclass_scored.csv)
    outputs.events.stage("s7")
    sink1__0_select = scored.select("id", "prediction", "probability", ORDER)
    outputs.write_table(
        sink1__0_select,
        "csv",
        resolve_path("out/multiclass_scored.csv", params),
        SINK1__0_SELECT_SCHEMA,
    )
    rows__0_read_csv.unpersist()  # its last consumer has run

    # --- stage s8: evaluate, write_json (it writes out/multiclass_logistic_metrics.json)
    outputs.events.stage("s8")
    sink2__0_evaluate = evaluate(
        scored,
        logistic,
        label="level",
        task="classification",
        metrics=["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"],
    )
    outputs.write_metrics(
        sink2__0_evaluate,
        "json",
        resolve_path("out/multiclass_logistic_metrics.json", params),
    )
    scored.unpersist()  # its last consumer has run

    # --- stage s9: predict, evaluate, write_json (it writes out/multiclass_forest_metrics.json)
    outputs.events.stage("s9")
    sink3__0_predict = predict(test, forest)
    sink3__1_evaluate = evaluate(
        sink3__0_predict,
        forest,
        label="level",
        task="classification",
        metrics=["accuracy", "roc_auc"],
    )
    outputs.write_metrics(
        sink3__1_evaluate,
        "json",
        resolve_path("out/multiclass_forest_metrics.json", params),
    )

    # --- stage s10: predict, select, write_csv (it writes out/band_scored.csv)
    outputs.events.stage("s10")
    sink4__1_select = predict(test, bands).select("id", "prediction", ORDER)
    outputs.write_table(
        sink4__1_select,
        "csv",
        resolve_path("out/band_scored.csv", params),
        SINK4__1_SELECT_SCHEMA,
    )
    test.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("multiclass", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
