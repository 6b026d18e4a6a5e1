"""The estimators `fit` accepts: their model kind and their hyper-parameters with defaults."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hyper:
    """A hyper-parameter; its smallest sensible value is the runtime contract's
    `HYPERPARAMETER_MINIMUMS` entry for its name, which the checker and the runtimes share."""

    type: str  # "int" or "float"
    default: int | float | None  # None: required


@dataclass(frozen=True)
class Estimator:
    name: str
    kind: str  # classifier | regressor | clusterer
    params: dict[str, Hyper]


_TREES = {"n_trees": Hyper("int", 100), "max_depth": Hyper("int", 5), "seed": Hyper("int", 0)}

ESTIMATORS: dict[str, Estimator] = {e.name: e for e in [
    Estimator("logistic_regression", "classifier",
              {"max_iter": Hyper("int", 100), "reg": Hyper("float", 0.0)}),
    Estimator("random_forest_classifier", "classifier", _TREES),
    Estimator("gradient_boosted_classifier", "classifier",
              {"n_iter": Hyper("int", 50), "max_depth": Hyper("int", 3), "seed": Hyper("int", 0)}),
    Estimator("linear_regression", "regressor", {"reg": Hyper("float", 0.0)}),
    Estimator("random_forest_regressor", "regressor", _TREES),
    Estimator("kmeans", "clusterer", {"k": Hyper("int", None), "seed": Hyper("int", 0)}),
]}

CLASSIFIER_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSOR_METRICS = ("rmse", "mae", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})  # `tune` keeps the candidate with the least
