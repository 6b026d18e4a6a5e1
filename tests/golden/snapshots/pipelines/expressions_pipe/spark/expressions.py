# ============================================================ pipeline expressions
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data": ("str", "data"),
    "offset": ("int", 3),
}


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


SINK1__0_SORT_SCHEMA = [
    ("id", "int", False),
    ("add", "int", True),
    ("sub", "int", True),
    ("mul", "int", True),
    ("div", "float", False),
    ("div0", "float", False),
    ("idiv", "int", True),
    ("idiv0", "int", True),
    ("imod", "int", True),
    ("neg", "int", True),
    ("a", "int", True),
    ("r0", "float", False),
    ("r1", "float", False),
    ("fl", "float", True),
    ("ce", "float", True),
    ("sq", "float", True),
    ("ln", "float", False),
    ("lg", "float", False),
    ("ex", "float", False),
    ("pw", "float", False),
    ("ifl", "int", True),
    ("half", "float", False),
]


SINK3__0_SORT_SCHEMA = [
    ("id", "int", False),
    ("both", "bool", True),
    ("either", "bool", True),
    ("neither", "bool", True),
    ("known", "bool", False),
    ("missing", "bool", False),
    ("within", "bool", False),
    ("pick", "str", False),
    ("first", "int", False),
    ("dflt", "float", False),
    ("cmp", "bool", False),
    ("eq", "bool", False),
    ("ne", "bool", False),
    ("tcmp", "bool", False),
    ("dcmp", "bool", False),
]


SINK4__0_SORT_SCHEMA = [
    ("id", "int", False),
    ("y", "int", False),
    ("m", "int", False),
    ("d", "int", False),
    ("wd", "int", False),
    ("h", "int", False),
    ("ty", "int", False),
    ("twd", "int", False),
    ("dt", "date", False),
    ("hd", "int", False),
    ("as_date", "date", True),
    ("ts_str", "str", False),
]


