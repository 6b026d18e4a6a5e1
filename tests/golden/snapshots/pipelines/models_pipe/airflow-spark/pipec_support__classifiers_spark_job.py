# ============================================================ pipeline classifiers
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
    ("prediction", "bool", False),
    ("probability", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `classifiers`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv rows (`rows` (read_csv rows, line 6) is cached)
    outputs.events.stage("s1")
    rows = numbered(
        read_table(
            spark,
            "rows",
            "csv",
            resolve_path("${data}/labelled.csv", params),
            ROWS_SCHEMA,
            columns=["id", "x1", "x2", "group", "flag", "label"],
        ),
    )
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: split test (`test` (split test, line 7) is cached)
    outputs.events.stage("s2")
    test = split_rows(rows, 0.75, 5, part=1, by="id")
    test = test.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s3: split train (`train` (split train, line 7) is cached)
    outputs.events.stage("s3")
    train = split_rows(rows, 0.75, 5, part=0, by="id")

    # --- stage s4: fit boosted (`boosted` (fit boosted, line 11) trains a model, which later steps
    #     use)
    outputs.events.stage("s4")
    boosted = fit_model(
        in_order(train),
        "gradient_boosted_classifier",
        {"n_iter": 20, "max_depth": 2, "seed": 1},
        kind="classifier",
        features=[("x1", "float", False), ("x2", "float", False)],
        label=("label", "bool"),
    )

    # --- stage s5: fit forest (`forest` (fit forest, line 10) trains a model, which later steps
    #     use)
    outputs.events.stage("s5")
    forest = fit_model(
        in_order(train),
        "random_forest_classifier",
        {"n_trees": 30, "max_depth": 4, "seed": 1},
        kind="classifier",
        features=[("x1", "float", False), ("x2", "float", False), ("group", "str", False)],
        label=("label", "bool"),
    )

    # --- stage s6: fit logistic (`logistic` (fit logistic, line 9) trains a model, which later
    #     steps use)
    outputs.events.stage("s6")
    logistic = fit_model(
        in_order(train),
        "logistic_regression",
        {"max_iter": 200, "reg": 0.0},
        kind="classifier",
        features=[
                ("x1", "float", False),
                ("x2", "float", False),
                ("group", "str", False),
                ("flag", "bool", False),
            ],
        label=("label", "bool"),
    )

    # --- stage s7: predict scored (`scored` (predict scored, line 13) is cached)
    outputs.events.stage("s7")
    scored = predict(test, logistic)
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s8: select, write_csv (it writes out/logistic_scored.csv)
    outputs.events.stage("s8")
    sink1__0_select = scored.select("id", "prediction", "probability", ORDER)
    outputs.write_table(
        sink1__0_select,
        "csv",
        resolve_path("out/logistic_scored.csv", params),
        SINK1__0_SELECT_SCHEMA,
    )
    rows.unpersist()  # its last consumer has run

    # --- stage s9: evaluate, expect, write_json (it writes out/logistic_metrics.json)
    outputs.events.stage("s9")
    sink2__1_expect = evaluate(
        scored,
        logistic,
        label="label",
        task="classification",
        metrics=["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"],
    )
    check_expectations(
        sink2__1_expect,
        [
            Expectation("accuracy > 0.7", F.col("accuracy") > 0.7, [("accuracy", F.col("accuracy"))]),
        ],
        spark,
    )
    outputs.write_metrics(sink2__1_expect, "json", resolve_path("out/logistic_metrics.json", params))
    scored.unpersist()  # its last consumer has run

    # --- stage s10: predict, evaluate, write_json (it writes out/forest_metrics.json)
    outputs.events.stage("s10")
    sink3__0_predict = predict(test, forest)
    sink3__1_evaluate = evaluate(
        sink3__0_predict,
        forest,
        label="label",
        task="classification",
        metrics=["accuracy", "roc_auc"],
    )
    outputs.write_metrics(sink3__1_evaluate, "json", resolve_path("out/forest_metrics.json", params))

    # --- stage s11: predict, evaluate, write_json (it writes out/boosted_metrics.json)
    outputs.events.stage("s11")
    sink4__0_predict = predict(test, boosted)
    sink4__1_evaluate = evaluate(
        sink4__0_predict,
        boosted,
        label="label",
        task="classification",
        metrics=["accuracy", "f1"],
    )
    outputs.write_metrics(sink4__1_evaluate, "json", resolve_path("out/boosted_metrics.json", params))
    test.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("classifiers", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
