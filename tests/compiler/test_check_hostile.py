"""Source files that cannot be read, nesting at the limit, and the front end's cost on big files
(issue 10, items 5 and 6): a located diagnostic and an exit code, never a traceback."""
from __future__ import annotations

import os
from pathlib import Path

import lark
import pytest

from grammar_helpers import check_bounded
from pipec.cli import main
from pipec.compiler import span as span_module
from pipec.compiler.check import check_file, check_source
from pipec.grammar import parse_yaml
from pipec.grammar.lexing import lark_parser
from pipec.grammar.newlines import MAX_NESTING

PIPE = 'pipeline p() {\n  t = read_csv("t.csv", schema={a: int})\n  t | write_csv("o.csv")\n}\n'


def only_error(path: Path) -> dict:
    program = check_file(path)
    assert len(program.diagnostics) == 1, program.diagnostics
    d = program.diagnostics[0]
    return {"code": d.code, "message": d.message,
            "at": (d.span.file, d.span.line, d.span.column) if d.span else None}


def test_bytes_that_are_not_utf8_are_named_by_line_and_column(tmp_path: Path):
    path = tmp_path / "latin1.pipe"
    path.write_bytes('pipeline p() {\n  x = "h\u00e9" '.encode() + b"\xe9t\xe9\n}\n")
    assert only_error(path) == {
        "code": "E0100", "at": (str(path), 2, 12),
        "message": f"cannot read `{path}`: byte 0xe9 at line 2, column 12 is not UTF-8 text"}


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.mkdir(), "Is a directory"),
    (lambda p: (p.symlink_to(p.with_name("b.pipe")), p.with_name("b.pipe").symlink_to(p)),
     "Too many levels of symbolic links"),
    (lambda p: None, "No such file or directory"),
], ids=["directory", "symlink-loop", "missing"])
def test_a_path_that_is_not_a_readable_file_says_why(tmp_path: Path, make, reason):
    path = tmp_path / "a.pipe"
    make(path)
    assert only_error(path) == {"code": "E0100", "message": f"cannot read `{path}`: {reason}",
                                "at": None}


def test_an_endless_source_is_cut_off():
    assert only_error(Path("/dev/zero")) == {
        "code": "E0100", "at": None,
        "message": "cannot read `/dev/zero`: it is larger than 32 MB, the most a source file may have"}


def test_an_import_that_cannot_be_read_is_not_reported_as_missing(tmp_path: Path):
    (tmp_path / "folder.pipe").mkdir()
    (tmp_path / "latin1.pipe").write_bytes(b"schema S { caf\xe9: int }\n")
    main_file = tmp_path / "main.pipe"
    main_file.write_text('import "folder.pipe"\nimport "latin1.pipe"\nimport "none.pipe"\n' + PIPE)
    found = [(d.code, d.message, Path(d.span.file).name, d.span.line, d.span.column,
              [(Path(label.span.file).name, label.span.line) for label in d.labels])
             for d in check_file(main_file).diagnostics]
    assert found == [
        ("E0100", "cannot read the imported file `folder.pipe`: Is a directory",
         "main.pipe", 1, 1, []),
        ("E0100", "cannot read the imported file `latin1.pipe`: byte 0xe9 at line 1, column 15 "
                  "is not UTF-8 text", "latin1.pipe", 1, 15, [("main.pipe", 2)]),
        ("E0101", "cannot find the imported file `none.pipe`", "main.pipe", 3, 1, []),
    ]


@pytest.mark.parametrize("command", [["fmt"], ["debug", "--stage", "ast"], ["check"]])
def test_commands_report_an_unreadable_source_without_a_traceback(tmp_path: Path, command, capsys):
    path = tmp_path / "latin1.pipe"
    path.write_bytes(b"pipeline p() {}\n# caf\xe9\n")
    assert main([*command, str(path)]) == 1
    assert "byte 0xe9 at line 2, column 6 is not UTF-8 text" in capsys.readouterr().err


def nested(depth: int) -> str:
    """A derive whose two expressions nest `depth` levels below `derive(`: brackets, and an
    operator chain (each `+` nests the terms before it)."""
    parens = "(" * (depth - 1) + "a" + ")" * (depth - 1)
    chain = " + ".join(["a"] * depth)
    return PIPE.replace('  t | write_csv', f"  t | derive(b = {parens}, c = {chain}) | write_csv")


@pytest.mark.parametrize("target", ["local", "spark", "airflow"])
def test_nesting_just_inside_the_limit_compiles_on_every_target(tmp_path: Path, target, capsys):
    path = tmp_path / "deep.pipe"
    path.write_text(nested(MAX_NESTING - 20))   # statement, chain, call and argument levels
    assert main(["compile", "--target", target, str(path), "-o", str(tmp_path / "out")]) == 0, \
        capsys.readouterr().err


def test_nesting_beyond_the_limit_is_e0006_at_its_place():
    program = check_source(nested(MAX_NESTING + 1), "deep.pipe")
    assert [(d.code, d.span.line) for d in program.diagnostics] == [("E0006", 3)]


def yaml_steps(steps: int) -> str:
    lines = ["pipeline: generated", "steps:", "  s0: {read_csv: {path: in.csv, schema: {a: int, b: float}}}"]
    lines += [f"  s{k}: {{from: s{k - 1}, do: [{{derive: 'x = a * {k} + b'}}, {{filter: 'b > {k}.5'}}]}}"
              for k in range(1, steps)]
    return "\n".join(lines + ["sinks:", f"  - {{from: s{steps - 1}, write_csv: out/g.csv}}"]) + "\n"


def test_a_yaml_file_builds_one_line_index_and_one_lexer(monkeypatch):
    """Counting the newlines before every span, and building lark's lexer for every expression,
    made a 20,000-step YAML file take minutes: each is done once per file now."""
    built = {"line indexes": 0, "lexers": 0}
    line_index_init = span_module.LineIndex.__init__
    build_lexer = lark.Lark._build_lexer

    def counting_line_index(self, text):
        built["line indexes"] += 1
        line_index_init(self, text)

    def counting_lexer(self, *args, **kwargs):
        built["lexers"] += 1
        return build_lexer(self, *args, **kwargs)

    lark_parser()   # built (or loaded from its cache) once per process, before counting
    monkeypatch.setattr(span_module.LineIndex, "__init__", counting_line_index)
    monkeypatch.setattr(lark.Lark, "_build_lexer", counting_lexer)
    module, diagnostics = parse_yaml(yaml_steps(50), "g.pipe.yaml")
    assert diagnostics == [] and len(module.declarations[0].body) == 51   # 50 steps, a sink
    assert built == {"line indexes": 1, "lexers": 0}


def test_a_large_yaml_file_checks_within_the_bound(tmp_path: Path):
    path = tmp_path / "g.pipe.yaml"
    path.write_text(yaml_steps(1000))
    code, diagnostics, _ = check_bounded(path)
    assert (code, diagnostics) == (0, [])


def test_the_renderer_shows_a_window_of_a_very_long_line(tmp_path: Path, capsys):
    path = tmp_path / "long.pipe"
    path.write_text(PIPE.replace("write_csv", "derive(" + "x = a, " * 2000 + "y = 1 +) | write_csv"))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert max(len(line) for line in err.splitlines()) < 400
    assert "x = a, x = a, y = 1 +) | write_csv" in err
    assert os.linesep.join(err.splitlines()[:2]).startswith("error[E0001]")
