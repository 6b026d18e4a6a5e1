"""Files that are not valid CSV or JSON lines (tests/backends/data/bad/) fail the run on every
backend with one message naming the file, the row or line, and the column; no traceback, no
output. Files that are unusual but valid (BOM, CRLF, quoted delimiters and line breaks, only a
header, no header) read the same on every backend."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from spark_kit import run_generated

from pipec.cli import main

BAD = Path(__file__).parent / "data" / "bad"
SCHEMA = "{id: int, name: str?, score: float?}"


def pipeline(file: str, reader: str = "read_csv", options: str = "") -> str:
    return f"""
pipeline copy() {{
  rows = {reader}("in/{file}", schema={SCHEMA}{options})
  rows | write_csv("out/rows.csv")
}}
"""


# file -> (the words of the local message, the words of the Spark message); None: that backend
# reads the file without error (see the notes in data/bad/README.md and docs/semantics.md).
CSV_CASES = {
    "short_row.csv": ("line 3 (row 2): 2 fields but the header has 3: column `score` is missing",
                      "row 2: 2 fields but the header has 3: column `score` is missing"),
    "cut_mid_row.csv": ("line 3 (row 2): 2 fields but the header has 3: column `score` is missing",
                        "row 2: 2 fields but the header has 3: column `score` is missing"),
    "long_row.csv": ("line 3 (row 2): 4 fields but the header has 3 (the first extra field is 'x')",
                     "row 2: 4 fields but the header has 3 (the first extra field is 'x')"),
    "unclosed_quote.csv": ("line 3 (row 2): a quoted field on this row is never closed",
                           "row 2: a quoted field on this row is never closed"),
    "invalid_utf8.csv": ("line 3, byte 4 (column `name`): invalid UTF-8 (byte 0xff)", None),
    "empty_line.csv": ("line 3 (row 2): empty line, but the header has 3 fields", None),
    "empty.csv": ("the file is empty: expected a header row with the columns id, name, score",
                  "the file is empty: expected a header row with the columns id, name, score"),
}
JSON_CASES = {
    "truncated.jsonl": ("line 2, column 24: not valid JSON: Unterminated string", "row 2 is not valid JSON"),
    "not_object.jsonl": ("line 2: expected a JSON object ({...}), found list [2, 'b', 2.5]", "row 2 is not valid JSON"),
    "invalid_utf8.jsonl": ("line 2, byte 21: invalid UTF-8 (byte 0xff)", "row 2 is not valid JSON"),
}
CASES = {**CSV_CASES, **JSON_CASES}


def reader_of(file: str) -> str:
    return "read_json" if file.endswith(".jsonl") else "read_csv"


def run_local(capsys, workdir: Path, source: str) -> tuple[int, str]:
    (workdir / "copy.pipe").write_text(source)
    code = main(["run", str(workdir / "copy.pipe"), "--workdir", str(workdir)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(BAD, tmp_path / "in")
    return tmp_path


@pytest.mark.parametrize("file, words", [(f, local) for f, (local, _) in CASES.items()])
def test_local_run_names_file_line_and_column(capsys, workdir, file, words):
    code, err = run_local(capsys, workdir, pipeline(file, reader_of(file)))
    assert code == 1
    assert f"error: {workdir / 'in' / file}: {words}" in err
    assert not (workdir / "out").exists()


@pytest.mark.parametrize("file, words", [(f, spark) for f, (_, spark) in CASES.items() if spark])
def test_spark_job_names_file_row_and_column(spark, workdir, monkeypatch, file, words):
    monkeypatch.chdir(workdir)
    with pytest.raises(Exception) as info:
        run_generated(spark, pipeline(file, reader_of(file)))
    job = sys.modules["generated_job_copy"]  # the job's own runtime knows its sources
    message = job.job_error_message(info.value, spark)
    assert message is not None and message.startswith(f"{workdir / 'in' / file}: {words}")
    assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())  # the sink's folder may stay


GOOD = [  # (file bytes, read_csv options, rows)
    (b"\xef\xbb\xbfid,name,score\r\n1,a,1.5\r\n2,,\r\n", "", [(1, "a", 1.5), (2, None, None)]),
    (b'id;name;score\n1;"a;b";1.5\n2;"line\nbreak, ""quoted""";\n', ', delimiter=";"',
     [(1, "a;b", 1.5), (2, 'line\nbreak, "quoted"', None)]),
    (b"id,name,score\n", "", []),
    (b"1,a,1.5\n2,b,\n", ", header=false", [(1, "a", 1.5), (2, "b", None)]),
    (b"", ", header=false", []),
]


@pytest.mark.parametrize("data, options, rows", GOOD)
def test_unusual_but_valid_csv_reads_the_same_locally_and_on_spark(spark, capsys, tmp_path, monkeypatch,
                                                                     data, options, rows):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.csv").write_bytes(data)
    source = pipeline("good.csv", options=options)
    code, err = run_local(capsys, tmp_path, source)
    assert code == 0, err
    written = (tmp_path / "out" / "rows.csv").read_bytes()
    schema = {"id": pl.Int64, "name": pl.String, "score": pl.Float64}
    assert pl.read_csv(written, schema=schema).rows() == rows
    shutil.rmtree(tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    run_generated(spark, source)
    assert (tmp_path / "out" / "rows.csv").read_bytes() == written


def test_a_directory_or_a_symlink_loop_is_not_called_missing(capsys, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "folder.csv").mkdir()
    os.symlink(tmp_path / "in" / "loop.csv", tmp_path / "in" / "loop.csv")
    code, err = run_local(capsys, tmp_path, pipeline("folder.csv"))
    assert code == 1 and f"{tmp_path / 'in' / 'folder.csv'}: is a directory, not a file" in err
    code, err = run_local(capsys, tmp_path, pipeline("loop.csv"))
    assert code == 1 and f"{tmp_path / 'in' / 'loop.csv'}: cannot read: too many levels of symbolic links" in err


@pytest.mark.parametrize("reader, file", [("read_csv", "a*[1].csv"), ("read_json", "a*[1].jsonl"),
                                          ("read_parquet", "a*[1].parquet")])
def test_local_paths_are_literal_not_glob_patterns(capsys, tmp_path, reader, file):
    (tmp_path / "in").mkdir()
    frame = pl.DataFrame({"id": [1], "name": ["a"], "score": [1.5]})
    {"read_csv": frame.write_csv, "read_json": frame.write_ndjson,
     "read_parquet": frame.write_parquet}[reader](tmp_path / "in" / file)
    code, err = run_local(capsys, tmp_path, pipeline(file, reader))
    assert code == 0, err
    assert (tmp_path / "out" / "rows.csv").read_text() == "id,name,score\n1,a,1.5\n"
