"""The differential tester across backends: random valid programs (tests/differential/generator.py,
without what backends may legitimately draw differently: `sample`, `split` without `by`, models)
run on local, Spark (one shared SparkSession) and a few on Airflow, and every sink is compared
with the local backend's: CSV and JSON byte for byte, Parquet by values and types (a partitioned
sink: the same folders and files, each file so compared). `make fuzz`
runs PIPEC_FUZZ_SPARK_COUNT (default 20) more programs on Spark, from seed PIPEC_FUZZ_SEED."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from compare import assert_tables_equal, read_table
from runners import load_ir, run_airflow, run_local, run_spark

from generator import generate
from harness import comparable, partition_file_schema
from known_issues import KNOWN_ISSUES

SPARK_SEEDS = range(0, 4)
PARTITIONED_SPARK_SEEDS = range(0, 2)  # generate(partitioned=True): a pruned partitioned source, partitioned sinks
AIRFLOW_SEEDS = range(0, 1)
STEPS = 4  # each Spark action costs seconds: short programs, many shapes across seeds


def _program(root: Path, seed: int, **features) -> Path:
    """The program of `seed` in `root/program.pipe`, its data in `root/data`."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "program.pipe").exists():
        (root / "program.pipe").write_text(generate(seed, root / "data", steps=STEPS, spark_safe=True, **features))
    return root / "program.pipe"


def _run(runner, root: Path, pipe: Path, backend: str) -> Path:
    workdir = root / backend
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(root / "data", workdir / "data")
    runner(pipe, "p", workdir)
    return workdir


def _compare(pipe: Path, reference: Path, candidate: Path, backend: str) -> None:
    ir = load_ir(pipe, "p")
    for sink in ir.sinks():
        path = sink.args.path.replace("${out}", "out")
        schema = ir.node(sink.inputs[0]).schema_
        if not sink.args.partition_by:
            _compare_file(reference / path, candidate / path, schema, f"{backend} {path}")
            continue
        # a partitioned sink: the same partition folders and files (pipec's markers too), each file alike
        files = {side: sorted(p.relative_to(root / path) for p in (root / path).rglob("*") if p.is_file())
                 for side, root in (("local", reference), (backend, candidate))}
        assert files[backend] == files["local"], f"{backend} {path}: {files[backend]}\n--- local: {files['local']}"
        partitioned = partition_file_schema(schema, sink.args.partition_by)
        for file in files["local"]:
            if file.name.startswith("part-"):
                _compare_file(reference / path / file, candidate / path / file, partitioned, f"{backend} {path}/{file}")
            else:
                assert (candidate / path / file).read_bytes() == (reference / path / file).read_bytes(), file


def _compare_file(want: Path, got: Path, schema, what: str) -> None:
    """One written table file against the local backend's: CSV and JSON byte for byte, Parquet by values."""
    assert got.exists() == want.exists(), f"{what}: written by one backend only"
    if not want.exists():
        return
    if not want.read_bytes() or not got.read_bytes():  # an empty table as JSON lines: no line at all
        assert got.read_bytes() == want.read_bytes(), f"{what}: one of the files is empty"
    elif want.suffix == ".parquet" or "backend_file_bytes" in KNOWN_ISSUES:
        assert_tables_equal(what, read_table(got, schema), read_table(want, schema),
                            ordered="row_order" not in KNOWN_ISSUES)
    else:
        assert comparable(got.name, got.read_bytes()) == comparable(want.name, want.read_bytes()), \
            f"{what}:\n{got.read_text()[:1500]}\n--- local:\n{want.read_text()[:1500]}"


@pytest.mark.spark
@pytest.mark.parametrize("seed", SPARK_SEEDS)
def test_a_random_program_writes_the_same_tables_on_spark(seed, spark, tmp_path):
    _check_on_spark(seed, spark, tmp_path)


@pytest.mark.spark
@pytest.mark.parametrize("seed", PARTITIONED_SPARK_SEEDS)
def test_a_random_program_over_partitioned_datasets_writes_the_same_files_on_spark(seed, spark, tmp_path):
    _check_on_spark(seed, spark, tmp_path, partitioned=True)


def _check_on_spark(seed: int, spark, root: Path, **features) -> None:
    pipe = _program(root, seed, **features)
    reference = _run(run_local, root, pipe, "local")
    candidate = _run(lambda *a: run_spark(spark, *a), root, pipe, "spark")
    _compare(pipe, reference, candidate, "spark")


@pytest.mark.airflow
@pytest.mark.parametrize("seed", AIRFLOW_SEEDS)
def test_a_random_program_writes_the_same_tables_on_airflow(seed, airflow_home, tmp_path):
    pipe = _program(tmp_path, seed)
    reference = _run(run_local, tmp_path, pipe, "local")
    candidate = _run(lambda *a: run_airflow(airflow_home, *a), tmp_path, pipe, "airflow")
    _compare(pipe, reference, candidate, "airflow")


@pytest.mark.fuzz
@pytest.mark.spark
@pytest.mark.parametrize("features", [{}, {"partitioned": True}], ids=["files", "partitioned"])
def test_fuzz_spark(features, spark, tmp_path):
    first = int(os.environ.get("PIPEC_FUZZ_SEED", "1000"))
    count = int(os.environ.get("PIPEC_FUZZ_SPARK_COUNT", "20"))
    failures = []
    for seed in range(first, first + count):
        root = tmp_path / f"seed{seed}"
        try:
            _check_on_spark(seed, spark, root, **features)
        except Exception as exc:  # noqa: BLE001 - collect every failing seed, then fail once
            failures.append(f"seed {seed}: {exc}\n{(root / 'program.pipe').read_text()}")
    print(f"differential fuzz on Spark {features}: {count} programs from seed {first}, {len(failures)} failed")
    assert not failures, "\n\n".join(failures)
