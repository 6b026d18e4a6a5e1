"""On the local backend a cached node is computed once and reused by all its readers; without
caching every reader computes it again. Counted through polars itself: each collected query that
contains the join computes the joined table once."""
from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_source
from pipec.compiler.passes import optimize

SOURCE = """
pipeline reuse() {
  orders = read_csv("orders.csv", schema={id: int, customer: int, amount: float})
  customers = read_csv("customers.csv", schema={customer: int, region: str})
  joined = orders | join(customers, on=[customer]) | derive(big = amount > 50.0)
  joined | aggregate(by=[region], total=sum(amount)) | sort(region) | write_csv("out/by_region.csv")
  joined | filter(big) | select(id, region) | sort(id) | write_csv("out/big.csv")
  joined | aggregate(n=count()) | write_csv("out/count.csv")
}
"""


@pytest.fixture
def workdir(tmp_path):
    orders = pd.DataFrame({"id": range(40), "customer": [i % 5 for i in range(40)],
                           "amount": [float(i * 7 % 90) for i in range(40)]})
    customers = pd.DataFrame({"customer": range(4), "region": ["north", "south", "north", "east"]})
    orders.to_csv(tmp_path / "orders.csv", index=False)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    joined = orders.merge(customers, on="customer")
    return tmp_path, joined


@pytest.fixture
def join_count(monkeypatch):
    """How many collected polars queries computed a join."""
    counted = []
    collect = pl.LazyFrame.collect

    def counting(self, *args, **kwargs):
        counted.append("JOIN" in self.explain(optimized=False))
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", counting)
    return lambda: sum(counted)


@pytest.mark.parametrize("cached, joins", [(True, 1), (False, 3)], ids=["cached", "recomputed"])
def test_a_cached_table_is_computed_once_for_all_its_readers(workdir, join_count, cached, joins):
    workdir, joined = workdir
    (ir,) = check_source(SOURCE, str(workdir / "reuse.pipe")).pipelines.values()
    plan = optimize(ir, workdir=workdir, disable=set() if cached else {"cache_placement"})
    joined_id = next(n.id for n in plan.ir.nodes() if n.binding == "joined")
    assert (joined_id in plan.cached_nodes) is cached
    result = run_plan(plan, {}, workdir)
    assert join_count() == joins
    assert (joined_id in result.node_stats) is cached  # materialised, with its rows
    if cached:
        assert result.node_stats[joined_id]["rows"] == len(joined)
    by_region = joined.groupby("region", as_index=False).amount.sum().rename(columns={"amount": "total"})
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "out/by_region.csv"), by_region)
    big = joined[joined.amount > 50.0][["id", "region"]].sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "out/big.csv"), big)
    assert pd.read_csv(workdir / "out/count.csv").n.tolist() == [len(joined)]
