"""The unchanged-rerun fast path (pipec/backends/local/up_to_date.py): a rerun that changes nothing
is answered without compiling, and prints and records exactly what the full path does; anything
that could change what a run does (a file, an object, an output, a commit left to finish, the
command) takes the full path."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipec.compiler.check
from pipec.backends.local import up_to_date
from pipec.cache.objects import ObjectStore
from pipec.cli import build_parser, main
from pipec.runs.record import RUN_IDENTITY

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = '''schema Obs { id: int, station: str, x: float, late: bool }
pipeline delays() {
  param min_x: float = -10.0
  param min_accuracy: float = 0.0
  obs = read_csv("obs.csv", schema=Obs) | expect(row_count() > 10)
  scaled = obs
    | filter(x >= $min_x)
    | python("feats:scaled", schema={id: int, station: str, x: float, late: bool, xs: float})
  train, test = scaled | split(fraction=0.7, seed=3, by=id)
  model = train | fit(logistic_regression(max_iter=200), features=[x, xs], label=late)
  scored = test | predict(model)
  report = scored | evaluate(label=late, metrics=["accuracy"]) | expect(accuracy >= $min_accuracy)
  report | write_json("out/metrics.json")
  scored | write_parquet("out/scored.parquet")
  model | save_model("out/model")
}
pipeline stations() {
  obs = read_csv("obs.csv", schema=Obs)
  obs | aggregate(by=[station], n=count()) | sort(station) | write_csv("out/stations.csv")
}
'''
FEATS = ("from helpers import factor\n\ntry:\n    import localextra  # noqa: F401\nexcept ImportError:\n    pass\n\n\n"
         "def scaled(df):\n    return df.assign(xs=df['x'] * factor())\n")


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    monkeypatch.delenv("PIPEC_CACHE_DIR", raising=False)
    folder = tmp_path / "project"
    folder.mkdir()
    rows = ["id,station,x,late"] + [f"{i},{'abcd'[i % 4]},{(i * 37 % 101) / 10 - 5:.1f},{str(i * 37 % 101 > 50).lower()}"
                                    for i in range(200)]
    (folder / "obs.csv").write_text("\n".join(rows) + "\n")
    (folder / "flights.pipe").write_text(PIPELINES)
    (folder / "feats.py").write_text(FEATS)
    (folder / "helpers.py").write_text("def factor():\n    return 2.0\n")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def compiled(monkeypatch) -> list[str]:
    """The files `pipec run` compiled: empty when a run was replayed."""
    seen: list[str] = []
    check_file = pipec.compiler.check.check_file
    monkeypatch.setattr(pipec.compiler.check, "check_file", lambda path, *a: seen.append(path) or check_file(path, *a))
    return seen


def run(capsys, *argv: str) -> tuple[str, str]:
    code = main(["run", "flights.pipe", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return re.sub(r" in \d+\.\d\ds", " in T", out), err


def compiles(capsys, compiled: list[str], *argv: str) -> list[str]:
    """Run `pipec run ARGV`, which must succeed; the files it compiled (none: it was replayed)."""
    compiled.clear()
    assert main(["run", *argv]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return list(compiled)


def records(capsys, count: int) -> list[dict]:
    """The newest `count` run records, oldest first, without what differs between two runs."""
    assert main(["runs", "--format", "json", "-n", str(count)]) == 0
    ids = [r["run_id"] for r in json.loads(capsys.readouterr().out)]
    found = []
    for run_id in reversed(ids):
        assert main(["runs", "show", run_id, "--format", "json"]) == 0
        record = json.loads(capsys.readouterr().out)
        found.append({k: v for k, v in record.items() if k not in (*RUN_IDENTITY, "ended_at", "seconds")})
    return found


def test_a_replayed_rerun_prints_and_records_what_the_full_path_does(capsys, project, compiled):
    run(capsys)
    compiled.clear()
    replayed = run(capsys)
    assert compiled == [], "the unchanged rerun was compiled"
    shutil.rmtree(project / up_to_date.FOLDER)
    full = run(capsys)
    assert compiled == ["flights.pipe"]
    assert replayed == full
    assert "reused  s1" in replayed[1] and "unchanged" in replayed[0]
    *_, by_replay_delays, by_replay_stations, full_delays, full_stations = records(capsys, 4)
    assert (by_replay_delays, by_replay_stations) == (full_delays, full_stations)
    assert {n["outcome"] for n in full_delays["nodes"]} == {"reused"}
    assert full_delays["expectations"] and full_delays["metrics"]


def test_a_replay_loads_neither_the_compiler_nor_an_engine(project):
    command = [sys.executable, "-c", "import sys; from pipec.cli import main; code = main(['run', 'flights.pipe']); "
               "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'lark', 'polars', 'sklearn', "
               "'sqlalchemy'}) or 'none', 'pipec.compiler.ir' in sys.modules, file=sys.stderr); sys.exit(code)"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "'polars'" in first.stderr.splitlines()[-1]  # the cold run computed
    second = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines()[-1] == "none False"


def _edit_row(project: Path) -> None:
    path = project / "obs.csv"
    path.write_text(path.read_text().replace("\n7,d,", "\n7,c,", 1))


def _put_other_content(project: Path) -> None:
    """Store other bytes under the key of a stored metrics record (as a --no-cache run of a stage
    whose output is not byte-stable would): the entry and its object are intact, but changed."""
    store = ObjectStore.in_workdir(project)
    for entry in store.entries():
        path = store.object_path(entry.digest)
        if entry.kind == "file" and path.read_bytes().startswith(b'{"accuracy"'):
            other = project / "other.json"
            other.write_text('{"accuracy": 0.125}')
            store.put(entry.key, other)
            return
    raise AssertionError("no stored metrics record")


def _interrupted_commit(project: Path) -> None:
    journal = project / ".pipec" / "commits" / "run.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(json.dumps({"run": "dead", "files": "local", "entries": []}))


CHANGES = {
    "a row of an input": _edit_row,
    "the pipeline file": lambda p: (p / "flights.pipe").write_text(PIPELINES.replace("-10.0", "-9.0")),
    "a module a python() step imports": lambda p: (p / "helpers.py").write_text("def factor():\n    return 3.0\n"),
    "a new module a python() step would import": lambda p: (p / "localextra.py").write_text("X = 1\n"),
    "a deleted cache object": lambda p: shutil.rmtree(next((p / ".pipec" / "cache" / "objects").glob("*/*tree*"))),
    "an edited output": lambda p: (p / "out" / "metrics.json").write_text("{}"),
    "a deleted output": lambda p: (p / "out" / "stations.csv").unlink(),
    "other content stored under a key": _put_other_content,
    "the recorded statistics": lambda p: (p / ".pipec" / "stats" / "delays.json").write_text("{}"),
    "an interrupted commit": _interrupted_commit,
}
WARNED = {"an interrupted commit"}  # the full path says it finished the commit: a run with a warning is not replayed


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_takes_the_full_path_and_the_rerun_after_it_is_replayed(capsys, project, compiled, change):
    run(capsys)
    run(capsys)
    compiled.clear()
    CHANGES[change](project)
    run(capsys)
    assert compiled, f"replayed after {change}"
    if change in WARNED:
        compiled.clear()
        run(capsys)
        assert compiled, f"replayed the run after one that warned ({change})"
    compiled.clear()
    run(capsys)
    assert compiled == [], f"the run after the full one ({change}) was not replayed"


def test_after_a_change_the_full_path_gives_the_fresh_result(capsys, project, compiled):
    """A replay after an input change would print the old metrics: the full path prints the new."""
    run(capsys)
    before = (project / "out" / "scored.parquet").read_bytes()
    (project / "obs.csv").write_text((project / "obs.csv").read_text() + "\n".join(
        f"{i},a,4.0,true" for i in range(200, 260)) + "\n")
    run(capsys)
    assert (project / "out" / "scored.parquet").read_bytes() != before


@pytest.mark.parametrize("argv, env", [
    (["--no-cache"], {}), (["--pipeline", "delays", "--rerun", "model"], {}), ([], {"OPENLINEAGE__TRANSPORT__TYPE": "console"}),
])
def test_commands_that_must_not_reuse_blindly_are_never_replayed(capsys, project, compiled, monkeypatch, argv, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for _ in range(3):
        assert compiles(capsys, compiled, "flights.pipe", *argv) == ["flights.pipe"]


@pytest.mark.parametrize("source", [
    # a warning is printed on every run, by the compiler
    'pipeline p() {\n  a = read_csv("obs.csv", schema={id: int})\n  b = a | limit(3)\n  a | write_csv("out/a.csv")\n}\n',
    # a run for "now" (no --run-date) is another run tomorrow
    'pipeline p() {\n  a = read_csv("obs.csv", schema={id: int})\n  a | write_csv("out/${run.date}.csv")\n}\n',
    # a step that is never reused
    'pipeline p() {\n  a = read_csv("obs.csv", schema={id: int, x: float})\n'
    '  a | python("feats:scaled", schema={id: int, x: float, xs: float}, cache=false) | write_csv("out/a.csv")\n}\n',
])
def test_runs_that_are_not_the_same_next_time_are_never_replayed(capsys, project, compiled, source):
    (project / "p.pipe").write_text(source)
    (project / "helpers.py").write_text("def factor():\n    return 2.0\n")
    for _ in range(3):
        assert compiles(capsys, compiled, "p.pipe") == ["p.pipe"]
    assert not (project / up_to_date.FOLDER).exists() or not list((project / up_to_date.FOLDER).iterdir())


def test_the_key_of_a_command_covers_its_arguments_folder_environment_and_libraries(project, monkeypatch, tmp_path):
    key = up_to_date.command_key(["pipec", "run", "flights.pipe"])
    assert up_to_date.command_key(["pipec", "run", "flights.pipe"]) == key
    assert up_to_date.command_key(["pipec", "run", "flights.pipe", "-p", "min_x=0"]) != key
    monkeypatch.setenv("PIPEC_CACHE_DIR", str(tmp_path / "cache"))
    assert up_to_date.command_key(["pipec", "run", "flights.pipe"]) != key
    monkeypatch.delenv("PIPEC_CACHE_DIR")
    monkeypatch.chdir(tmp_path)
    assert up_to_date.command_key(["pipec", "run", "flights.pipe"]) != key
    monkeypatch.chdir(project)
    libraries = tmp_path / "lib" / "site-packages"
    libraries.mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [*sys.path, str(libraries)])
    with_libraries = up_to_date.command_key(["pipec", "run", "flights.pipe"])
    (libraries / "polars-9.9.dist-info").mkdir()  # an upgrade
    os.utime(libraries, ns=(1, 1))
    assert up_to_date.command_key(["pipec", "run", "flights.pipe"]) != with_libraries


def test_a_snapshot_of_another_format_or_damaged_is_ignored(capsys, project, compiled):
    run(capsys)
    args = build_parser().parse_args(["run", "flights.pipe"])
    args.argv = ["pipec", "run", "flights.pipe"]
    snapshot = next((project / up_to_date.FOLDER).glob("*.json"))
    for text in ("{", json.dumps({"format": 0}), json.dumps({"format": up_to_date.FORMAT, "files": []})):
        snapshot.write_text(text)
        assert up_to_date.replay(args, up_to_date.command_key(args.argv)) is None


def test_a_symlink_pointed_elsewhere_is_another_file_even_with_the_same_content(capsys, project, compiled):
    """A release layout: `current` points at a release folder; its files are compared by where
    they are, not only by content (an import with another schema, an input at another path)."""
    for release, b_type in (("v1", "int"), ("v2", "float")):
        folder = project / "releases" / release
        folder.mkdir(parents=True)
        (folder / "schemas.pipe").write_text(f"schema S {{ a: int, b: {b_type} }}\n")
        (folder / "p.pipe").write_text('import "schemas.pipe"\npipeline p() {\n'
                                       '  read_csv("x.csv", schema=S) | write_csv("out/x.csv")\n}\n')
    (project / "x.csv").write_text("a,b\n3,4\n")
    (project / "current").symlink_to(project / "releases" / "v1")
    for _ in range(2):
        compiles(capsys, compiled, "current/p.pipe")
    (project / "current").unlink()
    (project / "current").symlink_to(project / "releases" / "v2")
    assert compiles(capsys, compiled, "current/p.pipe") == ["current/p.pipe"]
    assert (project / "out" / "x.csv").read_text() == "a,b\n3,4.0\n"


def test_an_input_path_through_a_symlinked_folder_and_dotdot_is_followed_as_the_run_does(capsys, project, compiled):
    (project / "elsewhere" / "d").mkdir(parents=True)
    (project / "d").symlink_to(project / "elsewhere" / "d")
    (project / "elsewhere" / "y.csv").write_text("a\n1\n")
    (project / "y.csv").write_text("a\n1\n")  # what `d/../y.csv` would be if `..` were taken literally
    (project / "p.pipe").write_text('pipeline p() {\n  read_csv("d/../y.csv", schema={a: int}) | write_csv("out/y.csv")\n}\n')
    for _ in range(2):
        compiles(capsys, compiled, "p.pipe")
    (project / "elsewhere" / "y.csv").write_text("a\n1\n2\n")
    assert compiles(capsys, compiled, "p.pipe") == ["p.pipe"]
    assert (project / "out" / "y.csv").read_text() == "a\n1\n2\n"


def test_a_library_found_on_pythonpath_changes_the_key(project, monkeypatch, tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    monkeypatch.setattr(sys, "path", [str(shadow), *sys.path])
    key = up_to_date.command_key(["pipec", "run", "flights.pipe"])
    (shadow / "polars-0.0.1.dist-info").mkdir()
    assert up_to_date.command_key(["pipec", "run", "flights.pipe"]) != key
    monkeypatch.setattr(sys, "path", [os.fsdecode(b"/nonexistent/lib\xff/site-packages"), *sys.path])
    assert up_to_date.command_key(["pipec", "run", "flights.pipe"])  # a folder name that is not UTF-8


def test_after_a_replay_the_reasons_of_the_next_run_are_those_after_a_full_run(capsys, project, compiled):
    state = project / ".pipec" / "cache" / "state" / "delays.json"
    run(capsys)
    run(capsys, "-p", "min_accuracy=-1")  # another command (only its last stage reruns): its keys are kept
    compiled.clear()
    run(capsys)
    assert compiled == []
    replayed = state.read_text()
    run(capsys, "-p", "min_accuracy=-1")
    shutil.rmtree(project / up_to_date.FOLDER)
    run(capsys)
    assert state.read_text() == replayed


def test_what_the_record_says_of_a_partitioned_input_is_checked_too(capsys, project, compiled):
    """The stage key skips a partitioned folder's hidden and `_` files; the record's digest of
    the folder does not, so a new `_SUCCESS` marker is a new record: the full path writes it."""
    (project / "data" / "k=a").mkdir(parents=True)
    (project / "data" / "k=a" / "part.csv").write_text("v\n1\n")
    (project / "p.pipe").write_text('pipeline p() {\n  read_csv("data", schema={k: str, v: int}, partition_by=[k])'
                                    ' | write_csv("out/v.csv")\n}\n')
    for _ in range(2):
        compiles(capsys, compiled, "p.pipe")
    (project / "data" / "_SUCCESS").write_text("done\n")
    assert compiles(capsys, compiled, "p.pipe") == ["p.pipe"]


def test_a_pipeline_that_loads_a_model_is_never_replayed(capsys, project, compiled):
    """`load_model` takes its type from the model's files as the checker finds them (relative to
    the current folder, not `--workdir`): a snapshot could not prove what the check would say."""
    run(capsys, "--pipeline", "delays")
    (project / "score.pipe").write_text(
        'pipeline score() {\n  model = load_model("out/model")\n'
        '  read_csv("obs.csv", schema={id: int, station: str, x: float, late: bool})'
        ' | python("feats:scaled", schema={id: int, station: str, x: float, late: bool, xs: float})'
        ' | predict(model) | write_csv("out/scored.csv")\n}\n')
    for _ in range(3):
        assert compiles(capsys, compiled, "score.pipe") == ["score.pipe"]
    assert (project / "out" / "scored.csv").exists()
