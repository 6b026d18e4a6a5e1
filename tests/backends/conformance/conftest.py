"""Fixtures of the cross-backend suite: the data, and one cached run per (backend, pipeline)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402  (the suite's own data module)

PIPELINES = HERE / "pipelines"
# (file, pipeline) pairs that together use every step, expression function and estimator.
CASES = [("relational.pipe", "relational"), ("expressions.pipe", "expressions"),
         ("io.pipe", "io"), ("models.pipe", "classifiers"), ("models.pipe", "regressors"), ("models.pipe", "clusters"),
         ("models.pipe", "multiclass"), ("models.pipe", "tuned"), ("monitoring.pipe", "monitoring"),
         ("partitioned.pipe", "partitioned")]


@pytest.fixture(scope="session")
def conformance_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("conformance")
    data.write_all(root / "data")
    return root


class Runs:
    """Runs each (backend, pipeline) once per session, in its own working directory."""

    def __init__(self, root: Path, runners: dict):
        self.root = root
        self.runners = runners
        self.done: dict[tuple[str, str, str], Path] = {}

    def workdir(self, backend: str, file: str, pipeline: str) -> Path:
        key = (backend, file, pipeline)
        if key not in self.done:
            workdir = self.root / backend / pipeline
            workdir.mkdir(parents=True)
            shutil.copytree(self.root / "data", workdir / "data")
            shutil.copy(HERE / "conformance_udf.py", workdir)  # `python` steps import from the workdir
            self.runners[backend](PIPELINES / file, pipeline, workdir)
            self.done[key] = workdir
        return self.done[key]
