"""bench/pipelines/route_report.pipe written by hand with pandas, for bench/bench_local.py.

Usage: python route_report_pandas.py DATA_DIR OUT_DIR
"""
import sys
from pathlib import Path

import pandas as pd

data, out = Path(sys.argv[1]), Path(sys.argv[2])

flights = pd.read_csv(data / "flights.csv", usecols=[
    "year", "month", "dep_delay", "arr_delay", "carrier", "tailnum", "origin", "dest",
    "air_time", "distance"])
airlines = pd.read_csv(data / "airlines.csv").rename(columns={"name": "carrier_name"})
airports = pd.read_csv(data / "airports.csv", usecols=["faa", "name"]).rename(columns={"name": "dest_name"})
planes = pd.read_csv(data / "planes.csv", usecols=["tailnum", "year", "seats"]).rename(columns={"year": "built"})

df = flights[flights["arr_delay"].notna() & flights["air_time"].notna()]
df = df.merge(airlines, on="carrier")
df = df.merge(airports, left_on="dest", right_on="faa", how="left").drop(columns="faa")
df = df.merge(planes, on="tailnum", how="left")
df["route"] = df["origin"] + "-" + df["dest"]
df["late"] = (df["arr_delay"] > 15).astype(float)
df["speed"] = df["distance"] / df["air_time"] * 60
df["plane_age"] = df["year"] - df["built"]

routes = (
    df.groupby(["route", "carrier", "carrier_name", "dest_name", "year", "month"], dropna=False)
    .agg(
        n_flights=("arr_delay", "size"),
        late_rate=("late", "mean"),
        mean_arr_delay=("arr_delay", "mean"),
        median_arr_delay=("arr_delay", "median"),
        max_dep_delay=("dep_delay", "max"),
        mean_speed=("speed", "mean"),
        mean_plane_age=("plane_age", "mean"),
        seats=("seats", "sum"),
        known_planes=("seats", "count"),
    )
    .reset_index()
)
# a group without any known plane has no seat total (pandas' sum would say 0)
routes["seats"] = routes["seats"].where(routes.pop("known_planes") > 0)
routes = routes[routes["n_flights"] >= 5].sort_values(["route", "carrier", "year", "month"])

out.mkdir(parents=True, exist_ok=True)
routes.to_csv(out / "routes.csv", index=False)
