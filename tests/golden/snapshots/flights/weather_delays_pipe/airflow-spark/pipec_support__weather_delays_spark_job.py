# ============================================================ pipeline weather_delays
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data_dir": ("str", "data/nycflights13"),
    "out_dir": ("str", "out/weather_delays"),
    "windy_mph": ("float", 20.0),
    "low_visibility_miles": ("float", 3.0),
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


BY_CONDITION_SCHEMA = [
    ("origin", "str", False),
    ("freezing", "bool", False),
    ("windy", "bool", False),
    ("wet", "bool", False),
    ("low_visibility", "bool", False),
    ("n_departures", "int", False),
    ("delayed_rate", "float", False),
    ("mean_dep_delay", "float", False),
    ("median_dep_delay", "float", False),
]


MONTHLY_SCHEMA = [
    ("origin", "str", False),
    ("month", "int", False),
    ("n_departures", "int", False),
    ("delayed_rate", "float", False),
    ("mean_dep_delay", "float", False),
    ("bad_weather_share", "float", False),
    ("mean_temp", "float", True),
    ("max_wind_speed", "float", True),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `weather_delays`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv flights, filter (join departures__1_join (line 19) needs a shuffle on
    #     spark)
    outputs.events.stage("s1")
    departures__0_filter = (
        numbered(
            read_table(
                spark,
                "flights",
                "csv",
                resolve_path("${data_dir}/flights.csv", params),
                FLIGHTS_SCHEMA,
                null_values=["NA"],
                columns=["month", "dep_delay", "origin", "time_hour"],
            ),
        )
        .filter(F.col("dep_delay").isNotNull())
    )

    # --- stage s2: read_csv, select weather (join departures__1_join (line 19) needs a shuffle on
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
                columns=["origin", "temp", "wind_speed", "precip", "visib", "time_hour"],
            ),
        )
        .select("origin", "time_hour", "temp", "wind_speed", "precip", "visib", ORDER)
    )

    # --- stage s3: join, derive, derive, expect departures (`departures` (expect departures, line
    #     26) is cached)
    outputs.events.stage("s3")
    departures = (
        departures__0_filter
        .join(with_right_order(weather), on=["origin", "time_hour"], how="inner")
        .transform(joined_order, "inner")
        .select("month", "dep_delay", "origin", "time_hour", "temp", "wind_speed", "precip", "visib", ORDER)
        .withColumns({
            "delayed": F.col("dep_delay") > 15,
            "freezing": F.coalesce(F.col("temp") <= 32.0, F.lit(False)),
            "windy": F.coalesce(F.col("wind_speed") >= F.lit(params["windy_mph"]), F.lit(False)),
            "wet": F.col("precip") > 0.0,
            "low_visibility": F.col("visib") < F.lit(params["low_visibility_miles"]),
        })
        .withColumns({
            "bad_weather": ((F.col("freezing") | F.col("windy")) | F.col("wet")) | F.col("low_visibility"),
        })
    )
    check_expectations(
        departures,
        [
            Expectation(
                "row_count() > 300000",
                F.count(F.lit(1)) > 300000,
                [("row_count()", F.count(F.lit(1)))],
            ),
        ],
        spark,
    )
    departures = departures.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s4: aggregate, filter (`by_condition` (sort by_condition, line 46) needs a shuffle
    #     on spark)
    outputs.events.stage("s4")
    by_condition__1_filter = (
        departures
        .groupBy("origin", "freezing", "windy", "wet", "low_visibility")
        .agg(
            F.count(F.lit(1)).alias("n_departures"),
            float_mean(F.col("delayed").cast("double")).alias("delayed_rate"),
            float_mean(F.col("dep_delay")).alias("mean_dep_delay"),
            float_median(F.col("dep_delay")).alias("median_dep_delay"),
            first_order(),
        )
        .filter(F.col("n_departures") >= 30)
    )

    # --- stage s5: sort by_condition, write_csv (it writes ${out_dir}/by_condition.csv)
    outputs.events.stage("s5")
    by_condition = (
        by_condition__1_filter
        .transform(sorted_rows, [F.col("origin").asc_nulls_last(), F.col("delayed_rate").desc_nulls_last()])
    )
    outputs.write_table(
        by_condition,
        "csv",
        resolve_path("${out_dir}/by_condition.csv", params),
        BY_CONDITION_SCHEMA,
    )

    # --- stage s6: aggregate (sort monthly__1_sort (line 36) needs a shuffle on spark)
    outputs.events.stage("s6")
    monthly__0_aggregate = (
        departures
        .groupBy("origin", "month")
        .agg(
            F.count(F.lit(1)).alias("n_departures"),
            float_mean(F.col("delayed").cast("double")).alias("delayed_rate"),
            float_mean(F.col("dep_delay")).alias("mean_dep_delay"),
            float_mean(F.col("bad_weather").cast("double")).alias("bad_weather_share"),
            float_mean(F.col("temp")).alias("mean_temp"),
            F.max(F.col("wind_speed")).alias("max_wind_speed"),
            first_order(),
        )
    )

    # --- stage s7: sort, expect monthly, write_csv (it writes ${out_dir}/monthly.csv)
    outputs.events.stage("s7")
    monthly = (
        monthly__0_aggregate
        .transform(sorted_rows, [F.col("origin").asc_nulls_last(), F.col("month").asc_nulls_last()])
    )
    check_expectations(
        monthly,
        [
            Expectation("row_count() == 36", F.count(F.lit(1)) == 36, [("row_count()", F.count(F.lit(1)))]),
            Expectation(
                "min(n_departures) > 1000",
                F.min(F.col("n_departures")) > 1000,
                [("min(n_departures)", F.min(F.col("n_departures")))],
            ),
        ],
        spark,
    )
    outputs.write_table(monthly, "csv", resolve_path("${out_dir}/monthly.csv", params), MONTHLY_SCHEMA)
    departures.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("weather_delays", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
