"""optimize(): levels, flags and invariants; recorded statistics; the explain snapshot."""
from __future__ import annotations

import pytest
from optimizer_helpers import SCHEMAS, checked

from pipec.compiler.check import check_source
from pipec.compiler.explain import explain_json, explain_text
from pipec.compiler.passes import PASS_NAMES, optimize
from pipec.compiler.passes.fingerprint import structural_hashes
from pipec.compiler.passes.invariants import OptimizerInvariantError, check_ir
from pipec.compiler.stats import Statistics, record

BODY = """
  t = read_csv("missing/t.csv", schema=T)
  unused = t | limit(1)
  big = t | filter(c == "k") | derive(y = x * 2.0) | filter(a > 1)
  big | write_csv("a.csv")
  big | aggregate(by=[c], n = count()) | write_csv("b.csv")
"""


def test_level_zero_is_the_unoptimised_plan_of_what_reaches_a_sink():
    plan = optimize(checked(BODY), level=0)
    assert len(plan.stages) == 7 and not plan.cached and plan.statistics == "none"
    assert "unused" not in plan.ir  # never computed at any level, so that no level fails on it alone


def test_unknown_pass_names_are_a_value_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown optimizer pass nope; known passes: cse, predicate"):
        optimize(checked(BODY), disable={"nope"})


def test_disabled_passes_do_not_run():
    plan = optimize(checked(BODY), disable=set(PASS_NAMES))
    assert not plan.cached and len(plan.stages) == 7 and plan.ir.node("big").step == "filter"


def test_a_pass_that_changes_what_a_sink_sees_is_an_internal_error_naming_it():
    before = checked(BODY)
    after = before.copy()
    after.remove("big__0_filter")
    with pytest.raises(OptimizerInvariantError, match="pass `broken`: node big__1_derive reads missing"):
        check_ir("broken", before, after)
    after = before.copy()
    after.redirect("big", "t")
    with pytest.raises(OptimizerInvariantError, match="sink sink1_write_csv now receives table<{a: int, b: int"):
        check_ir("broken", before, after)


def test_statistics_survive_an_unrelated_edit(tmp_path):
    ir = checked(BODY)
    plan = optimize(ir, workdir=tmp_path)
    assert plan.statistics == "guessed"
    record(plan, {"big__1_derive": {"rows": 7, "bytes": 70, "seconds": 0.5}}, tmp_path)
    edited = checked("\n\n  other = read_csv(\"o.csv\", schema=U)\n  other | write_csv(\"o2.csv\")\n" + BODY)
    assert structural_hashes(edited)["big__1_derive"] == structural_hashes(ir)["big__1_derive"]
    assert edited.node("big").span != ir.node("big").span
    replanned = optimize(edited, workdir=tmp_path)
    assert replanned.statistics == "recorded"
    assert Statistics.load("p", tmp_path).nodes[structural_hashes(replanned.ir)["big__1_derive"]].rows == 7


def test_a_changed_step_does_not_reuse_old_statistics(tmp_path):
    plan = optimize(checked(BODY), workdir=tmp_path)
    record(plan, {"big__1_derive": {"rows": 7, "bytes": 70}}, tmp_path)
    changed = optimize(checked(BODY.replace("a > 1", "a > 2")), workdir=tmp_path)
    assert changed.statistics == "guessed"


EXPECTED_EXPLAIN = """\
pipeline p: 6 nodes in 2 stages, 1 cached; estimates guessed from source sizes and per-step rates (no recorded statistics)

stage s1: ends because `big` (derive big__1_derive, line 9) is cached; it writes a.csv
  line 7    read_csv       t
  line 9    filter         big__0_filter
  line 9    derive         big  [cached]
  line 10   write_csv      sink1_write_csv

stage s2: ends because it writes b.csv
  line 11   aggregate      sink2__0_aggregate
  line 11   write_csv      sink2_write_csv

cached
  `big` (derive big__1_derive, line 9): saves 0.00275 s, 1.3 MB, computed 2 times without caching

sources
  `t` (read_csv t, line 7) missing/t.csv: reads all 4 columns
    filter while scanning: c == "k" and a > 1

optimizer passes
  prune: removed `unused` (limit unused, line 8): it reaches no sink
  predicate_pushdown: moved `a > 1` of `big` (filter big, line 9) below derive big__1_derive (line 9)
  predicate_pushdown: merged filter big (line 9) into filter big__0_filter (line 9)
  predicate_pushdown: filter `c == "k" and a > 1` now reads `t` (read_csv t, line 7) directly, so the reader can apply it while scanning
  cache_placement: cached `big` (derive big__1_derive, line 9): computed 2 times without caching; saves 0.00275 s for 1.3 MB
  fusion: fused 6 nodes into 2 stages for local
"""


def test_explain_snapshot():
    plan = optimize(checked(BODY), memory_budget=10**9)
    assert explain_text(plan) == EXPECTED_EXPLAIN
    facts = explain_json(plan)
    assert facts["cached"][0]["binding"] == "big" and facts["sources"][0]["filters"] == ['c == "k" and a > 1']
