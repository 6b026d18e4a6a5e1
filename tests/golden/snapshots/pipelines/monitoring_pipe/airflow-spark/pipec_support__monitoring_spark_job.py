# ============================================================ pipeline monitoring
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data": ("str", "data"),
}


LABELLED_SCHEMA = [
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


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `monitoring`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv labelled (`labelled` (read_csv labelled, line 12) is cached)
    outputs.events.stage("s1")
    labelled = numbered(
        read_table(spark, "labelled", "csv", resolve_path("${data}/labelled.csv", params), LABELLED_SCHEMA),
    )
    labelled = labelled.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: filter, drift, write_json (it writes out/labelled_drift.json)
    outputs.events.stage("s2")
    sink2__0_filter = labelled.filter(F.col("x1") > 0.0)
    sink2__1_drift = drift(
        sink2__0_filter,
        labelled,
        [
                ("id", True),
                ("x1", True),
                ("x2", True),
                ("group", False),
                ("flag", False),
                ("label", False),
                ("target", True),
                ("cluster_x", True),
                ("cluster_y", True),
            ],
        "drift at tests/backends/conformance/pipelines/monitoring.pipe:13:33",
    )
    outputs.write_metrics(sink2__1_drift, "json", resolve_path("out/labelled_drift.json", params))
    labelled.unpersist()  # its last consumer has run

    # --- stage s3: read_csv trips (`trips` (read_csv trips, line 6) is cached)
    outputs.events.stage("s3")
    trips = numbered(
        read_table(
            spark,
            "trips",
            "csv",
            resolve_path("${data}/trips.csv", params),
            TRIPS_SCHEMA,
            columns=["id", "start", "rider", "minutes", "distance", "fare", "returned"],
        ),
    )
    trips = trips.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s4: split early, split late, drift, expect, write_json (it writes
    #     out/trip_drift.json)
    outputs.events.stage("s4")
    early = split_rows(trips, 0.5, 3, part=0, by="id")
    late = split_rows(trips, 0.5, 3, part=1, by="id")
    sink1__1_expect = drift(
        late,
        early,
        [
                ("minutes", True),
                ("distance", True),
                ("fare", True),
                ("start", False),
                ("rider", False),
                ("returned", False),
            ],
        "drift at tests/backends/conformance/pipelines/monitoring.pipe:9:10",
    )
    check_expectations(
        sink1__1_expect,
        [
            Expectation("max_psi < 100.0", F.col("max_psi") < 100.0, [("max_psi", F.col("max_psi"))]),
            Expectation("max_ks <= 1.0", F.col("max_ks") <= 1.0, [("max_ks", F.col("max_ks"))]),
        ],
        spark,
    )
    outputs.write_metrics(sink1__1_expect, "json", resolve_path("out/trip_drift.json", params))
    trips.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("monitoring", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
