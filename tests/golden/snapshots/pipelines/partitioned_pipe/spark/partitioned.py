# ============================================================ pipeline partitioned
# Params: name -> (type, default). Override with --param name=value.
PARAMS: dict[str, tuple[str, Any]] = {}


KEPT__0_READ_CSV_SCHEMA = [
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


KEPT_SCHEMA = [
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


SINK2__0_SELECT_SCHEMA = [
    ("id", "int", False),
    ("start", "str", False),
    ("returned", "bool", True),
    ("fare", "float", False),
]


SINK2_WRITE_PARQUET_SCHEMA = [
    ("returned", "bool", True),
    ("start", "str", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `partitioned`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv, filter kept, write_csv (`kept` (filter kept, line 7) is cached; it
    #     writes out/pruned.csv)
    outputs.events.stage("s1")
    kept = (
        read_partitioned(
            spark,
            "kept__0_read_csv",
            "csv",
            resolve_path("data/trips_by_start", params),
            KEPT__0_READ_CSV_SCHEMA,
            ["start"],
            keep=lambda partitions: partitions.filter((F.col("start") == "BBB") | (F.col("start") >= "DDD")),
        )
        .filter((F.col("start") == "BBB") | (F.col("start") >= "DDD"))
    )
    kept = kept.persist(StorageLevel.MEMORY_AND_DISK)
    outputs.write_table(kept, "csv", resolve_path("out/pruned.csv", params), KEPT_SCHEMA)

    # --- stage s2: select, write_parquet (it writes out/by_returned)
    outputs.events.stage("s2")
    sink2__0_select = kept.select("id", "start", "returned", "fare", ORDER)
    outputs.write_partitioned(
        sink2__0_select,
        "parquet",
        resolve_path("out/by_returned", params),
        SINK2__0_SELECT_SCHEMA,
        SINK2_WRITE_PARQUET_SCHEMA,
    )
    kept.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("partitioned", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
