# ============================================================ pipeline score_delays
# Params: name -> (type, default). Override with --param name=value.
PARAMS = {
    "data_dir": ("str", "data/nycflights13"),
    "model_dir": ("str", "out/tune_delays/model"),
    "out_dir": ("str", "out/score_delays"),
    "month": ("int", 2),
    "max_psi": ("float", 0.2),
}


FLIGHTS__0_READ_CSV_SCHEMA = [
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


SINK2__1_DROP_SCHEMA = [
    ("year", "int", False),
    ("month", "int", False),
    ("day", "int", False),
    ("flight", "int", False),
    ("carrier", "str", False),
    ("origin", "str", False),
    ("dest", "str", False),
    ("sched_dep_time", "int", False),
    ("prediction", "bool", False),
    ("probability", "float", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `score_delays`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv (read_csv flights__0_read_csv (line 14) is cached)
    outputs.events.stage("s1")
    flights__0_read_csv = numbered(
        read_table(
            spark,
            "flights__0_read_csv",
            "csv",
            resolve_path("${data_dir}/flights.csv", params),
            FLIGHTS__0_READ_CSV_SCHEMA,
            null_values=["NA"],
            columns=["year", "month", "day", "sched_dep_time", "arr_delay", "carrier", "flight", "origin", "dest", "distance", "hour"],
        ),
    )
    flights__0_read_csv = flights__0_read_csv.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: derive flights, load_model model, filter, select scheduled, predict, drop,
    #     write_csv, filter, select training, drift drift_report, expect, write_json (it writes
    #     ${out_dir}/scored.csv; it writes ${out_dir}/drift.json)
    outputs.events.stage("s2")
    flights = (
        flights__0_read_csv
        .withColumns({"log_distance": ieee_ln(F.col("distance")), "dep_hour": F.col("hour")})
    )
    model = load_saved_model(
        resolve_path("${model_dir}", params),
        {
            "kind": "classifier",
            "features": [
                ["carrier", "str"],
                ["dep_hour", "int"],
                ["log_distance", "float"],
                ["origin", "str"],
            ],
            "label": ["late", "bool"],
        },
        "load_model at examples/flights/score_delays.pipe:26:11",
    )
    scheduled = (
        flights
        .filter(F.col("month") == F.lit(params["month"]))
        .select(
            "year",
            "month",
            "day",
            "flight",
            "carrier",
            "origin",
            "dest",
            "sched_dep_time",
            "log_distance",
            "dep_hour",
            ORDER,
        )
    )
    sink2__1_drop = predict(scheduled, model).drop("log_distance", "dep_hour")
    outputs.write_table(
        sink2__1_drop,
        "csv",
        resolve_path("${out_dir}/scored.csv", params),
        SINK2__1_DROP_SCHEMA,
    )
    training = (
        flights
        .filter(F.col("arr_delay").isNotNull() & (F.col("month") == 1))
        .select("carrier", "origin", "log_distance", "dep_hour", ORDER)
    )
    sink1__0_expect = drift(
        scheduled,
        training,
        [
                ("carrier", False),
                ("origin", False),
                ("log_distance", True),
                ("dep_hour", True),
            ],
        "drift at examples/flights/score_delays.pipe:31:30",
    )
    check_expectations(
        sink1__0_expect,
        [
            Expectation(
                "max_psi < $max_psi",
                F.col("max_psi") < F.lit(params["max_psi"]),
                [("max_psi", F.col("max_psi"))],
            ),
        ],
        spark,
    )
    outputs.write_metrics(sink1__0_expect, "json", resolve_path("${out_dir}/drift.json", params))
    flights__0_read_csv.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("score_delays", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
