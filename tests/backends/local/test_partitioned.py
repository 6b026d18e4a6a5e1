"""Hive-style partitioned datasets on the local backend: typed partition columns, the defined row
order, partition pruning measured by the files opened, and partitioned sinks that replace only
the partitions a run produced (docs/semantics.md, "Partitioned datasets")."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from local_irkit import plan_for
from pipec.backends.local.runner import run_plan
from pipec.backends.local.runtime import PipelineRunError
from pipec.runtime_contract import run_context

SCHEMA = "schema F { day: date, n: int, carrier: str, delay: int? }"


def make_dataset(root: Path) -> None:
    """day=2013-01-0{1,2,3} / n=9 and n=10 (typed order: 9 before 10), two files in each."""
    for day in ("2013-01-03", "2013-01-01", "2013-01-02"):
        for n in (10, 9):
            folder = root / f"day={day}" / f"n={n}"
            folder.mkdir(parents=True)
            (folder / "b.csv").write_text(f"carrier,delay\nB{day[-1]}{n},{n}\n")
            (folder / "a.csv").write_text(f"carrier,delay\nA{day[-1]}{n},\n")
            (folder / "_SUCCESS").write_text("")


def run(tmp_path: Path, body: str, optimized: bool = True, run_date: str = "2013-01-02"):
    plan = plan_for(f"{SCHEMA}\npipeline p {{\n{body}\n}}", tmp_path, optimized=optimized)
    return run_plan(plan, run_context(run_date), tmp_path, use_cache=False)


def files_opened(result) -> int:
    return sum(stats.get("files", 0) for stats in result.node_stats.values())


READ = 'read_csv("data", schema=F, partition_by=[day, n])'


@pytest.mark.parametrize("optimized", [False, True])
def test_rows_come_in_partition_value_order_then_file_name_order(tmp_path, optimized):
    make_dataset(tmp_path / "data")
    run(tmp_path, f'{READ} | write_csv("out.csv")', optimized)
    got = pl.read_csv(tmp_path / "out.csv", try_parse_dates=True)
    assert got.columns == ["day", "n", "carrier", "delay"]
    assert got["carrier"].to_list() == [f"{f}{d}{n}" for d in "123" for n in (9, 10) for f in "AB"]
    assert got.schema["day"] == pl.Date and got.schema["n"] == pl.Int64


@pytest.mark.parametrize("optimized", [False, True])
def test_a_filter_on_the_run_date_opens_only_that_partition(tmp_path, optimized):
    make_dataset(tmp_path / "data")
    """At -O0 the filter is above `derive`; predicate pushdown moves it onto the scan."""
    result = run(tmp_path, f'{READ} | derive(late = delay > 5) | filter(day == run.date and late is null)'
                 ' | write_csv("out.csv")', optimized)
    assert (tmp_path / "out.csv").read_text() == (
        "day,n,carrier,delay,late\n2013-01-02,9,A29,,\n2013-01-02,10,A210,,\n")
    assert files_opened(result) == (4 if optimized else 12)  # 2 of 6 partitions at -O1


def test_filters_of_several_consumers_keep_the_union_of_their_partitions(tmp_path):
    make_dataset(tmp_path / "data")
    result = run(tmp_path, f"""
  flights = {READ}
  flights | filter(n == 9 and day >= run.date) | write_csv("nine.csv")
  flights | filter(day < run.date) | write_csv("before.csv")""")
    assert files_opened(result) == 8  # (day 1, n 9 and 10), (day 2, n 9), (day 3, n 9)
    assert pl.read_csv(tmp_path / "nine.csv")["carrier"].to_list() == ["A29", "B29", "A39", "B39"]
    assert pl.read_csv(tmp_path / "before.csv")["carrier"].to_list() == ["A19", "B19", "A110", "B110"]


def test_a_consumer_that_is_not_a_filter_reads_every_partition(tmp_path):
    make_dataset(tmp_path / "data")
    result = run(tmp_path, f"""
  flights = {READ}
  flights | filter(day == run.date) | write_csv("one.csv")
  flights | write_csv("all.csv")""")
    assert files_opened(result) == 12
    assert len(pl.read_csv(tmp_path / "all.csv")) == 12


def test_a_partition_value_of_the_wrong_type_names_its_folder(tmp_path):
    make_dataset(tmp_path / "data")
    (tmp_path / "data/day=2013-01-01/n=ten").mkdir()
    with pytest.raises(PipelineRunError, match=r"n=ten: the partition value 'ten' is not an integer"):
        run(tmp_path, f'{READ} | write_csv("out.csv")')


def test_a_stray_entry_or_a_missing_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(PipelineRunError, match=r"data: no such folder"):
        run(tmp_path, f'{READ} | write_csv("out.csv")')
    make_dataset(tmp_path / "data")
    (tmp_path / "data/notes.txt").write_text("")
    with pytest.raises(PipelineRunError, match=r"notes.txt: expected only folders named `day=<value>`"):
        run(tmp_path, f'{READ} | write_csv("out.csv")')


def test_a_null_partition_is_the_hive_default_and_comes_last(tmp_path):
    root = tmp_path / "data"
    for folder in ("k=__HIVE_DEFAULT_PARTITION__", "k=b%2Fc", "k=a"):
        (root / folder).mkdir(parents=True)
        (root / folder / "part-0.csv").write_text(f"v\n{folder}\n")
    plan = plan_for('pipeline p {\n read_csv("data", schema={k: str?, v: str}, partition_by=[k])'
                    ' | write_csv("out.csv")\n}', tmp_path, optimized=True)
    run_plan(plan, {}, tmp_path)
    assert (tmp_path / "out.csv").read_text() == "k,v\na,k=a\nb/c,k=b%2Fc\n,k=__HIVE_DEFAULT_PARTITION__\n"


# -- partitioned sinks
WRITE = '{READ} | filter(day == run.date) | write_parquet("out", partition_by=[day, carrier])'


def test_a_partitioned_sink_replaces_only_the_partitions_the_run_produced(tmp_path):
    make_dataset(tmp_path / "data")
    body = WRITE.format(READ=READ)
    run(tmp_path, body, run_date="2013-01-01")
    first = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("part-0.parquet"))
    assert len(first) == 4 and all(p.startswith("day=2013-01-01/") for p in first)
    user_file = tmp_path / "out/README"
    user_file.write_text("mine")
    before = (tmp_path / "out/day=2013-01-01/carrier=A19/part-0.parquet").read_bytes()
    run(tmp_path, body, run_date="2013-01-02")
    assert user_file.read_text() == "mine"
    assert (tmp_path / "out/day=2013-01-01/carrier=A19/part-0.parquet").read_bytes() == before
    back = pl.read_parquet(tmp_path / "out/day=2013-01-02/carrier=B210/part-0.parquet")
    assert back.to_dicts() == [{"n": 10, "delay": 10}]
    assert not [p for p in (tmp_path / "out").rglob(".*.pipec-*")], "a staged partition was left behind"


def test_reading_back_what_a_partitioned_sink_wrote_gives_the_same_rows(tmp_path):
    make_dataset(tmp_path / "data")
    run(tmp_path, f"""
  all = {READ}
  all | write_csv("all.csv")
  all | write_json("copy", partition_by=[day, n])""")
    run(tmp_path, 'read_json("copy", schema=F, partition_by=[day, n]) | write_csv("again.csv")')
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "all.csv").read_bytes()


def test_a_partition_folder_pipec_did_not_write_is_not_replaced(tmp_path):
    make_dataset(tmp_path / "data")
    mine = tmp_path / "out/day=2013-01-02/carrier=A29"
    mine.mkdir(parents=True)
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(PipelineRunError, match="carrier=A29: it is a folder pipec did not write"):
        run(tmp_path, WRITE.format(READ=READ))
    assert (mine / "keep.txt").read_text() == "mine"
    assert [p.name for p in (tmp_path / "out/day=2013-01-02").iterdir()] == ["carrier=A29"]


def test_a_failed_run_leaves_every_old_partition_as_it_was(tmp_path):
    make_dataset(tmp_path / "data")
    run(tmp_path, WRITE.format(READ=READ))
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    failing = WRITE.format(READ=READ).replace("write_parquet", "expect(row_count() > 100) | write_parquet")
    with pytest.raises(PipelineRunError):
        run(tmp_path, failing)
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before


def test_a_changed_file_in_one_partition_changes_the_stage_key(tmp_path):
    from pipec.backends.local.stage_keys import input_digests
    from pipec.cache.digests import StatCache

    make_dataset(tmp_path / "data")
    plan = plan_for(f"{SCHEMA}\npipeline p {{\n{READ} | write_csv(\"out.csv\")\n}}", tmp_path, optimized=True)
    nodes = list(plan.ir.nodes())

    def digest():
        return input_digests(nodes, {}, tmp_path, StatCache(None))

    first = digest()
    assert list(first) == ["data"] and first["data"] is not None
    (tmp_path / "data/day=2013-01-02/n=9/b.csv").write_text("carrier,delay\nB29,99\n")
    assert digest() != first


def test_a_stage_with_a_partitioned_sink_runs_again_and_rewrites_its_partitions(tmp_path):
    """Its partitions are not stored for reuse: a rerun with nothing changed writes them again
    (rather than restoring a single file at the dataset's path)."""
    make_dataset(tmp_path / "data")
    plan = plan_for(f"{SCHEMA}\npipeline p {{\n{READ} | write_csv(\"out\", partition_by=[n])\n}}", tmp_path,
                    optimized=True)
    for _ in range(2):
        result = run_plan(plan, {}, tmp_path)
        assert sorted(s.path.rsplit("/", 1)[1] for s in result.sinks) == ["n=10", "n=9"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_only_the_used_columns_are_read_and_a_partition_column_alone_keeps_the_row_count(tmp_path, fmt):
    make_dataset(tmp_path / "data")
    if fmt == "json":
        run(tmp_path, f'{READ} | write_json("copy", partition_by=[day, n])')
    source = READ if fmt == "csv" else READ.replace('read_csv("data"', 'read_json("copy"')
    result = run(tmp_path, f"""
  flights = {source}
  flights | select(day) | write_csv("days.csv")
  flights | select(carrier) | write_csv("carriers.csv")""")
    assert (tmp_path / "days.csv").read_text().count("2013-01-02") == 4
    assert len(pl.read_csv(tmp_path / "carriers.csv")) == 12
    assert not result.warnings
