"""Snapshots of what pipec generates for the example and conformance pipelines.

Why: a refactor of the compiler must not change a byte of generated code, the IR JSON or
`explain`, and a feature that does change them should show the change in review. `render_all`
compiles every pipeline to every target through the command line (in-process) with fixed flags,
so the texts do not depend on the machine; `python -m tests.golden.snapshot --update` rewrites
the stored snapshots after a deliberate change.

The runtimes copied beside generated code (and embedded at the top of a Spark job) are not part of
the snapshot: they are the same for every pipeline and tested by running them.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
PIPELINES = sorted(
    [*REPO.glob("examples/*/*.pipe"), *REPO.glob("examples/*/*.pipe.yaml"),
     *REPO.glob("tests/backends/conformance/pipelines/*.pipe")]
)
BASE = "/srv/pipec-project"  # fixed `--base-dir`, so DAGs do not name this machine's paths
FIXED = ["--memory-budget", "4G"]
SPARK_PIPELINE_MARK = "# ============================================================ pipeline "
RUNTIME_COPIES = {"pipec_local_runtime.py", "pipec_commit.py", "pipec_task_io.py", "pipec_contract.py",
                  "pipec_digests.py", "pipec_postgres.py"}


def _pipec(argv: list[str]) -> str:
    """Run the pipec command line in-process; its standard output (a non-zero exit raises)."""
    from pipec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"pipec {' '.join(argv)} exited {code}: {err.getvalue()}")
    return out.getvalue()


def _generated_part(path: Path) -> str:
    """A generated file without the runtime embedded at the top of a Spark job."""
    text = path.read_text()
    at = text.find(SPARK_PIPELINE_MARK)
    return text[at:] if at >= 0 else text


def _compiled(source: Path, target: str, extra: list[str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        _pipec(["compile", "--target", target, "-o", str(out), *FIXED, *extra, str(source)])
        files = [out] if out.is_file() else sorted(p for p in out.rglob("*") if p.is_file())
        return {
            (p.relative_to(out).as_posix() if p != out else "ir.json"): _generated_part(p)
            for p in files if p.name not in RUNTIME_COPIES and p.name != ".airflowignore"
        }


def render_all() -> dict[str, str]:
    """{snapshot file name: text} for every pipeline, target and flag set. Sources are named
    relative to the repository, as a user in the project folder would name them, from a scratch
    folder linking to it: statistics a run recorded in the repository's `.pipec/` are not read."""
    import os

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as project:
        for top in {p.relative_to(REPO).parts[0] for p in PIPELINES}:
            os.symlink(REPO / top, Path(project) / top)
        os.chdir(project)
        try:
            return _render_all()
        finally:
            os.chdir(here)


def _render_all() -> dict[str, str]:
    texts: dict[str, str] = {}
    airflow = ["--base-dir", BASE, "--storage-root", f"{BASE}/.pipec/airflow"]
    for source in (p.relative_to(REPO) for p in PIPELINES):
        stem = source.name.replace(".", "_")
        group = source.parent.name
        variants = {
            "ir": ("ir", []), "ir-O0": ("ir", ["-O0"]), "local": ("local", []),
            "local-O0": ("local", ["-O0"]), "spark": ("spark", []),
            "airflow": ("airflow", airflow), "airflow-spark": ("airflow", [*airflow, "--engine", "spark"]),
        }
        for variant, (target, extra) in variants.items():
            for name, text in _compiled(source, target, extra).items():
                texts[f"{group}/{stem}/{variant}/{name.replace('/', '__')}"] = text
        with tempfile.TemporaryDirectory() as workdir:
            for target in ("local", "spark", "airflow"):
                for fmt in ("text", "json"):
                    texts[f"{group}/{stem}/explain-{target}.{fmt}"] = _pipec(
                        ["explain", "--target", target, "--format", fmt, "--workdir", workdir,
                         *FIXED, str(source)])
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the stored snapshots")
    args = parser.parse_args()
    texts = render_all()
    if args.update:
        import shutil

        shutil.rmtree(SNAPSHOTS, ignore_errors=True)
        for name, text in texts.items():
            path = SNAPSHOTS / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        print(f"wrote {len(texts)} snapshots under {SNAPSHOTS.relative_to(REPO)}")
        return 0
    stored = {p.relative_to(SNAPSHOTS).as_posix(): p.read_text() for p in SNAPSHOTS.rglob("*") if p.is_file()}
    changed = sorted(n for n in texts.keys() | stored.keys() if texts.get(n) != stored.get(n))
    print("\n".join(changed) or "all snapshots match")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
