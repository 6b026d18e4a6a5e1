"""Independent stages run at the same time; the schedule changes neither the outputs nor what a
failed run leaves behind; scikit-learn is imported in the background while sources are read."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from local_irkit import plan_for
from pipec.backends.local import runner
from pipec.backends.local.runner import heavy_imports, prefetch_imports, run_plan
from pipec.backends.local.runtime import PipelineRunError

# python steps that only finish when two of them run at the same time, or when another one failed
MEETING = '''
import threading

both_running = threading.Barrier(2, timeout=10)
failed = threading.Event()

def meet(df, side):
    both_running.wait()
    return df

def identity(df, side):
    return df

def wait_for_failure(df):
    if not failed.wait(timeout=10):
        raise RuntimeError("the failing branch never ran")
    return df

def fail(df):
    failed.set()
    raise ValueError("bad branch")
'''

TWO_MODELS = """
schema Row {{ id: int, x: float, z: float, y: float }}
pipeline two_models() {{
  rows = read_csv("rows.csv", schema=Row)
  table = rows | derive(z = z * 1.0)   # read by four steps: cached at -O1, so each branch is its own stage
  left = table | python("{module}:{function}", schema=Row, side="left")
  right = table | python("{module}:{function}", schema=Row, side="right")
  m1 = left | fit(linear_regression(), features=[x], label=y)
  m2 = right | fit(linear_regression(), features=[x, z], label=y)
  table | predict(m1) | sort(id) | write_csv("out/p1.csv")
  table | predict(m2) | sort(id) | write_csv("out/p2.csv")
}}
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A working directory with rows.csv, run with two workers."""
    monkeypatch.setattr(runner, "_cores", lambda: 2)
    rng = np.random.default_rng(3)
    x, z = rng.normal(size=60), rng.normal(size=60)
    pd.DataFrame({"id": range(60), "x": x, "z": z, "y": 2 * x - z + rng.normal(scale=0.1, size=60)}
                 ).to_csv(tmp_path / "rows.csv", index=False)
    return tmp_path


@pytest.fixture
def module(workdir) -> str:
    """A module of MEETING in the working directory, under a fresh name (imports are cached)."""
    name = f"meeting_{uuid.uuid4().hex[:8]}"
    (workdir / f"{name}.py").write_text(MEETING)
    return name


def least_squares(rows: pd.DataFrame, features: list[str]) -> np.ndarray:
    design = np.column_stack([rows[features].to_numpy(), np.ones(len(rows))])
    coefficients, *_ = np.linalg.lstsq(design, rows.y.to_numpy(), rcond=None)
    return design @ coefficients


@pytest.mark.parametrize("optimized", [False, True], ids=["O0", "O1"])
def test_two_fits_from_one_table_run_at_the_same_time(workdir, module, optimized):
    plan = plan_for(TWO_MODELS.format(module=module, function="meet"), workdir, optimized)
    meets = [n.id for n in plan.ir.nodes() if n.step == "python"]
    assert plan.stage_of(meets[0]) != plan.stage_of(meets[1])
    run_plan(plan, {}, workdir)  # each `meet` waits for the other: run one after the other, they time out
    rows = pd.read_csv(workdir / "rows.csv")
    for name, features in [("p1", ["x"]), ("p2", ["x", "z"])]:
        got = pd.read_csv(workdir / "out" / f"{name}.csv")
        np.testing.assert_allclose(got.prediction, least_squares(rows, features), rtol=1e-9, atol=1e-9)


def test_parallel_and_sequential_runs_write_the_same_files(workdir, module, monkeypatch):
    source = TWO_MODELS.format(module=module, function="identity")
    written = {}
    for cores in (1, 2):
        monkeypatch.setattr(runner, "_cores", lambda: cores)
        result = run_plan(plan_for(source, workdir, optimized=True), {}, workdir, use_cache=False)
        written[cores] = ([s.path for s in result.sinks],
                          {p: (workdir / "out" / p).read_bytes() for p in ("p1.csv", "p2.csv")})
    assert written[1] == written[2]
    assert [Path(p).name for p in written[2][0]] == ["p1.csv", "p2.csv"]  # plan order, not finishing order


FAILING = """
schema Row {{ id: int, x: float, z: float, y: float }}
pipeline failing() {{
  rows = read_csv("rows.csv", schema=Row)
  rows | write_csv("out/copy.csv")
  slow = rows | python("{module}:wait_for_failure", schema=Row)
  slow | derive(w = x * 2.0) | write_csv("out/slow.csv")
  rows | python("{module}:fail", schema=Row) | write_csv("out/bad.csv")
}}
"""


def test_a_failing_branch_cancels_the_others_and_leaves_no_output(workdir, module):
    plan = plan_for(FAILING.format(module=module), workdir, optimized=False)
    events = []
    with pytest.raises(PipelineRunError, match="bad branch"):
        run_plan(plan, {}, workdir, on_event=events.append)
    started = {e["stage"] for e in events if e["event"] == "stage_started"}
    after_slow = [plan.stage_of(n.id).id for n in plan.ir.nodes() if n.step in ("derive",)]
    assert after_slow and not started & set(after_slow)  # cancelled: never started
    assert not any(e["event"] == "sink_written" for e in events)
    leftovers = list((workdir / "out").rglob("*")) if (workdir / "out").exists() else []
    assert leftovers == []


PREFETCH_SCRIPT = """
import json, sys, time
sys.path.insert(0, {tests!r})
from local_irkit import plan_for
from pathlib import Path
from pipec.backends.local.runner import run_plan

workdir = Path({workdir!r})
plan = plan_for({source!r}, workdir, optimized=False)
reader = next(plan.stage_of(n.id).id for n in plan.ir.nodes() if n.is_source)
seen = {{"before": "sklearn" in sys.modules}}

def hold_the_read(event):
    # the source stage waits here until scikit-learn is being imported (or 30 s have passed)
    if event["event"] == "stage_started" and event["stage"] == reader:
        deadline = time.monotonic() + 30
        while "sklearn.linear_model" not in sys.modules and time.monotonic() < deadline:
            time.sleep(0.02)
        seen["while_reading"] = "sklearn.linear_model" in sys.modules

run_plan(plan, {{}}, workdir, on_event=hold_the_read)
print(json.dumps(seen))
"""


def test_scikit_learn_is_imported_while_the_sources_are_read(workdir, module):
    source = TWO_MODELS.format(module=module, function="identity")
    script = PREFETCH_SCRIPT.format(tests=str(Path(__file__).parent), workdir=str(workdir), source=source)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"before": False, "while_reading": True}


def test_plans_without_models_import_nothing_in_the_background(workdir, module):
    plan = plan_for(FAILING.format(module=module), workdir, optimized=True)
    assert prefetch_imports(plan.model_copy(update={"ir": _without_python(plan.ir)})) is None
    models = plan_for(TWO_MODELS.format(module=module, function="meet"), workdir, True)
    assert {"sklearn.linear_model", "pandas"} <= set(heavy_imports(models))


def _without_python(ir):
    ir = ir.copy()
    for node in [n for n in ir.nodes() if n.step == "python"]:
        for consumer in ir.consumers(node.id):
            ir.remove(consumer.id)
        ir.remove(node.id)
    return ir
