"""Generated jobs run for real: `python OUT/p.py --param ...` in a subprocess (a JVM start each,
so only a few runs), with a poisoned `pipec` package first on PYTHONPATH to prove the job needs
nothing from pipec. Results are checked against pandas and against the local backend."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from spark_kit import check

from pipec.backends.spark import BACKEND, run_job
from pipec.compiler.plan import unoptimized_plan

SOURCE = """
schema Flight { id: int, carrier: str, origin: str, distance: int, delay: int?, when: timestamp }
schema Airport { code: str, city: str }

pipeline mini(schedule=null) {
  param min_distance: int = 100
  param seed: int = 5
  flights = read_csv("data/flights.csv", schema=Flight, null_values=["NA"])
  airports = read_csv("data/airports.csv", schema=Airport)
  features = flights
    | filter(delay is not null and distance >= $min_distance)
    | join(airports, on=[origin == code], how="left")
    | derive(late = delay > 15, km = distance * 1.609, dow = weekday(when))
  train, test = features | split(fraction=0.7, seed=$seed, by=id)
  model = train | fit(logistic_regression(max_iter=50), features=[km, dow, carrier], label=late)
  scored = test | predict(model)
  report = scored | evaluate(label=late, metrics=["accuracy", "f1"]) | expect(accuracy >= 0.0)
  by_carrier = features | aggregate(by=[carrier, city], n=count(), mean_delay=mean(delay)) | sort(carrier, city)
  tagged = train | python("userfns:tag", schema={id: int, tag: str})
  by_carrier | write_csv("out/by_carrier.csv")
  train | select(id, carrier, late) | sort(id) | write_parquet("out/train.parquet")
  tagged | write_json("out/tagged.json")
  report | write_json("out/report.json")
  model | save_model("out/model")
}
"""
USERFNS = '''
import pandas as pd

def tag(df):
    return pd.DataFrame({"id": df["id"], "tag": "c-" + df["carrier"]})
'''


def flights_csv(rows: int = 80) -> str:
    rng = np.random.default_rng(0)
    lines = ["id,carrier,origin,distance,delay,when"]
    for i in range(rows):
        delay = "NA" if i % 11 == 0 else str(int(rng.integers(-20, 60)))
        when = f"2013-01-{1 + i % 28:02d}" + ("T10:00:00Z" if i % 2 else " 23:30:00")
        lines.append(f"{i},{'AA UA DL'.split()[i % 3]},{'JFK LGA EWR XXX'.split()[i % 4]},"
                     f"{int(rng.integers(50, 2000))},{delay},{when}")
    return "\n".join(lines) + "\n"


AIRPORTS = "code,city\nJFK,New York\nLGA,New York\nEWR,Newark\n"


@pytest.fixture
def job_env(tmp_path):
    """A workdir with data and the user module, the compiled job, and an environment in which
    `import pipec` fails."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "flights.csv").write_text(flights_csv())
    (work / "data" / "airports.csv").write_text(AIRPORTS)
    (work / "userfns.py").write_text(USERFNS)
    poison = tmp_path / "poison" / "pipec"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('a generated job must not import pipec')\n")
    (job,) = BACKEND.compile(unoptimized_plan(check(SOURCE)), tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": f"{poison.parent}{os.pathsep}{work}"}
    return work, job, env


def run(job: Path, params: dict, work: Path, env: dict):
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return run_job(job, params, work)
    finally:
        os.environ.clear()
        os.environ.update(old)


def expected_features(work: Path, min_distance: int) -> pd.DataFrame:
    flights = pd.read_csv(work / "data" / "flights.csv", na_values=["NA"])
    airports = pd.read_csv(work / "data" / "airports.csv")
    kept = flights[flights.delay.notna() & (flights.distance >= min_distance)]
    return kept.merge(airports, left_on="origin", right_on="code", how="left")


def test_job_runs_standalone_with_param_overrides_and_matches_pandas_and_local(job_env, tmp_path):
    work, job, env = job_env
    done = run(job, {"min_distance": 300, "seed": 9}, work, env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = work / "out"
    assert sorted(os.listdir(out)) == ["by_carrier.csv", "model", "report.json", "tagged.json", "train.parquet"]

    features = expected_features(work, 300)
    by_carrier = (features.groupby(["carrier", "city"], dropna=False)
                  .agg(n=("id", "size"), mean_delay=("delay", "mean")).reset_index()
                  .sort_values(["carrier", "city"], na_position="last").reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.read_csv(out / "by_carrier.csv"), by_carrier, check_dtype=False)

    P = 1000003
    in_train = features.id.map(lambda k: ((k % P) * 7919 + (9 % P) * 104729 + 1) % P / P < 0.7)
    train = pd.read_parquet(out / "train.parquet")
    assert train.id.tolist() == sorted(features[in_train].id)
    assert train.dtypes["id"] == "int64" and train.dtypes["late"] == bool

    tagged = pd.read_json(out / "tagged.json", lines=True).sort_values("id")
    assert tagged.tag.tolist() == ["c-" + c for c in features[in_train].sort_values("id").carrier]
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"accuracy", "f1"} and 0.0 <= report["accuracy"] <= 1.0
    sidecar = json.loads((out / "model" / "pipec-model.json").read_text())
    assert sidecar["kind"] == "classifier" and [f["name"] for f in sidecar["features"]] == ["km", "dow", "carrier"]

    # the local backend, given the same plan and params, writes the same relational outputs
    from pipec.backends.local.runner import run_plan

    local = tmp_path / "local"
    shutil.copytree(work / "data", local / "data")
    shutil.copy(work / "userfns.py", local)
    run_plan(unoptimized_plan(check(SOURCE)), {"min_distance": 300, "seed": 9}, local)
    pd.testing.assert_frame_equal(pd.read_csv(local / "out" / "by_carrier.csv"), pd.read_csv(out / "by_carrier.csv"))
    pd.testing.assert_frame_equal(pd.read_parquet(local / "out" / "train.parquet"), train, check_dtype=False)


def test_bad_data_fails_cleanly_and_keeps_earlier_outputs(job_env):
    work, job, env = job_env
    (work / "out").mkdir()
    (work / "out" / "by_carrier.csv").write_text("earlier output\n")
    lines = (work / "data" / "flights.csv").read_text().splitlines()
    lines[5] = lines[5].replace(",", ",12x,", 1).replace(",12x,", ",", 1)  # keep the shape ...
    lines[5] = lines[5].rsplit(",", 2)[0] + ",12x," + lines[5].rsplit(",", 1)[1]  # ... but a bad delay
    (work / "data" / "flights.csv").write_text("\n".join(lines) + "\n")
    done = run(job, {}, work, env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    message = f"mini: error: {work / 'data' / 'flights.csv'}: column `delay`, row 5: value '12x' is not a valid int"
    assert message in done.stderr
    assert "ERROR Executor" not in done.stderr and "ERROR TaskSetManager" not in done.stderr
    assert sorted(os.listdir(work / "out")) == ["by_carrier.csv"]
    assert (work / "out" / "by_carrier.csv").read_text() == "earlier output\n"


def test_bad_params_exit_2_before_spark_starts(job_env):
    work, job, env = job_env
    done = run(job, {"seed": "many"}, work, env)
    assert done.returncode == 2 and "param seed: `many` is not an integer (it is int)" in done.stderr
    assert "Traceback" not in done.stderr and not (work / "out").exists()


BOUNDED_SOURCE = """
pipeline bounded(schedule=null) {
  param f: float = 0.5
  rows = read_csv("data/airports.csv", schema={code: str, city: str})
  a, b = rows | split(fraction=$f, seed=1)
  a | write_csv("out/a.csv")
  b | write_csv("out/b.csv")
}
"""


def test_a_param_out_of_its_range_exits_2_and_writes_nothing(job_env, tmp_path):
    """The checker rejects `-p f=1.5` (E0124); the job rejects `--param f=1.5` the same way."""
    work, _, env = job_env
    (job,) = BACKEND.compile(unoptimized_plan(check(BOUNDED_SOURCE)), tmp_path / "bounded")
    (work / "out").mkdir()
    (work / "out" / "a.csv").write_text("earlier output\n")
    done = run(job, {"f": 1.5}, work, env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert ("bounded: error: `fraction` of `split` must be between 0 and 1, but it is 1.5 "
            "(a param value given at run time)") in done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(work / "out") == ["a.csv"] and (work / "out" / "a.csv").read_text() == "earlier output\n"


CONFINED_SOURCE = """
pipeline confined(schedule=null, confine_outputs=true) {
  param dest: str = "out"
  read_csv("data/airports.csv", schema={code: str, city: str}) | write_csv("${dest}/airports.csv")
}
"""


def test_a_param_cannot_move_a_confined_sink_out_of_the_working_directory(job_env, tmp_path):
    """`confine_outputs=true` holds for `--param` values too (the checker's E0142 at run time)."""
    work, _, env = job_env
    (job,) = BACKEND.compile(unoptimized_plan(check(CONFINED_SOURCE)), tmp_path / "confined")
    assert "confine_outputs=True" in job.read_text()
    done = run(job, {"dest": "../elsewhere"}, work, env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert ("confined: error: sink `" + str(tmp_path / "elsewhere" / "airports.csv") + "` is outside the base "
            "directory: `../elsewhere/airports.csv` climbs out of it with `..`") in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "elsewhere").exists()


SLOW_SOURCE = """
pipeline slow() {
  read_csv("data/airports.csv", schema={code: str, city: str}) | python("slowfns:wait", schema={code: str})
    | write_csv("out/slow.csv")
}
"""
SLOWFNS = '''
import pathlib, time

def wait(df):
    pathlib.Path("started").write_text("")
    time.sleep(120)
    return df[["code"]]
'''


@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupted_job_stops_with_one_line_and_no_traceback(job_env, tmp_path, signal_name, code):
    import signal
    import subprocess
    import sys
    import time

    work, _, env = job_env
    (work / "slowfns.py").write_text(SLOWFNS)
    (job,) = BACKEND.compile(unoptimized_plan(check(SLOW_SOURCE)), tmp_path / "slow")
    process = subprocess.Popen([sys.executable, str(job)], cwd=work, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (work / "started").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (work / "started").exists(), process.communicate(timeout=60)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert "slow: interrupted before commit: no output was changed" in stderr
    assert not (work / "out").exists() or not any((work / "out").iterdir())


def test_a_pipeline_named_like_a_standard_module_runs(tmp_path):
    """The job file is named after the pipeline; run from its folder, `json.py` would be imported
    for `import json` (by the job itself, and by pyspark)."""
    source = 'pipeline json() {\n  read_csv("in.csv", schema={x: int}) | filter(x > 1) | write_csv("out.csv")\n}\n'
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.csv").write_text("x\n1\n2\n")
    (job,) = BACKEND.compile(unoptimized_plan(check(source)), tmp_path / "out")
    assert job.name == "json.py"
    done = run_job(job, {}, work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "out.csv").read_text() == "x\n2\n"
