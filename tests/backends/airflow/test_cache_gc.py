"""`pipec cache ls | verify | gc --storage-root URL` over the stage cache that a generated DAG's
tasks keep under {storage_root}/cache (docs/runs.md, "Airflow"). The entries are made by running
the DAG's tasks through its support module, as test_task_io.py does (a real DAG run is in
test_dag_cache.py)."""
from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import pytest

from airflow_pipelines import SALES, sales_frame, write_sales_data
from pipec import plan
from pipec.backends.airflow.dagfile import stage_tasks
from pipec.cli import main
from pipec.compiler.check import check_source
from test_task_io import run_all, support  # noqa: F401  (support: the fixture)

KEY = re.compile(r"[0-9a-f]{64}")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def entry_folders(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if KEY.fullmatch(p.name))


def listed(capsys, storage_root: str) -> list[dict]:
    code, out, _ = cli(capsys, "cache", "ls", "--storage-root", storage_root, "--format", "json")
    assert code == 0
    return json.loads(out)


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


STAGES = {task.stage.id for task in stage_tasks(plan(check_source(SALES).pipelines["sales"], backend="airflow"))}


def test_ls_lists_each_entry_with_its_size_and_the_dag_stage_and_run_that_used_it_last(support, tmp_path, capsys):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    storage = str(tmp_path / "storage")
    assert cli(capsys, "cache", "ls", "--storage-root", storage)[1] == f"the cache in {storage}/cache is empty\n"
    run_all(support, tmp_path, "manual__1")
    entries = listed(capsys, storage)
    folders = entry_folders(tmp_path / "storage" / "cache")
    assert sorted(e["key"] for e in entries) == [f.name for f in folders] and len(folders) == len(STAGES) > 1
    assert {e["stage"] for e in entries} == STAGES
    for entry in entries:
        files = [p for p in Path(entry["path"]).rglob("*") if p.is_file()]
        manifest = json.loads((Path(entry["path"]) / "manifest.json").read_text())
        assert entry["size"] == sum(p.stat().st_size for p in files) and entry["files"] == len(files)
        assert (entry["dag"], entry["last_run"], entry["nodes"]) == ("sales", "manual__1", sorted(manifest["records"]))
        assert entry["created"] <= entry["last_used"] <= time.time()

    run_all(support, tmp_path, "manual__2")  # every stage reused: the markers say so
    again = listed(capsys, storage)
    assert {e["key"] for e in again} == {e["key"] for e in entries}
    assert {e["last_run"] for e in again} == {"manual__2"}
    assert {e["key"]: e["created"] for e in again} == {e["key"]: e["created"] for e in entries}
    code, out, _ = cli(capsys, "cache", "ls", "--storage-root", storage)
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(entries)
    assert all(re.fullmatch(r"[0-9a-f]{16} +[\d,]+ B  stored \S+ \S+  used \S+ \S+  sales stage s\d+: .+", line)
               for line in lines), lines


def test_verify_names_changed_and_missing_files_and_gc_removes_those_entries(support, tmp_path, capsys):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1")
    storage, cache = str(tmp_path / "storage"), tmp_path / "storage" / "cache"
    code, out, _ = cli(capsys, "cache", "verify", "--storage-root", storage)
    assert code == 0 and out == f"{len(STAGES)} entries checked, 0 broken\n"

    changed, missing, *intact = entry_folders(cache)
    data = sorted(p for p in changed.rglob("*") if p.is_file() and p.name != "manifest.json")[0]
    data.write_bytes(b"not what was stored")
    manifest_time = (changed / "manifest.json").stat().st_mtime
    os.utime(data, (manifest_time + 5, manifest_time + 5))
    gone = sorted(p for p in missing.rglob("*") if p.is_file() and p.name != "manifest.json")[0]
    gone.unlink()
    code, out, _ = cli(capsys, "cache", "verify", "--storage-root", storage)
    assert code == 1
    assert f"{changed.name}: {data.relative_to(changed)} differs from the sha256 its manifest recorded" in out
    assert f"{missing.name}: {gone.relative_to(missing)} is missing" in out
    assert out.endswith(f"{len(STAGES)} entries checked, 2 broken (`pipec cache gc` removes them; "
                        "the next run recomputes them)\n")
    code, out, _ = cli(capsys, "cache", "verify", "--storage-root", storage, "--format", "json")
    assert code == 1 and sorted(p["key"] for p in json.loads(out)) == sorted([changed.name, missing.name])

    code, out, err = cli(capsys, "cache", "gc", "--storage-root", storage, "--format", "json")
    assert code == 0, err
    removed = json.loads(out)
    assert (removed["entries"], removed["temporary"]) == (2, 0) and removed["bytes"] > 0
    assert entry_folders(cache) == intact
    assert sorted(p.name.split(".")[0] for p in cache.glob("*.used")) == [p.name for p in intact]
    assert cli(capsys, "cache", "verify", "--storage-root", storage)[0] == 0


