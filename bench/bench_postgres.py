"""PostgreSQL through pipec's local backend against a throwaway server: a table of N rows read
(`read_table` -> Parquet), and written back (`write_table` replace: ADBC COPY into a staged
table, then the commit transaction), against a hand-written psycopg `COPY ... TO STDOUT` read
into pandas as the row-by-row baseline.

    .venv/bin/python bench/bench_postgres.py --rows 1000000
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

PIPELINE = '''
pipeline bench_pg() {
  flights = read_table("flights", schema={id: int, carrier: str, dep_delay: float?, day: date},
                       connection="bench", key=[id])
  flights | write_parquet("out/flights.parquet")
  flights | write_table("flights_copy", connection="bench", mode="replace", key=[id])
}
'''


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    import psycopg
    from postgres import PostgresServer

    server = PostgresServer().start()
    try:
        url = server.create_database("bench")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE flights (id bigint PRIMARY KEY, carrier text NOT NULL, "
                         "dep_delay double precision, day date NOT NULL)")
            conn.execute(f"INSERT INTO flights SELECT g, (ARRAY['AA','UA','DL','B6'])[1 + g % 4], "
                         f"CASE WHEN g % 10 = 0 THEN NULL ELSE (g % 97) - 20.5 END, "
                         f"DATE '2013-01-01' + (g % 365) FROM generate_series(1, {rows}) AS g")
        work = Path(tempfile.mkdtemp(prefix="pipec-bench-pg-"))
        (work / "p.pipe").write_text(PIPELINE)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PIPEC_CONN_BENCH": url}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pipec.cli", "run", "p.pipe"], cwd=work, env=env,
                              capture_output=True, text=True)
        pipec_seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        started = time.perf_counter()
        import io

        import pandas as pd

        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            buffer = io.BytesIO()
            with cursor.copy("COPY (SELECT * FROM flights ORDER BY id) TO STDOUT WITH CSV HEADER") as copy:
                for chunk in copy:
                    buffer.write(chunk)
        frame = pd.read_csv(io.BytesIO(buffer.getvalue()))
        baseline = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            copied = conn.execute("SELECT count(*) FROM flights_copy").fetchone()[0]
        print(f"rows: {rows}, copied: {copied}, baseline frame rows: {len(frame)}")
        print(f"pipec run (process start, check, read, parquet + table write, commit): {pipec_seconds:.2f} s")
        print(f"psycopg COPY -> pandas read alone: {baseline:.2f} s")
        print(done.stdout)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
