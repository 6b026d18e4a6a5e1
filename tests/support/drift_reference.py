"""An independent numpy / scipy computation of `drift` (docs/semantics.md, "Drift"), which the
tests compare every backend's numbers with."""
from __future__ import annotations

import numpy as np
from scipy import stats


def numpy_psi(values, reference, numeric: bool) -> float:
    """PSI with the stated binning: the reference's `method="lower"` deciles as right-closed cut
    points for numbers, one bin per value for categories, empty shares counted as 1e-4."""
    values, reference = np.asarray(values), np.asarray(reference)
    if numeric:
        cuts = np.unique(np.quantile(reference, np.arange(1, 10) / 10, method="lower"))
        e = np.bincount(np.searchsorted(cuts, reference, side="left"), minlength=len(cuts) + 1)
        a = np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1)
    else:
        categories = np.unique(np.concatenate([values, reference]))
        e = np.array([(reference == c).sum() for c in categories])
        a = np.array([(values == c).sum() for c in categories])
    e, a = e / e.sum(), a / a.sum()
    e, a = np.where(e == 0, 1e-4, e), np.where(a == 0, 1e-4, a)
    return float(np.sum((a - e) * np.log(a / e)))


def expected_drift(columns: dict[str, tuple[list, list, bool]]) -> dict[str, float]:
    """The metrics of `drift` for {name: (table values, reference values, numeric)}, nulls dropped."""
    metrics = {}
    for name, (values, reference, numeric) in columns.items():
        values = [v for v in values if v is not None]
        reference = [v for v in reference if v is not None]
        metrics[f"psi_{name}"] = numpy_psi(values, reference, numeric)
        if numeric:
            metrics[f"ks_{name}"] = float(stats.ks_2samp(values, reference).statistic)
    metrics["max_psi"] = max(v for k, v in metrics.items() if k.startswith("psi_"))
    if any(numeric for _, _, numeric in columns.values()):
        metrics["max_ks"] = max(v for k, v in metrics.items() if k.startswith("ks_"))
    return metrics
