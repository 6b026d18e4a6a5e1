# ============================================================ pipeline tune_delays
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data_dir": ("str", "data/nycflights13"),
    "out_dir": ("str", "out/tune_delays"),
    "seed": ("int", 42),
}


FEATURES__0_READ_CSV_SCHEMA = [
    ("year", "int", False),
    ("month", "int", False),
    ("day", "int", False),
    ("dep_time", "int", True),
    ("sched_dep_time", "int", False),
    ("dep_delay", "int", True),
    ("arr_time", "int", True),
    ("sched_arr_time", "int", False),
    ("arr_delay", "int", True),
    ("carrier", "str", False),
    ("flight", "int", False),
    ("tailnum", "str", True),
    ("origin", "str", False),
    ("dest", "str", False),
    ("air_time", "int", True),
    ("distance", "int", False),
    ("hour", "int", False),
    ("minute", "int", False),
    ("time_hour", "timestamp", False),
]


SINK2__0_DROP_SCHEMA = [
    ("candidate", "int", False),
    ("estimator", "str", False),
    ("max_iter", "int", True),
    ("reg", "float", True),
    ("n_trees", "int", True),
    ("max_depth", "int", True),
    ("seed", "int", True),
    ("roc_auc", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `tune_delays`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv, filter, derive, select features (`features` (select features, line 14)
    #     is cached)
    outputs.events.stage("s1")
    features = (
        numbered(
            read_table(
                spark,
                "features__0_read_csv",
                "csv",
                resolve_path("${data_dir}/flights.csv", params),
                FEATURES__0_READ_CSV_SCHEMA,
                null_values=["NA"],
                columns=["month", "day", "sched_dep_time", "arr_delay", "carrier", "origin", "distance", "hour"],
            ),
        )
        .filter(F.col("arr_delay").isNotNull() & (F.col("month") == 1))
        .withColumns({
            "late": F.col("arr_delay") > 15,
            "log_distance": ieee_ln(F.col("distance")),
            "dep_hour": F.col("hour"),
            "flight_key": int_arithmetic("+", int_arithmetic("*", F.col("day"), F.lit(10000), (
            "integer overflow in derive at examples/flights/tune_delays.p"
            "ipe:13:27: day * 10000"
        )), F.col("sched_dep_time"), (
            "integer overflow in derive at examples/flights/tune_delays.p"
            "ipe:13:27: day * 10000 + sched_dep_time"
        )),
        })
        .select("carrier", "origin", "log_distance", "dep_hour", "flight_key", "late", ORDER)
    )
    features = features.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: split train, tune best, save_model (`train` (split train, line 16) is also read
    #     by stage s4; `best` (tune best, line 20) trains a model, which later steps use; it writes
    #     ${out_dir}/model)
    outputs.events.stage("s2")
    train = split_rows(features, 0.8, params["seed"], part=0, by="flight_key")
    best = tune_model(
        train,
        [
                ("logistic_regression", {"max_iter": 500, "reg": 0.0}),
                ("logistic_regression", {"max_iter": 500, "reg": 0.001}),
                ("random_forest_classifier", {"n_trees": 20, "max_depth": 4, "seed": 0}),
                ("random_forest_classifier", {"n_trees": 20, "max_depth": 8, "seed": 0}),
                ("random_forest_classifier", {"n_trees": 50, "max_depth": 4, "seed": 0}),
                ("random_forest_classifier", {"n_trees": 50, "max_depth": 8, "seed": 0}),
            ],
        kind="classifier",
        features=[
                ("carrier", "str", False),
                ("origin", "str", False),
                ("log_distance", "float", False),
                ("dep_hour", "int", False),
            ],
        label=("late", "bool"),
        metric="roc_auc",
        lower_is_better=False,
        folds=5,
        holdout=None,
        seed=params["seed"],
        trials=[
                ("candidate", "int", False),
                ("estimator", "str", False),
                ("max_iter", "int", True),
                ("reg", "float", True),
                ("n_trees", "int", True),
                ("max_depth", "int", True),
                ("seed", "int", True),
                ("roc_auc", "float", False),
                ("seconds", "float", False),
            ],
    )
    outputs.save_model(best, resolve_path("${out_dir}/model", params))

    # --- stage s3: split test, predict, evaluate, write_json (it writes ${out_dir}/metrics.json)
    outputs.events.stage("s3")
    test = split_rows(features, 0.8, params["seed"], part=1, by="flight_key")
    sink1__0_predict = predict(test, best)
    sink1__1_evaluate = evaluate(
        sink1__0_predict,
        best,
        label="late",
        task="classification",
        metrics=["accuracy", "roc_auc"],
    )
    outputs.write_metrics(sink1__1_evaluate, "json", resolve_path("${out_dir}/metrics.json", params))

    # --- stage s4: tune trials (`trials` (tune trials, line 20) trains a model, which later steps
    #     use)
    outputs.events.stage("s4")
    trials = tune_trials(best)

    # --- stage s5: drop, write_csv (it writes ${out_dir}/trials.csv)
    outputs.events.stage("s5")
    sink2__0_drop = trials.drop("seconds")
    outputs.write_table(
        sink2__0_drop,
        "csv",
        resolve_path("${out_dir}/trials.csv", params),
        SINK2__0_DROP_SCHEMA,
    )
    features.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("tune_delays", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
