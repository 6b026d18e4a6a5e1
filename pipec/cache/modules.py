"""The project's Python files a `python("pkg.module:function")` step depends on: the module of
the function, the package `__init__.py` files importing it runs, and every module of the project
those import, transitively. Editing any of them can change the step's output, so their digests
belong to the step's cache key and to the run's record.

Found by reading `import` statements (never by importing, which would run user code), and only
files under the project folder (the run's working directory, where the runtime imports from)
count: the standard library and installed packages are covered by their versions. Imports made
at run time by name (`importlib.import_module(name)`) cannot be seen.
"""
from __future__ import annotations

import ast
from pathlib import Path


def project_modules(function: str, root: Path | str) -> list[Path]:
    """The files under `root` that importing the module of `function` runs, in path order
    (empty when the module is not a file of the project, e.g. an installed package)."""
    root = Path(root).resolve()
    found: set[Path] = set()
    waiting = [function.partition(":")[0]]
    while waiting:
        name = waiting.pop()
        for path, module in _files_run_by_import(name, root):
            if path in found:
                continue
            found.add(path)
            waiting += _imported_names(path, module)
    return sorted(found)


def _files_run_by_import(name: str, root: Path) -> list[tuple[Path, str]]:
    """`import a.b.c` runs a/__init__.py, a/b/__init__.py and a/b/c.py (or a/b/c/__init__.py):
    those of them that exist under `root`, with their module names."""
    parts = name.split(".")
    files = []
    for depth in range(1, len(parts) + 1):
        module, folder = ".".join(parts[:depth]), root.joinpath(*parts[:depth])
        for candidate in (folder / "__init__.py", folder.with_suffix(".py")):
            if candidate.is_file():
                files.append((candidate, module))
                break
    return files


def _imported_names(path: Path, module: str) -> list[str]:
    """Every module name the file's import statements may load (a name imported from a module
    may itself be a submodule, so both are listed; names that are not files are dropped later)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except (SyntaxError, ValueError):
        return []  # the step reports the broken module when it imports it
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base:
                names.append(base)
            names += [f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*"]
    return names
