"""Hostile input ends quickly, in bounded memory, with a located diagnostic (issue 10, item 5/6).

Each file is checked by `pipec check` in a child process with a CPU-time and address-space limit
(grammar_helpers.check_bounded): a regression to "never finishes" fails instead of hanging. The
files of one test are checked by one process, to keep the suite fast.
"""
from __future__ import annotations

from pathlib import Path

from grammar_helpers import check_bounded
from pipec.grammar.newlines import MAX_NESTING
from pipec.grammar.yaml_limits import MAX_YAML_DEPTH

PIPE_HEAD = 'pipeline p() {\n  t = read_csv("t.csv", schema={a: int})\n'


def billion_laughs(levels: int = 10) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + f"\npipeline: *a{levels - 1}\n"


def by_file(diagnostics: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for d in diagnostics:
        found.setdefault(Path(d["file"]).name if d["file"] else None, []).append(d)
    return found


def where(d: dict) -> tuple[str, int, int]:
    return d["code"], d["line"], d["column"]


def test_yaml_aliases_tags_and_nesting_are_rejected_where_they_are(tmp_path: Path):
    marker = tmp_path / "executed"
    files = {
        # 11 + 110 + 1,110 nodes from a0-a2, then the 8th alias of a3 crosses 10,000
        "laughs.pipe.yaml": billion_laughs(),
        "cycle.pipe.yaml": "pipeline: p\noptions: &o {tags: [*o]}\n",
        "python_tag.pipe.yaml": f'pipeline: p\noptions: {{owner: !!python/object/apply:os.system '
                                f'["touch {marker}"]}}\n',
        "local_tag.pipe.yaml": "pipeline: p\noptions:\n  owner: !me x\n",
        "str_tag.pipe.yaml": "pipeline: !!str p\n",
        "map_tag.pipe.yaml": "pipeline: p\noptions: !!map {owner: x}\n",
        "flow_depth.pipe.yaml": "pipeline: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "block_depth.pipe.yaml": "".join(f"{'  ' * i}k:\n" for i in range(200)),
        # each alias is shallow, but expanded they nest 70 deep
        "alias_depth.pipe.yaml": "b0: &b0 [x]\n" + "".join(
            f"b{i}: &b{i} [*b{i - 1}]\n" for i in range(1, 70)) + "pipeline: p\n",
    }
    found, diagnostics = checked_positions(tmp_path, files)
    assert found == {
        "laughs.pipe.yaml": [("E0014", 4, 38)],
        "cycle.pipe.yaml": [("E0014", 2, 21)],
        "python_tag.pipe.yaml": [("E0014", 2, 18)],
        "local_tag.pipe.yaml": [("E0014", 3, 10)],
        "str_tag.pipe.yaml": [("E0014", 1, 11)],
        "map_tag.pipe.yaml": [("E0014", 2, 10)],
        "flow_depth.pipe.yaml": [("E0006", 1, 10 + MAX_YAML_DEPTH)],
        "block_depth.pipe.yaml": [("E0006", MAX_YAML_DEPTH, 2 * MAX_YAML_DEPTH - 1)],
        "alias_depth.pipe.yaml": [("E0006", 63, 12)],
    }
    messages = {Path(d["file"]).name: d["message"] for d in diagnostics}
    assert messages["python_tag.pipe.yaml"] == \
        "explicit YAML tags are not accepted: `!!python/object/apply:os.system`"
    assert messages["laughs.pipe.yaml"] == "YAML aliases expand to more than 10,000 nodes"
    assert not marker.exists()


def test_a_few_aliases_are_still_read(tmp_path: Path):
    path = tmp_path / "anchors.pipe.yaml"
    path.write_text(
        "pipeline: p\nsteps:\n"
        "  a: {read_csv: {path: a.csv, schema: &s {x: int, y: str}}}\n"
        "  b: {read_csv: {path: b.csv, schema: *s}}\n"
        "sinks:\n  - {from: a, write_csv: out/a.csv}\n  - {from: b, write_csv: out/b.csv}\n",
        encoding="utf-8")
    assert check_bounded(path)[:2] == (0, [])


def test_huge_and_deep_pipe_input_ends_with_a_located_diagnostic(tmp_path: Path):
    chain = " + ".join(["a"] * 5000)
    files = {
        "parens.pipe": "(" * 1_000_000,
        "deep.pipe": PIPE_HEAD + "  t | derive(b = " + "(" * 5000 + "a" + ")" * 5000 + ")\n}\n",
        "chain.pipe": PIPE_HEAD + f"  t | derive(b = {chain}) | write_csv(\"o.csv\")\n}}\n",
        "nul.pipe": PIPE_HEAD + "  t | filter(a > \0) | write_csv(\"o.csv\")\n}\n",
        "yaml_chain.pipe.yaml": "pipeline: p\nsteps:\n  t:\n    read_csv: {path: t.csv, schema: {a: int}}\n"
                                f"    do: [{{filter: '{chain} > 0'}}]\n",
    }
    found, _ = checked_positions(tmp_path, files)
    assert found == {
        "parens.pipe": [("E0006", 1, MAX_NESTING + 1)],
        "deep.pipe": [("E0006", 3, 16 + MAX_NESTING)],   # `derive(` is the first level
        # the deepest path of a left-nested chain starts at its first term
        "chain.pipe": [("E0006", 3, 18)],
        "nul.pipe": [("E0002", 3, 18)],
        "yaml_chain.pipe.yaml": [("E0006", 5, 20)],
    }


def test_a_huge_valid_file_of_long_lines_and_big_scalars_checks(tmp_path: Path):
    items = ", ".join(f"x{i} = a + {i}" for i in range(5000))
    pipe = tmp_path / "wide.pipe"
    pipe.write_text(PIPE_HEAD + f"  t | derive({items}) | write_csv(\"o.csv\")\n}}\n", encoding="utf-8")
    yaml = tmp_path / "scalar.pipe.yaml"
    yaml.write_text("pipeline: p\ndescription: " + "x" * 500_000 + "\nsteps:\n"
                    "  t: {read_csv: {path: t.csv, schema: {a: int}}}\n"
                    "sinks:\n  - {from: t, write_csv: out/t.csv}\n", encoding="utf-8")
    assert check_bounded(pipe, yaml)[:2] == (0, [])


def checked_positions(folder, files: dict[str, str]) -> tuple[dict[str, list[tuple[str, int, int]]], list[dict]]:
    """Write `files` into `folder`, check them all in one bounded child (which must fail), and
    give each file's diagnostics as (code, line, column), and the diagnostics themselves."""
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    code, diagnostics, _ = check_bounded(*(folder / name for name in files))
    assert code == 1
    return {name: [where(d) for d in ds] for name, ds in by_file(diagnostics).items()}, diagnostics