def test_gc_keeps_what_the_last_runs_used_and_removes_old_entries_and_dead_temporaries(support, tmp_path, capsys):
    """--keep-last counts the runs that used an entry (a reuse counts), --older-than the time since
    its last use; temporaries of interrupted stores go after an hour; files pipec did not write stay."""
    storage, cache = str(tmp_path / "storage"), tmp_path / "storage" / "cache"
    data = tmp_path / "work" / "data"
    write_sales_data(data, sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1")
    first = {p.name for p in entry_folders(cache)}
    write_sales_data(data, sales_frame(rows=80))  # every stage reads sales.csv: all new keys
    run_all(support, tmp_path, "manual__2")
    second = {p.name for p in entry_folders(cache)} - first
    assert len(second) == len(first)
    write_sales_data(data, sales_frame(rows=60))
    run_all(support, tmp_path, "manual__3")  # reuses the first run's entries
    dead, young = cache / f"{'a' * 64}.{'0' * 32}.tmp", cache / f"{'b' * 64}.{'1' * 32}.tmp"
    for temporary, age in ((dead, 7200), (young, 60)):
        (temporary / "n1.parquet").parent.mkdir(parents=True)
        (temporary / "n1.parquet").write_bytes(b"PAR1")
        for path in (temporary / "n1.parquet", temporary):
            os.utime(path, (time.time() - age, time.time() - age))
    (cache / "NOTES.txt").write_text("mine")

    code, out, _ = cli(capsys, "cache", "gc", "--storage-root", storage, "--keep-last", "2")
    assert code == 0 and out == "removed 0 entries and 0 objects (0 bytes), 1 temporary files\n"
    assert not dead.exists() and young.exists()
    code, out, _ = cli(capsys, "cache", "gc", "--storage-root", storage, "--keep-last", "1", "--format", "json")
    assert json.loads(out)["entries"] == len(second)
    assert {p.name for p in entry_folders(cache)} == first
    assert {e["last_run"] for e in listed(capsys, storage)} == {"manual__3"}

    assert json.loads(cli(capsys, "cache", "gc", "--storage-root", storage, "--older-than", "1d",
                          "--format", "json")[1])["entries"] == 0
    two_days_ago = time.time() - 2 * 86400
    for path in cache.rglob("*"):
        os.utime(path, (two_days_ago, two_days_ago))
    code, out, _ = cli(capsys, "cache", "gc", "--storage-root", storage, "--older-than", "1d", "--format", "json")
    assert json.loads(out) == {**json.loads(out), "entries": len(first), "temporary": 1}
    assert sorted(p.name for p in cache.iterdir()) == ["NOTES.txt"]


def test_a_run_after_gc_or_during_a_removal_recomputes_what_is_gone(support, tmp_path, capsys, caplog):
    """A restore that finds an entry half removed (a gc running at the same time) is a miss, never
    a hit: the stage runs and the outputs are the same; once gc removed the entries, the next run
    computes and stores them again."""
    caplog.set_level(logging.INFO, logger="pipec.task")
    storage, cache, out = str(tmp_path / "storage"), tmp_path / "storage" / "cache", tmp_path / "work" / "out"
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1")
    written = outputs(out)
    by_stage = {e["stage"]: e["key"] for e in listed(capsys, storage)}
    last = sorted(by_stage)[-1]
    half_removed = cache / by_stage[last]
    for path in sorted(p for p in half_removed.rglob("*") if p.is_file() and p.name != "manifest.json")[:1]:
        path.unlink()

    caplog.clear()
    run_all(support, tmp_path, "manual__2")
    assert set(re.findall(r"stage (\S+) reused", caplog.text)) == STAGES - {last}
    assert f"stage {last} stored " in caplog.text
    assert outputs(out) == written

    code, out_text, _ = cli(capsys, "cache", "gc", "--storage-root", storage, "--keep-last", "0")
    assert code == 0 and out_text.startswith(f"removed {len(STAGES)} entries")
    assert entry_folders(cache) == [] and list(cache.glob("*.used")) == []
    caplog.clear()
    run_all(support, tmp_path, "manual__3")
    assert "reused" not in caplog.text and len(re.findall(r"stage \S+ stored ", caplog.text)) >= len(STAGES)
    assert outputs(out) == written
    assert {e["stage"]: e["key"] for e in listed(capsys, storage)} == by_stage


def test_gc_of_a_storage_root_in_an_object_store(support, tmp_path, s3_bucket, capsys):
    import fsspec

    s3 = fsspec.filesystem("s3")
    storage = f"s3://{s3_bucket}/storage"
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1", storage_root=storage)
    entries = listed(capsys, storage)
    assert {e["stage"] for e in entries} == STAGES and {e["dag"] for e in entries} == {"sales"}
    assert all(e["path"].startswith(f"s3://{s3_bucket}/storage/cache/") for e in entries)
    broken = entries[0]
    s3.rm([f for f in s3.find(broken["path"]) if not f.endswith("manifest.json")][0])
    stray = f"{s3_bucket}/storage/cache/{'c' * 64}.sales-0123456789.used"
    s3.pipe_file(stray, b"{}")
    mine = f"{s3_bucket}/storage/cache/README"
    s3.pipe_file(mine, b"not pipec's")
    code, out, _ = cli(capsys, "cache", "verify", "--storage-root", storage)
    assert code == 1 and f"{broken['key']}: " in out and "is missing" in out

    code, out, _ = cli(capsys, "cache", "gc", "--storage-root", storage, "--format", "json")
    assert code == 0 and (json.loads(out)["entries"], json.loads(out)["temporary"]) == (1, 1)
    assert sorted(e["key"] for e in listed(capsys, storage)) == sorted(e["key"] for e in entries[1:])
    assert not s3.exists(stray) and not s3.exists(broken["path"])
    code, out, _ = cli(capsys, "cache", "gc", "--storage-root", storage, "--keep-last", "0", "--format", "json")
    assert json.loads(out)["entries"] == len(entries) - 1
    s3.invalidate_cache()
    assert s3.find(f"{s3_bucket}/storage/cache") == [mine]


def test_the_storage_root_is_found_as_pipec_run_finds_it_and_bad_ones_are_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PIPEC_STORAGE_ROOT", raising=False)
    code, out, _ = cli(capsys, "cache", "ls", "--target", "airflow", "--workdir", str(tmp_path))
    assert code == 0 and out == f"the cache in {tmp_path}/.pipec/airflow/cache is empty\n"
    monkeypatch.setenv("PIPEC_STORAGE_ROOT", str(tmp_path / "deployed"))
    code, out, _ = cli(capsys, "cache", "ls", "--target", "airflow")
    assert code == 0 and out == f"the cache in {tmp_path}/deployed/cache is empty\n"
    code, out, _ = cli(capsys, "cache", "ls")  # the working directory's own cache, as before
    assert code == 0 and out.endswith(".pipec/cache is empty\n")
    code, _, err = cli(capsys, "cache", "ls", "--storage-root", "nosuch://x")
    assert code == 2 and "error: --storage-root nosuch://x: Protocol not known: nosuch" in err
    code, _, err = cli(capsys, "cache", "ls", "--target", "local", "--storage-root", str(tmp_path))
    assert code == 2 and "--storage-root goes with `--target airflow`" in err
    code, _, err = cli(capsys, "cache", "gc", "--storage-root", str(tmp_path), "--older-than", "soon")
    assert code == 2 and "--older-than expected a duration" in err


@pytest.fixture(autouse=True)
def _no_deployed_storage_root(monkeypatch):
    """A PIPEC_STORAGE_ROOT of the machine running the tests must not redirect them."""
    monkeypatch.delenv("PIPEC_STORAGE_ROOT", raising=False)
