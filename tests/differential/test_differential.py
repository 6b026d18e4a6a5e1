"""The differential tester, as part of the suite: random valid programs (generator.py) run at -O0,
fully optimised, optimised with recorded statistics and with each pass disabled, must write the
same bytes and match their sinks' schemas (harness.py). With `partitioned=True` the programs
also read a Hive-partitioned dataset through filters that prune it and write partitioned sinks
(their own seeds: the option does not change what a seed generates without it).

CI runs a fixed range of seeds. `make fuzz` runs the `fuzz` test with more of them:
PIPEC_FUZZ_SEED (first seed, default 1000) and PIPEC_FUZZ_COUNT (default 500); each failure is
minimised and written to PIPEC_FUZZ_KEEP (default out/fuzz) as a case folder for `cases/`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fuzz import minimise, report, trial

CI_SEEDS = range(0, 30)
PARTITIONED_CI_SEEDS = range(0, 6)  # programs with a Hive-partitioned source and partitioned sinks


@pytest.mark.slow
@pytest.mark.parametrize("seed", CI_SEEDS)
def test_a_random_program_writes_the_same_bytes_at_every_setting(seed, tmp_path):
    text, problems = trial(seed, tmp_path)
    if problems:
        text = minimise(text, tmp_path / "data", tmp_path)
    assert not problems, report(seed, text, problems)


@pytest.mark.slow
@pytest.mark.parametrize("seed", PARTITIONED_CI_SEEDS)
def test_a_random_program_over_partitioned_datasets_writes_the_same_files_at_every_setting(seed, tmp_path):
    """Partition pruning (filters on partition columns, `run.date`) and partitioned sinks: every
    setting writes the same partition folders with the same bytes."""
    text, problems = trial(seed, tmp_path, partitioned=True)
    if problems:
        text = minimise(text, tmp_path / "data", tmp_path)
    assert not problems, report(seed, text, problems)


@pytest.mark.fuzz
@pytest.mark.parametrize("features", [{}, {"partitioned": True}], ids=["files", "partitioned"])
def test_fuzz(features, tmp_path):
    first = int(os.environ.get("PIPEC_FUZZ_SEED", "1000"))
    count = int(os.environ.get("PIPEC_FUZZ_COUNT", "500"))
    keep = Path(os.environ.get("PIPEC_FUZZ_KEEP", "out/fuzz"))
    failures = []
    for seed in range(first, first + count):
        text, problems = trial(seed, tmp_path / "trial", **features)
        if problems:
            data = tmp_path / "trial" / "data"
            small = minimise(text, data, tmp_path / "minimise")
            case = keep / f"seed{seed}{'-partitioned' if features else ''}"
            shutil.rmtree(case, ignore_errors=True)
            shutil.copytree(data, case / "data")
            (case / "program.pipe").write_text(small)
            failures.append(report(seed, small, problems[:3]))
    print(f"differential fuzz {features}: {count} programs from seed {first}, {len(failures)} failed")
    assert not failures, "\n\n".join(failures)
