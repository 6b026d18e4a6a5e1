# ============================================================ pipeline clusters
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


SINK1__1_SELECT_SCHEMA = [
    ("id", "int", False),
    ("prediction", "int", False),
]


def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:
    """The steps of `clusters`, in dependency order; sinks are staged in `outputs`."""
    # --- stage s1: read_csv rows (`rows` (read_csv rows, line 37) is cached)
    outputs.events.stage("s1")
    rows = numbered(
        read_table(
            spark,
            "rows",
            "csv",
            resolve_path("${data}/labelled.csv", params),
            ROWS_SCHEMA,
            columns=["id", "cluster_x", "cluster_y"],
        ),
    )
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)

    # --- stage s2: fit model (`model` (fit model, line 38) trains a model, which later steps use)
    outputs.events.stage("s2")
    model = fit_model(
        in_order(rows),
        "kmeans",
        {"k": 3, "seed": 4},
        kind="clusterer",
        features=[("cluster_x", "float", False), ("cluster_y", "float", False)],
    )

    # --- stage s3: predict, select, write_csv (it writes out/clusters.csv)
    outputs.events.stage("s3")
    sink1__1_select = predict(rows, model).select("id", "prediction", ORDER)
    outputs.write_table(
        sink1__1_select,
        "csv",
        resolve_path("out/clusters.csv", params),
        SINK1__1_SELECT_SCHEMA,
    )
    rows.unpersist()  # its last consumer has run


def main(argv: list[str] | None = None) -> int:
    return run_job("clusters", PARAMS, pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
