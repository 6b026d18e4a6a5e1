"""The runtime contract's `drift_metrics` (which every backend runs) against an independent numpy /
scipy computation of docs/semantics.md, "Drift", on hand-made and random columns."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from drift_reference import numpy_psi
from pipec.runtime_contract import PipelineRunError, drift_metrics


def test_hand_made_numeric_column():
    reference = list(range(1, 11))            # cut points 1..9: ten bins of one value each
    values = [1, 1, 1, 1, 1, 10, 10, 10, 10, 10]
    metrics = drift_metrics([("x", True, values, reference)], "drift at t.pipe:1:1")
    e = [0.1] * 10
    a = [0.5, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 0.5]
    assert metrics["psi_x"] == pytest.approx(sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e)), rel=1e-12)
    assert metrics["ks_x"] == 0.4  # at x = 1: F_table 0.5, F_reference 0.1
    assert list(metrics) == ["psi_x", "ks_x", "max_psi", "max_ks"]


def test_identical_columns_do_not_drift():
    column = [3.5, 1.0, 2.0, 2.0, 8.0]
    metrics = drift_metrics([("x", True, column, column), ("c", False, ["a", "b"], ["b", "a"])], "w")
    assert metrics == {"psi_x": 0.0, "ks_x": 0.0, "psi_c": 0.0, "max_psi": 0.0, "max_ks": 0.0}


def test_hand_made_categorical_column_counts_values_either_side_holds():
    metrics = drift_metrics([("c", False, ["a", "a", "c"], ["a", "b"])], "w")
    e, a = [0.5, 0.5, 1e-4], [2 / 3, 1e-4, 1 / 3]
    assert metrics["psi_c"] == pytest.approx(sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e)), rel=1e-12)
    assert list(metrics) == ["psi_c", "max_psi"]  # no numeric column: no ks


@pytest.mark.parametrize("seed", range(40))
def test_random_columns_equal_numpy_and_scipy(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 400))
    floats = rng.normal(0, 1, n).round(int(rng.integers(0, 4))), rng.normal(0.2, 1.3, m).round(2)
    ints = rng.integers(0, 12, n), rng.integers(0, 15, m)
    words = rng.choice(["x", "y", "z"], n), rng.choice(["x", "y", "w"], m)
    bools = rng.random(n) < 0.3, rng.random(m) < 0.6
    columns = [("f", True, floats[1].tolist(), floats[0].tolist()), ("i", True, ints[1].tolist(), ints[0].tolist()),
               ("s", False, words[1].tolist(), words[0].tolist()), ("b", False, bools[1].tolist(), bools[0].tolist())]
    metrics = drift_metrics(columns, "w")
    for name, numeric, values, reference in columns:
        assert metrics[f"psi_{name}"] == pytest.approx(numpy_psi(values, reference, numeric), rel=1e-12, abs=1e-15)
        if numeric:  # scipy's exact mode (both sides up to 10,000 values): equal to the bit
            assert metrics[f"ks_{name}"] == stats.ks_2samp(values, reference).statistic
    assert metrics["max_psi"] == max(metrics[f"psi_{c}"] for c in "fisb")
    assert metrics["max_ks"] == max(metrics["ks_f"], metrics["ks_i"])


def test_a_column_without_values_is_a_located_error():
    with pytest.raises(PipelineRunError, match=r"drift at t.pipe:3:5: column `x` has no non-null value in the reference"):
        drift_metrics([("x", True, [1.0], [])], "drift at t.pipe:3:5")
