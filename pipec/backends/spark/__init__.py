"""The Spark backend: plans compiled to standalone PySpark jobs (see codegen.py and runtime.py).

Planning: a shuffle ends a stage, a `python` step runs as pandas code outside Spark SQL, and MLlib
estimators scan their input once per iteration.
"""
from pipec.backends.base import backend_on_demand
from pipec.backends.capabilities import Capabilities

CAPABILITIES = Capabilities(
    name="spark",
    engine="spark",
    shuffle_ends_stage=True,
    user_code_runs_apart="runs as pandas code",
    fit_passes={
        "logistic_regression": ("max_iter", 100),
        "gradient_boosted_classifier": ("n_iter", 50),
        "random_forest_classifier": ("max_depth", 5),  # one pass per tree level
        "random_forest_regressor": ("max_depth", 5),
        "kmeans": 20,  # MLlib's default maxIter
        "linear_regression": 1,  # the normal-equation solver
    },
)

__getattr__ = backend_on_demand("pipec.backends.spark.backend", frozenset({"BACKEND", "SparkBackend", "run_job"}))
