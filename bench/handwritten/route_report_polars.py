"""bench/pipelines/route_report.pipe written by hand with polars (lazy), for bench/bench_local.py.

Usage: python route_report_polars.py DATA_DIR OUT_DIR
"""
import sys
from pathlib import Path

import polars as pl

data, out = Path(sys.argv[1]), Path(sys.argv[2])

flights = pl.scan_csv(data / "flights.csv", null_values="NA", schema_overrides={
    "year": pl.Int64, "month": pl.Int64, "dep_delay": pl.Int64, "arr_delay": pl.Int64,
    "carrier": pl.String, "tailnum": pl.String, "origin": pl.String, "dest": pl.String,
    "air_time": pl.Int64, "distance": pl.Int64})
airlines = pl.scan_csv(data / "airlines.csv").rename({"name": "carrier_name"})
airports = pl.scan_csv(data / "airports.csv").select("faa", dest_name="name")
planes = pl.scan_csv(data / "planes.csv", null_values="NA").select("tailnum", "seats", built="year")

routes = (
    flights
    .filter(pl.col("arr_delay").is_not_null() & pl.col("air_time").is_not_null())
    .join(airlines, on="carrier")
    .join(airports, left_on="dest", right_on="faa", how="left")
    .join(planes, on="tailnum", how="left")
    .with_columns(
        route=pl.concat_str("origin", pl.lit("-"), "dest"),
        late=pl.col("arr_delay") > 15,
        speed=pl.col("distance") / pl.col("air_time") * 60,
        plane_age=pl.col("year") - pl.col("built"),
    )
    .group_by("route", "carrier", "carrier_name", "dest_name", "year", "month")
    .agg(
        n_flights=pl.len(),
        late_rate=pl.col("late").mean(),
        mean_arr_delay=pl.col("arr_delay").mean(),
        median_arr_delay=pl.col("arr_delay").median(),
        max_dep_delay=pl.col("dep_delay").max(),
        mean_speed=pl.col("speed").mean(),
        mean_plane_age=pl.col("plane_age").mean(),
        # a group without any known plane has no seat total (polars' sum would say 0)
        seats=pl.when(pl.col("seats").count() > 0).then(pl.col("seats").sum()),
    )
    .filter(pl.col("n_flights") >= 5)
    .sort("route", "carrier", "year", "month")
    .collect()
)

out.mkdir(parents=True, exist_ok=True)
routes.write_csv(out / "routes.csv")