SINK2__0_SORT_SCHEMA = [
    ("id", "int", False),
    ("lo", "str", True),
    ("up", "str", True),
    ("len", "int", True),
    ("tr", "str", True),
    ("has", "bool", True),
    ("sw", "bool", False),
    ("ew", "bool", False),
    ("sub", "str", False),
    ("cat", "str", False),
    ("rep", "str", True),
    ("dot", "bool", True),
    ("s_int", "str", True),
    ("s_float", "str", False),
    ("back", "int", True),
    ("bad", "int", True),
    ("b_int", "int", True),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `expressions`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv trips (`trips` (read_csv trips, line 7) is cached)
    outputs.events.stage("s1")
    trips = numbered(read_table(spark, "trips", "csv", resolve_path("${data}/trips.csv", params), TRIPS_SCHEMA))
    trips = trips.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: select dates (sort sink4__0_sort (line 38) needs a shuffle on spark)
    outputs.events.stage("s2")
    dates = (
        trips
        .select(
            "id",
            F.year(F.col("day")).alias("y"),
            F.month(F.col("day")).alias("m"),
            F.dayofmonth(F.col("day")).alias("d"),
            (F.weekday(F.col("day")) + 1).alias("wd"),
            F.hour(F.col("started_at")).alias("h"),
            F.year(F.col("started_at")).alias("ty"),
            (F.weekday(F.col("started_at")) + 1).alias("twd"),
            F.to_date(F.col("started_at")).alias("dt"),
            F.hour(F.col("day")).alias("hd"),
            F.lit("2024-02-29").try_cast("date").alias("as_date"),
            timestamp_text(F.col("started_at")).alias("ts_str"),
            ORDER,
        )
    )

    # --- stage s3: select logic (sort sink3__0_sort (line 32) needs a shuffle on spark)
    outputs.events.stage("s3")
    logic = (
        trips
        .select(
            "id",
            (F.col("returned") & (F.col("minutes") > 30)).alias("both"),
            (F.col("returned") | (F.col("minutes") > 30)).alias("either"),
            (~F.col("returned")).alias("neither"),
            F.col("returned").isNotNull().alias("known"),
            F.col("minutes").isNull().alias("missing"),
            F.col("start").isin("AAA", "CCC").alias("within"),
            F.when(F.col("minutes") > 60, F.lit("long")).otherwise(F.lit("short")).alias("pick"),
            F.coalesce(F.col("minutes"), F.lit(0)).alias("first"),
            F.coalesce(F.col("distance"), F.col("fare")).alias("dflt"),
            (F.col("fare") >= 3.5).alias("cmp"),
            (F.col("start") == F.col("end")).alias("eq"),
            (F.col("start") != "BBB").alias("ne"),
            (F.col("started_at") >= F.lit("2024-06-01T00:00:00Z").try_cast("timestamp")).alias("tcmp"),
            (F.col("day") < F.lit("2024-03-01").try_cast("date")).alias("dcmp"),
            ORDER,
        )
    )

    # --- stage s4: select numbers (sort sink1__0_sort (line 16) needs a shuffle on spark)
    outputs.events.stage("s4")
    numbers = (
        trips
        .select(
            "id",
            int_arithmetic("+", F.col("minutes"), F.lit(params["offset"]), (
                "integer overflow in select at tests/backends/conformance/pip"
                "elines/expressions.pipe:11:11: minutes + $offset"
            )).alias("add"),
            int_arithmetic("-", F.col("minutes"), F.lit(2), (
                "integer overflow in select at tests/backends/conformance/pip"
                "elines/expressions.pipe:11:36: minutes - 2"
            )).alias("sub"),
            int_arithmetic("*", F.col("minutes"), F.lit(3), (
                "integer overflow in select at tests/backends/conformance/pip"
                "elines/expressions.pipe:11:55: minutes * 3"
            )).alias("mul"),
            ieee_divide(F.col("fare"), F.lit(2)).alias("div"),
            ieee_divide(F.col("fare"), (python_mod(F.col("id"), F.lit(2))).cast("double")).alias("div0"),
            floor_divide(F.col("minutes"), F.lit(7)).alias("idiv"),
            floor_divide(F.col("minutes"), python_mod(F.col("id"), F.lit(3))).alias("idiv0"),
            python_mod(F.col("minutes"), F.lit(7)).alias("imod"),
            int_arithmetic("-", F.lit(0), F.col("minutes"), (
                "integer overflow in select at tests/backends/conformance/pip"
                "elines/expressions.pipe:13:11: -minutes"
            )).alias("neg"),
            F.abs(F.col("minutes")).alias("a"),
            round_half_away(F.col("fare"), 0).alias("r0"),
            round_half_away(F.col("fare") * 1.5, 1).alias("r1"),
            float_floor(F.col("distance")).alias("fl"),
            float_ceil(F.col("distance")).alias("ce"),
            F.sqrt(F.col("minutes").cast("double")).alias("sq"),
            ieee_ln(F.col("fare")).alias("ln"),
            ieee_log10(F.col("fare")).alias("lg"),
            F.exp(ieee_divide(F.col("fare"), F.lit(10))).alias("ex"),
            F.pow(F.col("fare"), F.lit(2)).alias("pw"),
            F.col("minutes").alias("ifl"),
            round_half_away(F.col("id").cast("double") + 0.5, 0).alias("half"),
            ORDER,
        )
    )

    # --- stage s5: sort, write_csv (it writes out/numbers.csv)
    outputs.events.stage("s5")
    sink1__0_sort = numbers.transform(sorted_rows, [F.col("id").asc_nulls_last()])
    outputs.write_table(
        sink1__0_sort,
        "csv",
        resolve_path("out/numbers.csv", params),
        SINK1__0_SORT_SCHEMA,
    )

    # --- stage s6: sort, write_csv (it writes out/logic.csv)
    outputs.events.stage("s6")
    sink3__0_sort = logic.transform(sorted_rows, [F.col("id").asc_nulls_last()])
    outputs.write_table(
        sink3__0_sort,
        "csv",
        resolve_path("out/logic.csv", params),
        SINK3__0_SORT_SCHEMA,
    )

    # --- stage s7: sort, write_csv (it writes out/dates.csv)
    outputs.events.stage("s7")
    sink4__0_sort = dates.transform(sorted_rows, [F.col("id").asc_nulls_last()])
    outputs.write_table(
        sink4__0_sort,
        "csv",
        resolve_path("out/dates.csv", params),
        SINK4__0_SORT_SCHEMA,
    )

    # --- stage s8: select strings (sort sink2__0_sort (line 24) needs a shuffle on spark)
    outputs.events.stage("s8")
    strings = (
        trips
        .select(
            "id",
            F.lower(F.col("rider")).alias("lo"),
            F.upper(F.col("rider")).alias("up"),
            F.char_length(F.col("rider")).alias("len"),
            trim_whitespace(F.col("rider")).alias("tr"),
            F.col("rider").contains("mem").alias("has"),
            F.col("start").startswith("A").alias("sw"),
            F.col("end").endswith("C").alias("ew"),
            F.substring(F.col("start"), 2, 2).alias("sub"),
            F.concat(F.col("start"), F.lit("->"), F.col("end")).alias("cat"),
            F.replace(F.col("rider"), F.lit("e"), F.lit("E")).alias("rep"),
            F.col("rider").contains(".").alias("dot"),
            F.col("minutes").cast("string").alias("s_int"),
            float_text(F.col("fare")).alias("s_float"),
            F.col("minutes").cast("string").try_cast("bigint").alias("back"),
            F.col("rider").try_cast("bigint").alias("bad"),
            F.col("returned").cast("bigint").alias("b_int"),
            ORDER,
        )
    )

    # --- stage s9: sort, write_csv (it writes out/strings.csv)
    outputs.events.stage("s9")
    sink2__0_sort = strings.transform(sorted_rows, [F.col("id").asc_nulls_last()])
    outputs.write_table(
        sink2__0_sort,
        "csv",
        resolve_path("out/strings.csv", params),
        SINK2__0_SORT_SCHEMA,
    )
    trips.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("expressions", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
