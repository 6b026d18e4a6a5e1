# ============================================================ pipeline relational
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data": ("str", "data"),
    "min_fare": ("float", 2.0),
}


STATIONS_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


STACKED_SCHEMA = [
    ("code", "str", False),
    ("copies", "int", False),
]


TRIPS_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("end", "str", False),
    ("rider", "str", True),
    ("minutes", "int", True),
    ("distance", "float", True),
    ("fare", "float", False),
    ("day", "date", False),
    ("started_at", "timestamp", False),
    ("returned", "bool", True),
]


BY_START_SCHEMA = [
    ("start", "str", False),
    ("returned", "bool", True),
    ("n", "int", False),
    ("n_minutes", "int", False),
    ("riders", "int", False),
    ("total", "int", True),
    ("avg", "float", True),
    ("lo", "date", False),
    ("hi", "timestamp", False),
    ("sd", "float", True),
    ("v", "float", True),
    ("med", "float", False),
]


SINK15__0_SELECT_SCHEMA = [
    ("id", "int", False),
]


JOINED_ANTI_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


JOINED_FULL_SCHEMA = [
    ("id", "int", True),
    ("start", "str", False),
    ("name", "str", True),
    ("zone", "int", True),
    ("elevation", "float", True),
]


JOINED_INNER_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("fare", "float", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


JOINED_LEFT_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("name", "str", True),
    ("zone", "int", True),
    ("elevation", "float", True),
]


