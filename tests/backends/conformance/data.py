"""Deterministic test data for the cross-backend suite, written as CSV files.

Small on purpose (every backend runs every pipeline) but with what breaks backends: nulls in
every nullable column, negative numbers, ties, empty strings, leap days, timestamps near midnight.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

STATIONS = [  # code, name, zone (null for one), elevation
    ("AAA", "Alpha", 1, 12.5), ("BBB", "Bravo", 1, -3.0), ("CCC", "Charlie", 2, 140.25),
    ("DDD", "Delta", None, 0.0), ("EEE", "Echo", 3, 55.5),
]


def _trip(i: int) -> dict[str, object]:
    start = ["AAA", "BBB", "CCC", "DDD", "EEE", "ZZZ"][i % 6]  # ZZZ has no station row
    end = ["BBB", "CCC", "AAA", "EEE"][(i * 7) % 4]
    minutes = (i * 37) % 180 - 20  # negative for a few
    distance = round(0.5 + ((i * 53) % 97) / 7.0, 3)
    day = 1 + (i * 11) % 28
    month = 1 + (i * 5) % 12
    return {
        "id": i,
        "start": start,
        "end": end,
        "rider": ["member", "casual", "Member ", ""][i % 4],
        "minutes": minutes if i % 13 else "",  # null every 13th
        "distance": distance if i % 17 else "",
        "fare": round(1.25 + distance * 0.8 + (i % 5) * 0.25, 2),
        "day": f"2024-{month:02d}-{day:02d}" if i % 19 else "2024-02-29",
        "started_at": f"2024-{month:02d}-{day:02d}T{(i * 5) % 24:02d}:{(i * 13) % 60:02d}:00Z",
        "returned": ("true" if i % 3 else "false") if i % 23 else "",
    }


def _labelled(i: int) -> dict[str, object]:
    """A binary classification / regression set with a clear but noisy signal."""
    x1 = math.sin(i * 0.7) * 3 + (i % 7) * 0.1
    x2 = math.cos(i * 1.3) * 2 - (i % 5) * 0.2
    group = ["north", "south", "east"][i % 3]
    score = 1.5 * x1 - 2.0 * x2 + {"north": 0.5, "south": -0.5, "east": 0.0}[group] + math.sin(i * 12.9898) * 0.8
    return {"id": i, "x1": round(x1, 6), "x2": round(x2, 6), "group": group, "flag": "true" if i % 4 == 0 else "false",
            "label": "true" if score > 0 else "false", "target": round(score * 10 + 3, 6),
            "cluster_x": round([0.0, 10.0, 20.0][i % 3] + math.sin(i) * 0.5, 6),
            "cluster_y": round([0.0, 10.0, -10.0][i % 3] + math.cos(i) * 0.5, 6)}


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_all(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "trips.csv", [_trip(i) for i in range(240)])
    with (folder / "stations.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "name", "zone", "elevation"])
        w.writerows([(c, n, "" if z is None else z, e) for c, n, z, e in STATIONS])
    _write(folder / "labelled.csv", [_labelled(i) for i in range(400)])
    _write_other_formats(folder)
    _write_partitioned(folder / "trips_by_start", [_trip(i) for i in range(240)])
    return folder


def _write_partitioned(folder: Path, rows: list[dict[str, object]]) -> None:
    """The trips as a Hive-style dataset partitioned by `start`, two files per partition."""
    for row in rows:
        partition = folder / f"start={row['start']}"
        partition.mkdir(parents=True, exist_ok=True)
        file = partition / ("b.csv" if row["id"] % 2 else "a.csv")
        fields = {k: v for k, v in row.items() if k != "start"}
        new = not file.exists()
        with file.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(fields))
            if new:
                writer.writeheader()
            writer.writerow(fields)


def _write_other_formats(folder: Path) -> None:
    """The stations as Parquet and JSON lines, typed, for the other two readers."""
    import polars as pl

    stations = pl.DataFrame([{"code": c, "name": n, "zone": z, "elevation": e} for c, n, z, e in STATIONS],
                            schema={"code": pl.String, "name": pl.String, "zone": pl.Int64, "elevation": pl.Float64})
    stations.write_parquet(folder / "stations.parquet")
    stations.write_ndjson(folder / "stations.jsonl")
