# ============================================================ pipeline flight_delays
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data_dir": ("str", "data/nycflights13"),
    "out_dir": ("str", "out/flight_delays"),
    "min_distance": ("float", 200.0),
    "seed": ("int", 42),
}


FLIGHTS_SCHEMA = [
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


WEATHER__0_READ_CSV_SCHEMA = [
    ("origin", "str", False),
    ("year", "int", False),
    ("month", "int", False),
    ("day", "int", False),
    ("hour", "int", False),
    ("temp", "float", True),
    ("dewp", "float", True),
    ("humid", "float", True),
    ("wind_dir", "int", True),
    ("wind_speed", "float", True),
    ("wind_gust", "float", True),
    ("precip", "float", False),
    ("pressure", "float", True),
    ("visib", "float", False),
    ("time_hour", "timestamp", False),
]


SCORED_SCHEMA = [
    ("carrier", "str", False),
    ("origin", "str", False),
    ("log_distance", "float", False),
    ("temp", "float", False),
    ("wind_speed", "float", False),
    ("late", "bool", False),
    ("prediction", "bool", False),
    ("probability", "float", False),
]


BY_CARRIER_SCHEMA = [
    ("carrier", "str", False),
    ("flights", "int", False),
    ("late_rate", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `flight_delays`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv flights, filter (join features__1_join (line 29) needs a shuffle on
    #     spark)
    outputs.events.stage("s1")
    features__0_filter = (
        numbered(
            read_table(
                spark,
                "flights",
                "csv",
                resolve_path("${data_dir}/flights.csv", params),
                FLIGHTS_SCHEMA,
                null_values=["NA"],
                columns=["arr_delay", "carrier", "origin", "distance", "time_hour"],
            ),
        )
        .filter(F.col("arr_delay").isNotNull() & (F.col("distance") >= F.lit(params["min_distance"])))
    )

    # --- stage s2: read_csv, select weather (join features__1_join (line 29) needs a shuffle on
    #     spark)
    outputs.events.stage("s2")
    weather = (
        numbered(
            read_table(
                spark,
                "weather__0_read_csv",
                "csv",
                resolve_path("${data_dir}/weather.csv", params),
                WEATHER__0_READ_CSV_SCHEMA,
                null_values=["NA"],
                columns=["origin", "temp", "wind_speed", "time_hour"],
            ),
        )
        .select("origin", "time_hour", "temp", "wind_speed", ORDER)
    )

    # --- stage s3: join, fill_null, derive, select features (`features` (select features, line 32)
    #     is cached)
    outputs.events.stage("s3")
    features = (
        features__0_filter
        .join(with_right_order(weather), on=["origin", "time_hour"], how="left")
        .transform(joined_order, "left")
        .select("arr_delay", "carrier", "origin", "distance", "time_hour", "temp", "wind_speed", ORDER)
        .withColumns({
            "temp": F.coalesce(F.col("temp"), F.lit(55.0)),
            "wind_speed": F.coalesce(F.col("wind_speed"), F.lit(0.0)),
        })
        .withColumns({"late": F.col("arr_delay") > 15, "log_distance": ieee_ln(F.col("distance"))})
        .select("carrier", "origin", "log_distance", "temp", "wind_speed", "late", ORDER)
    )
    features = features.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s4: split train (`train` (split train, line 33) is cached)
    outputs.events.stage("s4")
    train = split_rows(features, 0.8, params["seed"], part=0)

    # --- stage s5: fit model, save_model (`model` (fit model, line 37) trains a model, which later
    #     steps use; it writes ${out_dir}/model)
    outputs.events.stage("s5")
    model = fit_model(
        in_order(train),
        "logistic_regression",
        {"max_iter": 200, "reg": 0.0},
        kind="classifier",
        features=[
                ("log_distance", "float", False),
                ("temp", "float", False),
                ("wind_speed", "float", False),
            ],
        label=("late", "bool"),
    )
    outputs.save_model(model, resolve_path("${out_dir}/model", params))

    # --- stage s6: split test, predict scored, write_parquet (`scored` (predict scored, line 41) is
    #     cached; it writes ${out_dir}/scored.parquet)
    outputs.events.stage("s6")
    test = split_rows(features, 0.8, params["seed"], part=1)
    scored = predict(test, model)
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    outputs.write_table(
        scored,
        "parquet",
        resolve_path("${out_dir}/scored.parquet", params),
        SCORED_SCHEMA,
    )
    features.unpersist()  # its last consumer has run

    # --- stage s7: aggregate (`by_carrier` (sort by_carrier, line 50) needs a shuffle on spark)
    outputs.events.stage("s7")
    by_carrier__0_aggregate = (
        scored
        .groupBy("carrier")
        .agg(
            F.count(F.lit(1)).alias("flights"),
            float_mean(F.col("late").cast("double")).alias("late_rate"),
            first_order(),
        )
    )

    # --- stage s8: sort by_carrier, write_csv (it writes ${out_dir}/by_carrier.csv)
    outputs.events.stage("s8")
    by_carrier = (
        by_carrier__0_aggregate
        .transform(sorted_rows, [F.col("late_rate").desc_nulls_last()])
    )
    outputs.write_table(
        by_carrier,
        "csv",
        resolve_path("${out_dir}/by_carrier.csv", params),
        BY_CARRIER_SCHEMA,
    )

    # --- stage s9: evaluate report, write_json (it writes ${out_dir}/metrics.json)
    outputs.events.stage("s9")
    report = evaluate(scored, model, label="late", task="classification", metrics=["accuracy", "roc_auc"])
    outputs.write_metrics(report, "json", resolve_path("${out_dir}/metrics.json", params))
    scored.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("flight_delays", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
