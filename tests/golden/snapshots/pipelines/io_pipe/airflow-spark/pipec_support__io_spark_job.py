# ============================================================ pipeline io
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data": ("str", "data"),
}


FROM_JSON_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


FROM_PARQUET_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
]


BOTH_SCHEMA = [
    ("code", "str", False),
    ("name", "str", False),
    ("zone", "int", True),
    ("elevation", "float", False),
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


FARES_SCHEMA = [
    ("id", "int", False),
    ("fare", "float", False),
    ("taxed", "float", False),
]


POPULATION_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("fare", "float", False),
]


SINK3__0_SAMPLE_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("fare", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `io`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_json from_json, read_parquet from_parquet, union (`both` (sort both, line
    #     8) needs a shuffle on spark)
    outputs.events.stage("s1")
    from_json = numbered(
        read_table(
            spark,
            "from_json",
            "json",
            resolve_path("${data}/stations.jsonl", params),
            FROM_JSON_SCHEMA,
        ),
    )
    both__0_union = (
        numbered(
            read_table(
                spark,
                "from_parquet",
                "parquet",
                resolve_path("${data}/stations.parquet", params),
                FROM_PARQUET_SCHEMA,
            ),
        )
        .transform(union_part, 0)
        .unionByName(union_part(from_json, 1))
    )

    # --- stage s2: sort both, write_csv (it writes out/readers.csv)
    outputs.events.stage("s2")
    both = (
        both__0_union
        .transform(sorted_rows, [F.col("code").asc_nulls_last(), F.col("zone").asc_nulls_last()])
    )
    outputs.write_table(both, "csv", resolve_path("out/readers.csv", params), BOTH_SCHEMA)

    # --- stage s3: read_csv trips (`trips` (read_csv trips, line 11) is cached)
    outputs.events.stage("s3")
    trips = numbered(
        read_table(
            spark,
            "trips",
            "csv",
            resolve_path("${data}/trips.csv", params),
            TRIPS_SCHEMA,
            columns=["id", "start", "fare"],
        ),
    )
    trips = trips.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s4: select (`fares` (python fares, line 16) runs as pandas code on spark)
    outputs.events.stage("s4")
    fares__0_select = trips.select("id", "fare", ORDER)

    # --- stage s5: python fares, write_parquet (it writes out/python.parquet)
    outputs.events.stage("s5")
    fares = apply_python(fares__0_select, "conformance_udf:add_tax", FARES_SCHEMA, {"rate": 0.2})
    outputs.write_table(fares, "parquet", resolve_path("out/python.parquet", params), FARES_SCHEMA)

    # --- stage s6: select population, write_csv, sample, write_csv (it writes out/population.csv;
    #     it writes out/sample.csv)
    outputs.events.stage("s6")
    population = trips.select("id", "start", "fare", ORDER)
    outputs.write_table(
        population,
        "csv",
        resolve_path("out/population.csv", params),
        POPULATION_SCHEMA,
    )
    sink3__0_sample = sample_rows(population, 0.5, 9)
    outputs.write_table(
        sink3__0_sample,
        "csv",
        resolve_path("out/sample.csv", params),
        SINK3__0_SAMPLE_SCHEMA,
    )
    trips.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("io", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