JOINED_RIGHT_SCHEMA = [
    ("id", "int", True),
    ("start", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


JOINED_SEMI_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


NO_NULLS_SCHEMA = [
    ("id", "int", False),
]


OVERALL_SCHEMA = [
    ("n", "int", False),
    ("fares", "float", True),
    ("med", "float", True),
]


PAIRS_SCHEMA = [
    ("start", "str", False),
    ("end", "str", False),
]


SINK16__0_SELECT_SCHEMA = [
    ("id", "int", False),
]


SINK17__0_AGGREGATE_SCHEMA = [
    ("n", "int", False),
]


SINK1__0_SORT_SCHEMA = [
    ("id", "int", False),
    ("origin", "str", False),
    ("end", "str", False),
    ("minutes", "int", False),
    ("distance", "float", True),
    ("fare", "float", False),
    ("day", "date", False),
    ("started_at", "timestamp", False),
    ("returned", "bool", True),
    ("speed", "float", True),
    ("long", "bool", False),
]


TOP_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("end", "str", False),
    ("rider", "str", True),
    ("minutes", "int", False),
    ("distance", "float", False),
    ("fare", "float", False),
    ("day", "date", False),
    ("started_at", "timestamp", False),
    ("returned", "bool", True),
]


WHOLE_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `relational`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv stations (`stations` (read_csv stations, line 8) is cached)
    outputs.events.stage("s1")
    stations = numbered(
        read_table(spark, "stations", "csv", resolve_path("${data}/stations.csv", params), STATIONS_SCHEMA),
    )
    stations = stations.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: union (`stacked` (aggregate stacked, line 49) needs a shuffle on spark)
    outputs.events.stage("s2")
    stacked__0_union = (
        stations
        .transform(union_part, 0)
        .unionByName(union_part(stations, 1))
        .unionByName(union_part(stations, 2))
    )

    # --- stage s3: aggregate stacked, write_csv (it writes out/union.csv)
    outputs.events.stage("s3")
    stacked = (
        stacked__0_union
        .groupBy("code")
        .agg(F.count(F.lit(1)).alias("copies"), first_order())
    )
    outputs.write_table(stacked, "csv", resolve_path("out/union.csv", params), STACKED_SCHEMA)

    # --- stage s4: read_csv trips (`trips` (read_csv trips, line 7) is cached)
    outputs.events.stage("s4")
    trips = numbered(read_table(spark, "trips", "csv", resolve_path("${data}/trips.csv", params), TRIPS_SCHEMA))
    trips = trips.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s5: aggregate (`by_start` (sort by_start, line 35) needs a shuffle on spark)
    outputs.events.stage("s5")
    by_start__0_aggregate = (
        trips
        .groupBy("start", "returned")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.count(F.col("minutes")).alias("n_minutes"),
            F.count_distinct(F.col("rider")).alias("riders"),
            exact_sum(F.col("minutes"), (
                "integer overflow in aggregate at tests/backends/conformance/"
                "pipelines/relational.pipe:33:25: sum(minutes)"
            )).alias("total"),
            float_mean(F.col("distance")).alias("avg"),
            F.min(F.col("day")).alias("lo"),
            F.max(F.col("started_at")).alias("hi"),
            float_std(F.col("fare")).alias("sd"),
            float_var(F.col("fare")).alias("v"),
            float_median(F.col("fare")).alias("med"),
            first_order(),
        )
    )

    # --- stage s6: sort by_start, write_parquet (it writes out/by_start.parquet)
    outputs.events.stage("s6")
    by_start = (
        by_start__0_aggregate
        .transform(sorted_rows, [F.col("start").asc_nulls_last(), F.col("returned").desc_nulls_last()])
    )
    outputs.write_table(
        by_start,
        "parquet",
        resolve_path("out/by_start.parquet", params),
        BY_START_SCHEMA,
    )

    # --- stage s7: expect checked (aggregate sink17__0_aggregate (line 56) needs a shuffle on
    #     spark)
    outputs.events.stage("s7")
    checked = trips
    check_expectations(
        checked,
        [
            Expectation(
                "row_count() == 240",
                F.count(F.lit(1)) == 240,
                [("row_count()", F.count(F.lit(1)))],
            ),
            Expectation(
                "max(fare) < 100",
                F.max(F.col("fare")) < 100,
                [("max(fare)", F.max(F.col("fare")))],
            ),
            Expectation(
                "count_distinct(start) == 6",
                F.count_distinct(F.col("start")) == 6,
                [("count_distinct(start)", F.count_distinct(F.col("start")))],
            ),
        ],
        spark,
    )

    # --- stage s8: filter, fill_null, derive, drop, rename cleaned (sort sink1__0_sort (line 16)
    #     needs a shuffle on spark)
    outputs.events.stage("s8")
    cleaned = (
        trips
        .filter((F.col("fare") >= F.lit(params["min_fare"])) & (F.col("start") != "DDD"))
        .withColumns({"minutes": F.coalesce(F.col("minutes"), F.lit(0))})
        .withColumns({
            "speed": ieee_divide(F.col("distance"), F.col("minutes").cast("double") + 1.0),
            "long": F.col("minutes") > 60,
        })
        .drop("rider")
        .withColumnsRenamed({"start": "origin"})
    )

    # --- stage s9: split first, select, write_csv (it writes out/split_first.csv)
    outputs.events.stage("s9")
    sink15__0_select = split_rows(trips, 0.7, 11, part=0, by="id").select("id", ORDER)
    outputs.write_table(
        sink15__0_select,
        "csv",
        resolve_path("out/split_first.csv", params),
        SINK15__0_SELECT_SCHEMA,
    )

    # --- stage s10: join joined_anti, write_csv (it writes out/join_anti.csv)
    outputs.events.stage("s10")
    joined_anti = (
        stations
        .join(trips.withColumnsRenamed({"start": "code"}), on=["code"], how="left_anti")
    )
    outputs.write_table(
        joined_anti,
        "csv",
        resolve_path("out/join_anti.csv", params),
        JOINED_ANTI_SCHEMA,
    )

    # --- stage s11: select (select joined_full__0_select (line 21) is cached)
    outputs.events.stage("s11")
    joined_full__0_select = trips.select("id", "start", ORDER)
    joined_full__0_select = joined_full__0_select.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s12: join joined_full, write_csv (it writes out/join_full.csv)
    outputs.events.stage("s12")
    joined_full = (
        joined_full__0_select
        .join(with_right_order(stations).withColumnsRenamed({"code": "start"}), on=["start"], how="full")
        .transform(joined_order, "full")
        .select("id", "start", "name", "zone", "elevation", ORDER)
    )
    outputs.write_table(
        joined_full,
        "csv",
        resolve_path("out/join_full.csv", params),
        JOINED_FULL_SCHEMA,
    )

    # --- stage s13: select (`joined_inner` (join joined_inner, line 18) needs a shuffle on spark)
    outputs.events.stage("s13")
    joined_inner__0_select = trips.select("id", "start", "fare", ORDER)

    # --- stage s14: join joined_inner, write_csv (it writes out/join_inner.csv)
    outputs.events.stage("s14")
    joined_inner = (
        joined_inner__0_select
        .join(with_right_order(stations).withColumnsRenamed({"code": "start"}), on=["start"], how="inner")
        .transform(joined_order, "inner")
        .select("id", "start", "fare", "name", "zone", "elevation", ORDER)
    )
    outputs.write_table(
        joined_inner,
        "csv",
        resolve_path("out/join_inner.csv", params),
        JOINED_INNER_SCHEMA,
    )

    # --- stage s15: join joined_left, write_csv (it writes out/join_left.csv)
    outputs.events.stage("s15")
    joined_left = (
        joined_full__0_select
        .join(with_right_order(stations).withColumnsRenamed({"code": "start"}), on=["start"], how="left")
        .transform(joined_order, "left")
        .select("id", "start", "name", "zone", "elevation", ORDER)
    )
    outputs.write_table(
        joined_left,
        "csv",
        resolve_path("out/join_left.csv", params),
        JOINED_LEFT_SCHEMA,
    )

    # --- stage s16: join joined_right, write_csv (it writes out/join_right.csv)
    outputs.events.stage("s16")
    joined_right = (
        joined_full__0_select
        .join(with_right_order(stations).withColumnsRenamed({"code": "start"}), on=["start"], how="right")
        .transform(joined_order, "right")
        .select("id", "start", "name", "zone", "elevation", ORDER)
    )
    outputs.write_table(
        joined_right,
        "csv",
        resolve_path("out/join_right.csv", params),
        JOINED_RIGHT_SCHEMA,
    )
    joined_full__0_select.unpersist()  # its last consumer has run

    # --- stage s17: join joined_semi, write_csv (it writes out/join_semi.csv)
    outputs.events.stage("s17")
    joined_semi = (
        stations
        .join(trips.withColumnsRenamed({"start": "code"}), on=["code"], how="left_semi")
    )
    outputs.write_table(
        joined_semi,
        "csv",
        resolve_path("out/join_semi.csv", params),
        JOINED_SEMI_SCHEMA,
    )

    # --- stage s18: drop_nulls, select no_nulls, write_csv (it writes out/no_nulls.csv)
    outputs.events.stage("s18")
    no_nulls = trips.dropna().select("id", ORDER)
    outputs.write_table(no_nulls, "csv", resolve_path("out/no_nulls.csv", params), NO_NULLS_SCHEMA)

    # --- stage s19: aggregate overall, write_json (it writes out/overall.json)
    outputs.events.stage("s19")
    overall = (
        trips
        .agg(
            F.count(F.lit(1)).alias("n"),
            float_sum(F.col("fare")).alias("fares"),
            float_median(F.col("minutes")).alias("med"),
            first_order(),
        )
    )
    outputs.write_table(overall, "json", resolve_path("out/overall.json", params), OVERALL_SCHEMA)

    # --- stage s20: distinct (`pairs` (sort pairs, line 45) needs a shuffle on spark)
    outputs.events.stage("s20")
    pairs__0_distinct = (
        trips
        .groupBy("start", "end")
        .agg(first_order())
    )

    # --- stage s21: sort pairs, write_csv (it writes out/pairs.csv)
    outputs.events.stage("s21")
    pairs = (
        pairs__0_distinct
        .transform(sorted_rows, [F.col("start").asc_nulls_last(), F.col("end").asc_nulls_last()])
    )
    outputs.write_table(pairs, "csv", resolve_path("out/pairs.csv", params), PAIRS_SCHEMA)

    # --- stage s22: split second, select, write_csv (it writes out/split_second.csv)
    outputs.events.stage("s22")
    sink16__0_select = split_rows(trips, 0.7, 11, part=1, by="id").select("id", ORDER)
    outputs.write_table(
        sink16__0_select,
        "csv",
        resolve_path("out/split_second.csv", params),
        SINK16__0_SELECT_SCHEMA,
    )

    # --- stage s23: aggregate, write_json (it writes out/checked.json)
    outputs.events.stage("s23")
    sink17__0_aggregate = checked.agg(F.count(F.lit(1)).alias("n"), first_order())
    outputs.write_table(
        sink17__0_aggregate,
        "json",
        resolve_path("out/checked.json", params),
        SINK17__0_AGGREGATE_SCHEMA,
    )

    # --- stage s24: sort, write_csv (it writes out/cleaned.csv)
    outputs.events.stage("s24")
    sink1__0_sort = cleaned.transform(sorted_rows, [F.col("id").asc_nulls_last()])
    outputs.write_table(
        sink1__0_sort,
        "csv",
        resolve_path("out/cleaned.csv", params),
        SINK1__0_SORT_SCHEMA,
    )

    # --- stage s25: drop_nulls (sort top__1_sort (line 41) needs a shuffle on spark)
    outputs.events.stage("s25")
    top__0_drop_nulls = trips.dropna(subset=["minutes", "distance"])

    # --- stage s26: sort, limit top, write_csv (it writes out/top.csv)
    outputs.events.stage("s26")
    top = (
        top__0_drop_nulls
        .transform(sorted_rows, [F.col("fare").desc_nulls_last(), F.col("id").asc_nulls_last()])
        .transform(first_rows, 7)
    )
    outputs.write_table(top, "csv", resolve_path("out/top.csv", params), TOP_SCHEMA)
    trips.unpersist()  # its last consumer has run

    # --- stage s27: union (distinct whole__1_distinct (line 47) needs a shuffle on spark)
    outputs.events.stage("s27")
    whole__0_union = (
        stations
        .transform(union_part, 0)
        .unionByName(union_part(stations, 1))
    )

    # --- stage s28: distinct (`whole` (sort whole, line 47) needs a shuffle on spark)
    outputs.events.stage("s28")
    whole__1_distinct = (
        whole__0_union
        .groupBy("code", "name", "zone", "elevation")
        .agg(first_order())
    )

    # --- stage s29: sort whole, write_csv (it writes out/distinct_rows.csv)
    outputs.events.stage("s29")
    whole = whole__1_distinct.transform(sorted_rows, [F.col("code").asc_nulls_last()])
    outputs.write_table(whole, "csv", resolve_path("out/distinct_rows.csv", params), WHOLE_SCHEMA)
    stations.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("relational", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
