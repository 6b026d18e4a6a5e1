"""Snapshots of what `pipec check` prints for small programs: checker and renderer together.

These pin the whole user experience of a message (code, place, label, help); when a message is
improved on purpose, update the expected text here.
"""
from __future__ import annotations

from pipec.compiler.check import check_source
from pipec.compiler.render import render_terminal, summary_line

SOURCE = """\
schema T { amount: int, label: str? }

pipeline p() {
  t = read_csv("t.csv", schema=T)
  t = read_csv("u.csv", schema=T)
  unused = t | filter(label is not null)
  t | select(amount, name = label) | write_csv("out/t.csv")
}
"""


def test_duplicate_binding_and_unused_binding():
    program = check_source(SOURCE, "dup.pipe")
    text = render_terminal(program.diagnostics, program.sources)
    text += summary_line(program.diagnostics, "dup.pipe")
    assert text == (
        "error[E0130]: the name `t` is bound twice\n"
        " --> dup.pipe:5:3\n"
        "  |\n"
        "4 |   t = read_csv(\"t.csv\", schema=T)\n"
        "  |   - first bound here\n"
        "5 |   t = read_csv(\"u.csv\", schema=T)\n"
        "  |   ^\n"
        "  |\n"
        "  = help: names are unique inside a pipeline: rename one\n"
        "\n"
        "warning[W0001]: `unused` is never used\n"
        " --> dup.pipe:6:3\n"
        "  |\n"
        "6 |   unused = t | filter(label is not null)\n"
        "  |   ^^^^^^ bound here but no sink reads it\n"
        "  |\n"
        "  = help: write it with a sink, or remove it (the optimizer drops it)\n"
        "\n"
        "error: could not check dup.pipe: 1 error, 1 warning"
    )


def test_unknown_column_points_at_the_name_and_suggests_the_fix():
    source = SOURCE.replace("  t = read_csv(\"u.csv\", schema=T)\n", "").replace("name = label", "name = lable")
    program = check_source(source, "typo.pipe")
    errors = [d for d in program.diagnostics if d.is_error]
    assert render_terminal(errors, program.sources) == (
        "error[E0201]: unknown column `lable`\n"
        " --> typo.pipe:6:29\n"
        "  |\n"
        "6 |   t | select(amount, name = lable) | write_csv(\"out/t.csv\")\n"
        "  | " + " " * 28 + "^^^^^ not a column of `t`\n"
        "  |\n"
        "  = help: did you mean `label`?\n"
        "  = note: available columns: amount, label\n"
        "\n"
    )
