# ============================================================ pipeline tuned
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


SINK3__1_SELECT_SCHEMA = [
    ("id", "int", False),
    ("prediction", "float", False),
]


SINK4__0_DROP_SCHEMA = [
    ("candidate", "int", False),
    ("estimator", "str", False),
    ("max_iter", "int", True),
    ("reg", "float", True),
    ("n_trees", "int", True),
    ("max_depth", "int", True),
    ("seed", "int", True),
    ("accuracy", "float", False),
]


SINK5__2_SELECT_SCHEMA = [
    ("candidate", "int", False),
]


SINK1__0_DROP_SCHEMA = [
    ("candidate", "int", False),
    ("estimator", "str", False),
    ("reg", "float", True),
    ("n_trees", "int", True),
    ("max_depth", "int", True),
    ("seed", "int", True),
    ("rmse", "float", False),
]


SINK2__2_SELECT_SCHEMA = [
    ("candidate", "int", False),
    ("estimator", "str", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `tuned`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv rows (`rows` (read_csv rows, line 66) is cached)
    outputs.events.stage("s1")
    rows = numbered(
        read_table(
            spark,
            "rows",
            "csv",
            resolve_path("${data}/labelled.csv", params),
            ROWS_SCHEMA,
            columns=["id", "x1", "x2", "group", "label", "target"],
        ),
    )
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: split train (`train` (split train, line 67) is cached)
    outputs.events.stage("s2")
    train = split_rows(rows, 0.75, 5, part=0, by="id")

    # --- stage s3: tune best (`best` (tune best, line 72) trains a model, which later steps use)
    outputs.events.stage("s3")
    best = tune_model(
        train,
        [
                ("linear_regression", {"reg": 0.05}),
                ("linear_regression", {"reg": 0.5}),
                ("random_forest_regressor", {"n_trees": 5, "max_depth": 1, "seed": 3}),
                ("random_forest_regressor", {"n_trees": 5, "max_depth": 2, "seed": 3}),
            ],
        kind="regressor",
        features=[("x1", "float", False), ("x2", "float", False), ("group", "str", False)],
        label=("target", "float"),
        metric="rmse",
        lower_is_better=True,
        folds=3,
        holdout=None,
        seed=7,
        trials=[
                ("candidate", "int", False),
                ("estimator", "str", False),
                ("reg", "float", True),
                ("n_trees", "int", True),
                ("max_depth", "int", True),
                ("seed", "int", True),
                ("rmse", "float", False),
                ("seconds", "float", False),
            ],
    )

    # --- stage s4: split test, predict, select, write_csv (it writes out/tuned_scored.csv)
    outputs.events.stage("s4")
    test = split_rows(rows, 0.75, 5, part=1, by="id")
    sink3__1_select = predict(test, best).select("id", "prediction", ORDER)
    outputs.write_table(
        sink3__1_select,
        "csv",
        resolve_path("out/tuned_scored.csv", params),
        SINK3__1_SELECT_SCHEMA,
    )

    # --- stage s5: tune chosen (`chosen` (tune chosen, line 80) trains a model, which later steps
    #     use)
    outputs.events.stage("s5")
    chosen = tune_model(
        train,
        [
                ("logistic_regression", {"max_iter": 200, "reg": 0.0}),
                ("logistic_regression", {"max_iter": 200, "reg": 0.5}),
                ("random_forest_classifier", {"n_trees": 5, "max_depth": 1, "seed": 3}),
            ],
        kind="classifier",
        features=[("x1", "float", False), ("x2", "float", False), ("group", "str", False)],
        label=("label", "bool"),
        metric="accuracy",
        lower_is_better=False,
        folds=None,
        holdout=0.3,
        seed=7,
        trials=[
                ("candidate", "int", False),
                ("estimator", "str", False),
                ("max_iter", "int", True),
                ("reg", "float", True),
                ("n_trees", "int", True),
                ("max_depth", "int", True),
                ("seed", "int", True),
                ("accuracy", "float", False),
                ("seconds", "float", False),
            ],
    )

    # --- stage s6: tune attempts (`attempts` (tune attempts, line 80) is cached)
    outputs.events.stage("s6")
    attempts = tune_trials(chosen)
    attempts = attempts.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s7: drop, write_csv (it writes out/tune_holdout_trials.csv)
    outputs.events.stage("s7")
    sink4__0_drop = attempts.drop("seconds")
    outputs.write_table(
        sink4__0_drop,
        "csv",
        resolve_path("out/tune_holdout_trials.csv", params),
        SINK4__0_DROP_SCHEMA,
    )

    # --- stage s8: sort, limit, select, write_csv (it writes out/tune_holdout_choice.csv)
    outputs.events.stage("s8")
    sink5__2_select = (
        attempts
        .transform(sorted_rows, [F.col("accuracy").desc_nulls_last(), F.col("candidate").asc_nulls_last()])
        .transform(first_rows, 1)
        .select("candidate", ORDER)
    )
    outputs.write_table(
        sink5__2_select,
        "csv",
        resolve_path("out/tune_holdout_choice.csv", params),
        SINK5__2_SELECT_SCHEMA,
    )
    attempts.unpersist()  # its last consumer has run

    # --- stage s9: tune trials (`trials` (tune trials, line 72) is cached)
    outputs.events.stage("s9")
    trials = tune_trials(best)
    trials = trials.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s10: drop, write_csv (it writes out/tune_trials.csv)
    outputs.events.stage("s10")
    sink1__0_drop = trials.drop("seconds")
    outputs.write_table(
        sink1__0_drop,
        "csv",
        resolve_path("out/tune_trials.csv", params),
        SINK1__0_DROP_SCHEMA,
    )
    rows.unpersist()  # its last consumer has run

    # --- stage s11: sort, limit, select, write_csv (it writes out/tune_choice.csv)
    outputs.events.stage("s11")
    sink2__2_select = (
        trials
        .transform(sorted_rows, [F.col("rmse").asc_nulls_last(), F.col("candidate").asc_nulls_last()])
        .transform(first_rows, 1)
        .select("candidate", "estimator", ORDER)
    )
    outputs.write_table(
        sink2__2_select,
        "csv",
        resolve_path("out/tune_choice.csv", params),
        SINK2__2_SELECT_SCHEMA,
    )
    trials.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("tuned", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
