"""The pages under docs/errors/ stay true: one page per code pipec can emit, and each page's
example still produces its code, prints what the page shows, and its fix removes the error.

A page's `## Example` holds the files (```pipe or ```yaml blocks; a block's file name follows the
language, `pipe schemas.pipe`, and an unnamed block is the file the command names; a ```python
block is a script that writes files too large to show, run in the example's folder) and one ```text
block: the command, `$ pipec check flights.pipe`, then what it prints. `## How to fix it` may hold
corrected files, which replace the example's files of the same name.

PIPEC_UPDATE_ERROR_PAGES=1 rewrites every page's ```text block from the current output instead of
comparing (review the diff before committing it).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = ROOT / "docs" / "errors"
SOURCE_DIR = ROOT / "pipec"
UPDATE = os.environ.get("PIPEC_UPDATE_ERROR_PAGES") == "1"

EMITTED_CODE = re.compile(r'"([EW]\d{4})"')
PAGE_FILE = re.compile(r"^([EW]\d{4})\.md$")
FENCE = re.compile(r"^```(\w*)[ \t]*(\S*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SECTIONS = ("## What it means", "## Example", "## How to fix it")
# Absolute paths in messages ("looked for /tmp/pytest-.../x.pipe") are shown under this folder.
SHOWN_WORKDIR = "/home/me/flights"


@dataclass
class Page:
    code: str
    path: Path
    text: str
    command: list[str]                 # the argv after `pipec`
    output: str                        # what the page says the command prints
    output_span: tuple[int, int]       # where that output sits in `text`
    files: dict[str, str] = field(default_factory=dict)
    fixed_files: dict[str, str] = field(default_factory=dict)
    scripts: list[str] = field(default_factory=list)  # ```python blocks that write example files


def emitted_codes() -> set[str]:
    return {code for path in SOURCE_DIR.rglob("*.py") for code in EMITTED_CODE.findall(path.read_text())}


def page_paths() -> list[Path]:
    return sorted(p for p in PAGES_DIR.iterdir() if PAGE_FILE.match(p.name))


def load_page(path: Path) -> Page:
    text = path.read_text(encoding="utf-8")
    code = PAGE_FILE.match(path.name).group(1)
    positions = [text.find(s + "\n") for s in SECTIONS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), \
        f"{path.name}: needs the sections {', '.join(SECTIONS)}, in this order"
    example = (positions[1], positions[2])
    outputs = [m for m in FENCE.finditer(text, *example) if m.group(1) == "text"]
    assert len(outputs) == 1, f"{path.name}: `## Example` needs exactly one ```text block"
    first_line, _, printed = outputs[0].group(3).partition("\n")
    assert first_line.startswith("$ pipec "), f"{path.name}: the ```text block starts with `$ pipec ...`"
    command = shlex.split(first_line[len("$ pipec "):])
    page = Page(code=code, path=path, text=text, command=command, output=printed,
                output_span=(outputs[0].start(3), outputs[0].end(3)))
    target = _command_file(command)
    page.files = _files(FENCE.finditer(text, *example), target)
    page.scripts = [m.group(3) for m in FENCE.finditer(text, *example) if m.group(1) == "python"]
    page.fixed_files = _files(FENCE.finditer(text, positions[2]), target)
    return page


def _command_file(argv: list[str]) -> str:
    from pipec.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.files[0] if args.command == "check" else args.file


def _files(fences, default_name: str) -> dict[str, str]:
    return {(m.group(2) or default_name): m.group(3) for m in fences if m.group(1) in ("pipe", "yaml")}


PAGES = [load_page(p) for p in page_paths()]


# ---------------------------------------------------------------- running a page's command
def diagnostics(argv: list[str]):
    """The diagnostics the command reports, through the library API (not the printed text)."""
    import pipec
    from pipec.backends.base import get_backend
    from pipec.cli import build_parser
    from pipec.compiler.check import check_file

    args = build_parser().parse_args(argv)
    params = dict(pair.split("=", 1) for pair in args.param)
    if args.command == "check":
        return [d for f in args.files for d in check_file(f, params).diagnostics]
    program = check_file(args.file, params)
    if args.command == "compile":
        backend = get_backend(args.target)
        return program.diagnostics + [d for ir in program.pipelines.values() for d in backend.check_supported(ir)]
    if args.command == "run":
        with pytest.raises(pipec.PipecError) as raised:  # a run page is about a mistake found before running
            pipec.run(args.file, params, pipeline=args.pipeline)
        return program.diagnostics + raised.value.diagnostics
    raise AssertionError(f"pages use `check`, `compile` or `run`, not `{args.command}`")


def printed(argv: list[str], workdir: Path) -> str:
    """What `pipec ARGV` prints to the terminal (stderr and stdout, in order, without colour)."""
    from pipec import cli

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            cli.main(argv)
        except SystemExit:
            pass
    text = buffer.getvalue()
    for folder in {str(workdir), str(workdir.resolve())}:
        text = text.replace(folder, SHOWN_WORKDIR)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def write_files(files: dict[str, str], workdir: Path, scripts: list[str] = ()) -> None:
    for script in scripts:
        exec(compile(script, "<page script>", "exec"), {})
    for name, content in files.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(content, encoding="utf-8")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


by_code = pytest.mark.parametrize("page", PAGES, ids=[p.code for p in PAGES])
# Some fixes are not a change to the files (E0100: the path; E0124: the `-p`); CI forbids skips.
with_fix = pytest.mark.parametrize("page", [p for p in PAGES if p.fixed_files],
                                   ids=[p.code for p in PAGES if p.fixed_files])


# ---------------------------------------------------------------- the tests
def test_every_emitted_code_has_a_page():
    missing = emitted_codes() - {p.code for p in PAGES}
    assert not missing, f"codes without a page under docs/errors/: {sorted(missing)}"


def test_every_page_is_for_a_code_pipec_emits():
    stale = {p.code for p in PAGES} - emitted_codes()
    assert not stale, f"pages for codes nothing in pipec/ emits any more: {sorted(stale)}"


def test_index_lists_exactly_the_pages():
    index = (PAGES_DIR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \[([EW]\d{4})\]\(([EW]\d{4})\.md\) \| (.+) \|$", index, re.M)
    assert [code for code, _, _ in rows] == [p.code for p in PAGES]
    for code, link, title in rows:
        page = PAGES_DIR / f"{link}.md"
        assert link == code and page.exists()
        assert page.read_text(encoding="utf-8").startswith(f"# {code}: {title}\n"), \
            f"the index's title for {code} differs from its page's"


@by_code
def test_example_reports_its_code(page: Page, workdir: Path):
    write_files(page.files, workdir, page.scripts)
    codes = [d.code for d in diagnostics(page.command)]
    assert page.code in codes, f"{page.path.name}: the example reports {codes}"


@by_code
def test_page_shows_what_pipec_prints(page: Page, workdir: Path):
    write_files(page.files, workdir, page.scripts)
    output = printed(page.command, workdir)
    if UPDATE:
        start, end = page.output_span
        first_line = page.text[start:end].partition("\n")[0]
        page.path.write_text(page.text[:start] + first_line + "\n" + output + page.text[end:], encoding="utf-8")
        return
    assert output == page.output, f"{page.path.name} is out of date: rerun with PIPEC_UPDATE_ERROR_PAGES=1"


@with_fix
def test_fix_removes_the_problem(page: Page, workdir: Path):
    write_files({**page.files, **page.fixed_files}, workdir)
    left = [d for d in diagnostics(page.command) if d.is_error or d.code == page.code]
    assert not left, f"{page.path.name}: the fixed files still report {[(d.code, d.message) for d in left]}"
