"""The seeded tables, the pipeline over them and the independent expectations that the tests of
the PostgreSQL steps share on every backend."""
from __future__ import annotations

import datetime as dt
import uuid

ROLE, PASSWORD = "pipec_tester", "Sup3r-" + uuid.uuid4().hex[:10]  # a secret no file may show

FLIGHTS = [  # id, carrier, dep_delay, day, departed (inserted out of key order on purpose)
    (3, "UA", 5.5, dt.date(2013, 1, 2), dt.datetime(2013, 1, 2, 8, 0, tzinfo=dt.timezone.utc)),
    (1, "AA", 10.0, dt.date(2013, 1, 1), dt.datetime(2013, 1, 1, 6, 30, tzinfo=dt.timezone.utc)),
    (2, "AA", None, dt.date(2013, 1, 1), dt.datetime(2013, 1, 1, 7, 15, tzinfo=dt.timezone.utc)),
    (5, "B6", -3.0, dt.date(2013, 1, 3), dt.datetime(2013, 1, 3, 9, 45, tzinfo=dt.timezone.utc)),
    (4, "DL", 1.25, dt.date(2013, 1, 3), dt.datetime(2013, 1, 3, 5, 5, tzinfo=dt.timezone.utc)),
    (6, "UA", 20.0, dt.date(2013, 1, 4), dt.datetime(2013, 1, 4, 11, 0, tzinfo=dt.timezone.utc)),
]
AIRLINES = [("AA", "American"), ("UA", "United"), ("DL", "Delta"), ("B6", "JetBlue")]
RATES_CSV = "carrier,rate\nAA,1.5\nUA,2.0\nDL,0.5\n"

SCHEMAS = '''
schema Flight { id: int, carrier: str, dep_delay: float?, day: date, departed: timestamp }
'''
PIPELINE = SCHEMAS + '''
pipeline pg_report() {
  param rates_path: str = "rates.csv"
  flights = read_table("flights", schema=Flight, connection="warehouse", key=[id])
  names = read_query("select code, name from airlines order by code", schema={code: str, name: str},
                     connection="warehouse")
  rates = read_csv("${rates_path}", schema={carrier: str, rate: float})
  report = flights
    | join(names, on=[carrier == code], how="left")
    | join(rates, on=[carrier], how="left")
    | aggregate(by=[carrier, name], flights=count(), total_delay=sum(dep_delay), rate=max(rate))
  report | write_table("report", connection="warehouse", mode="replace", key=[carrier])
  flights | write_csv("out/flights.csv")
}
'''


def seed(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE flights (id bigint PRIMARY KEY, carrier text NOT NULL, dep_delay double precision, "
                     "day date NOT NULL, departed timestamptz NOT NULL)")
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO flights VALUES (%s, %s, %s, %s, %s)", FLIGHTS)
            conn.execute("CREATE TABLE airlines (code text, name text)")
            cursor.executemany("INSERT INTO airlines VALUES (%s, %s)", AIRLINES)


def rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def expected_report() -> list[tuple]:
    """The report computed independently with pandas from the seeded rows."""
    import io

    import pandas as pd

    flights = pd.DataFrame(FLIGHTS, columns=["id", "carrier", "dep_delay", "day", "departed"])
    names = pd.DataFrame(AIRLINES, columns=["code", "name"])
    rates = pd.read_csv(io.StringIO(RATES_CSV))
    joined = flights.merge(names, left_on="carrier", right_on="code", how="left").merge(rates, on="carrier", how="left")
    grouped = joined.groupby(["carrier", "name"], sort=True).agg(
        flights=("id", "count"), total_delay=("dep_delay", "sum"), rate=("rate", "max")).reset_index()
    return [(r.carrier, r.name, int(r.flights), float(r.total_delay), None if pd.isna(r.rate) else float(r.rate))
            for r in grouped.itertuples()]



def no_secret_in(folder, *texts: str) -> list[str]:
    """Where the password appears: files under `folder` and the given texts."""
    found = [str(p) for p in folder.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    return found + [t[:200] for t in texts if PASSWORD in t]

