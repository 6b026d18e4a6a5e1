"""One fuzz trial per seed (generate a program and its data, run it under every setting), and the
minimiser that turns a failing program into a small regression case: it drops statements and
table rows for as long as the program still fails (Csmith's C-Reduce, by whole lines)."""
from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from generator import generate
from harness import SETTINGS, compare_settings

DATA_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")  # .json: a partition's file


def trial(seed: int, workdir: Path, settings=SETTINGS, **features) -> tuple[str, list[str]]:
    """The program of `seed` (its data under `workdir/data`) and the problems it shows;
    `features` are generator options (`partitioned=True`)."""
    shutil.rmtree(workdir, ignore_errors=True)
    text = generate(seed, workdir / "data", **features)
    return text, compare_settings(text, workdir / "data", workdir / "runs", settings)


def _fails(text: str, data: Path, workdir: Path, settings) -> bool:
    try:
        problems = compare_settings(text, data, workdir / "runs", settings)
    except AssertionError:  # the checker rejects the smaller program: not a reduction
        return False
    return bool(problems)


def minimise(text: str, data: Path, workdir: Path, settings=SETTINGS) -> str:
    """A smaller program (and data, rewritten in place in `data`) that still fails."""
    lines = text.split("\n")
    changed = True
    while changed:
        changed = False
        for k in reversed(range(len(lines))):
            line = lines[k].strip()
            if not line or line.startswith(("pipeline", "param", "}")):
                continue
            candidate = lines[:k] + lines[k + 1:]
            if _fails("\n".join(candidate), data, workdir, settings):
                lines, changed = candidate, True
    text = "\n".join(lines)
    for file in sorted(p for p in data.rglob("*") if p.suffix in DATA_SUFFIXES):  # partitions' files too
        _shrink_rows(file, lambda: _fails(text, data, workdir, settings))
    return text


def _shrink_rows(file: Path, still_fails) -> None:
    """Remove rows of one table, one at a time from the end, keeping each removal that still fails."""
    frame = _read(file)
    row = frame.height - 1
    while row >= 0:
        smaller = pl.concat([frame[:row], frame[row + 1:]])
        _write(file, smaller)
        if still_fails():
            frame = smaller
        else:
            _write(file, frame)
        row -= 1


def _read(file: Path) -> pl.DataFrame:
    if file.suffix == ".parquet":
        return pl.read_parquet(file)
    if file.suffix in (".jsonl", ".json"):
        return pl.read_ndjson(file, infer_schema_length=None)
    return pl.read_csv(file, infer_schema=False)  # text stays text, byte for byte


def _write(file: Path, frame: pl.DataFrame) -> None:
    if file.suffix == ".parquet":
        frame.write_parquet(file)
    elif file.suffix in (".jsonl", ".json"):
        frame.write_ndjson(file)
    else:
        frame.write_csv(file)


def report(seed: int, text: str, problems: list[str]) -> str:
    return f"seed {seed}:\n{text}\n" + "\n".join(problems)
