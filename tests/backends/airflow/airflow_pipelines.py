"""The `.pipe` programs the Airflow tests compile, and the small data they run on."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SCHEMAS = """
schema Sale { id: int, region: str, amount: float?, units: int, returned: bool }
schema Region { region: str, manager: str }
"""

# Every param type and every orchestration option, two sources, a join, an aggregate, a split
# by a column (so pandas can reproduce it), a model, metrics and all four kinds of sink.
SALES = SCHEMAS + '''
"""Sales per region, and a classifier of returns."""
pipeline sales(schedule="@weekly", start="2024-01-01", retries=1, retry_delay=30s, timeout=10m,
               owner="data-team", tags=["sales", "ml"]) {
  """Where the CSV files are."""
  param data_dir: str = "data"
  param out_dir: str = "out"
  param min_amount: float = 0.0
  param seed: int = 1
  param day: date = "2024-01-01"
  param window: duration = 1h
  param regions_wanted: list[str] = ["north"]
  param verbose: bool = false

  sales = read_csv("${data_dir}/sales.csv", schema=Sale)
  regions = read_csv("${data_dir}/regions.csv", schema=Region)
  kept = sales
    | filter(amount is not null and amount >= $min_amount)
    | join(regions, on=[region], how="left")
  by_region = kept | aggregate(by=[region, manager], n=count(), total=sum(amount)) | sort(region)
  train, test = kept | split(fraction=0.7, seed=$seed, by=id)
  model = train | fit(logistic_regression(max_iter=200), features=[amount, units], label=returned)
  scored = test | predict(model)
  report = scored | evaluate(label=returned, metrics=["accuracy"])
  by_region | write_csv("${out_dir}/by_region.csv")
  scored | write_parquet("${out_dir}/scored.parquet")
  report | write_json("${out_dir}/metrics.json")
  model | save_model("${out_dir}/model")
}
'''

# The relational part of SALES alone (no model), for the slower Spark engine.
SALES_REPORT = SCHEMAS + '''
pipeline sales() {
  param data_dir: str = "data"
  param out_dir: str = "out"
  param min_amount: float = 0.0

  sales = read_csv("${data_dir}/sales.csv", schema=Sale)
  regions = read_csv("${data_dir}/regions.csv", schema=Region)
  kept = sales
    | filter(amount is not null and amount >= $min_amount)
    | join(regions, on=[region], how="left")
  kept | aggregate(by=[region, manager], n=count(), total=sum(amount)) | sort(region)
    | write_csv("${out_dir}/by_region.csv")
}
'''

REGIONS = pd.DataFrame({"region": ["north", "south", "east"], "manager": ["Ann", "Bob", "Cy"]})


def sales_frame(rows: int = 200, seed: int = 3) -> pd.DataFrame:
    """Sales with a few null amounts, a region without a manager ("west"), and returns that
    depend on amount and units so that the classifier has something to learn."""
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 100, rows).round(2)
    units = rng.integers(1, 10, rows)
    returned = (amount / 100 + units / 10 + rng.normal(0, 0.3, rows)) > 1.0
    ids = rng.choice(1_000_000, rows, replace=False)  # spread out, so that split(by=id) mixes them
    frame = pd.DataFrame({"id": ids, "region": rng.choice(["north", "south", "east", "west"], rows),
                          "amount": amount, "units": units, "returned": returned})
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[frame.index % 17 == 0, "amount"] = None
    return frame


def write_sales_data(data_dir: Path, sales: pd.DataFrame) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    sales.assign(returned=sales["returned"].map({True: "true", False: "false"})).to_csv(
        data_dir / "sales.csv", index=False)
    REGIONS.to_csv(data_dir / "regions.csv", index=False)
