# ============================================================ pipeline penguin_species
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data_dir": ("str", "data/penguins"),
    "out_dir": ("str", "out/penguin_species"),
    "seed": ("int", 7),
    "min_accuracy": ("float", 0.9),
}


PENGUINS_SCHEMA = [
    ("species", "str", False),
    ("island", "str", False),
    ("bill_length_mm", "float", True),
    ("bill_depth_mm", "float", True),
    ("flipper_length_mm", "int", True),
    ("body_mass_g", "int", True),
    ("sex", "str", True),
    ("year", "int", False),
]


CONFUSION_SCHEMA = [
    ("species", "str", False),
    ("prediction", "str", False),
    ("n", "int", False),
]


SINK1__0_SELECT_SCHEMA = [
    ("species", "str", False),
    ("island", "str", False),
    ("sex", "str", False),
    ("bill_length_mm", "float", False),
    ("bill_depth_mm", "float", False),
    ("flipper_length_mm", "int", False),
    ("body_mass_g", "int", False),
    ("prediction", "str", False),
    ("probability", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `penguin_species`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv penguins, drop_nulls (drop_nulls measured__0_drop_nulls (line 15) is
    #     cached)
    outputs.events.stage("s1")
    measured__0_drop_nulls = (
        numbered(
            read_table(
                spark,
                "penguins",
                "csv",
                resolve_path("${data_dir}/penguins.csv", params),
                PENGUINS_SCHEMA,
                null_values=["NA"],
            ),
        )
        .dropna(subset=["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"])
    )
    measured__0_drop_nulls = measured__0_drop_nulls.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: derive measured, split test, split train (`test` (split test, line 18) is also
    #     read by stage s4; `train` (split train, line 18) is cached)
    outputs.events.stage("s2")
    measured = (
        measured__0_drop_nulls
        .withColumns({"bill_ratio": ieee_divide(F.col("bill_length_mm"), F.col("bill_depth_mm"))})
    )
    test = split_rows(measured, 0.75, params["seed"], part=1)
    train = split_rows(measured, 0.75, params["seed"], part=0)

    # --- stage s3: fit model, save_model (`model` (fit model, line 20) trains a model, which later
    #     steps use; it writes ${out_dir}/model)
    outputs.events.stage("s3")
    model = fit_model(
        in_order(train),
        "random_forest_classifier",
        {"n_trees": 200, "max_depth": 6, "seed": 7},
        kind="classifier",
        features=[
                ("bill_length_mm", "float", False),
                ("bill_depth_mm", "float", False),
                ("bill_ratio", "float", False),
                ("flipper_length_mm", "int", False),
                ("body_mass_g", "int", False),
                ("island", "str", False),
                ("sex", "str", False),
            ],
        label=("species", "str"),
    )
    outputs.save_model(model, resolve_path("${out_dir}/model", params))

    # --- stage s4: predict scored (`scored` (predict scored, line 24) is cached)
    outputs.events.stage("s4")
    scored = predict(test, model)
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s5: aggregate (`confusion` (sort confusion, line 32) needs a shuffle on spark)
    outputs.events.stage("s5")
    confusion__0_aggregate = (
        scored
        .groupBy("species", "prediction")
        .agg(F.count(F.lit(1)).alias("n"), first_order())
    )

    # --- stage s6: sort confusion, write_csv (it writes ${out_dir}/confusion.csv)
    outputs.events.stage("s6")
    confusion = (
        confusion__0_aggregate
        .transform(sorted_rows, [F.col("species").asc_nulls_last(), F.col("prediction").asc_nulls_last()])
    )
    outputs.write_table(
        confusion,
        "csv",
        resolve_path("${out_dir}/confusion.csv", params),
        CONFUSION_SCHEMA,
    )
    measured__0_drop_nulls.unpersist()  # its last consumer has run

    # --- stage s7: evaluate, expect report, write_json (it writes ${out_dir}/metrics.json)
    outputs.events.stage("s7")
    report = evaluate(
        scored,
        model,
        label="species",
        task="classification",
        metrics=["accuracy", "precision", "recall", "f1"],
    )
    check_expectations(
        report,
        [
            Expectation(
                "accuracy >= $min_accuracy",
                F.col("accuracy") >= F.lit(params["min_accuracy"]),
                [("accuracy", F.col("accuracy"))],
            ),
            Expectation(
                "f1 >= $min_accuracy",
                F.col("f1") >= F.lit(params["min_accuracy"]),
                [("f1", F.col("f1"))],
            ),
        ],
        spark,
    )
    outputs.write_metrics(report, "json", resolve_path("${out_dir}/metrics.json", params))

    # --- stage s8: select, write_csv (it writes ${out_dir}/predictions.csv)
    outputs.events.stage("s8")
    sink1__0_select = (
        scored
        .select(
            "species",
            "island",
            "sex",
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "prediction",
            "probability",
            ORDER,
        )
    )
    outputs.write_table(
        sink1__0_select,
        "csv",
        resolve_path("${out_dir}/predictions.csv", params),
        SINK1__0_SELECT_SCHEMA,
    )
    scored.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("penguin_species", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
