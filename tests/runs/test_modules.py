"""Which project files a python() step depends on: its module and what it imports, transitively."""
from __future__ import annotations

from pathlib import Path

from pipec.cache.modules import project_modules


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root.resolve()).as_posix() for p in paths]


def test_the_module_and_every_project_module_it_imports_transitively(tmp_path):
    write(tmp_path, {
        "steps.py": "import json\nimport features.helpers\nfrom shared import util\n",
        "features/__init__.py": "",
        "features/helpers.py": "from . import units\nfrom .deep.more import x\n",
        "features/units.py": "import numpy\n",
        "features/deep/more.py": "from ..units import metres\n",
        "shared/__init__.py": "",
        "shared/util.py": "import steps  # a cycle\n",
        "unused.py": "",
    })
    assert names(project_modules("steps:fn", tmp_path), tmp_path) == [
        "features/__init__.py", "features/deep/more.py", "features/helpers.py", "features/units.py",
        "shared/__init__.py", "shared/util.py", "steps.py"]


def test_a_dotted_module_runs_its_packages_init_files(tmp_path):
    write(tmp_path, {"pkg/__init__.py": "from .config import SETTINGS\n", "pkg/config.py": "",
                     "pkg/sub/__init__.py": "", "pkg/sub/mod.py": "def fn(df):\n    return df\n"})
    assert names(project_modules("pkg.sub.mod:fn", tmp_path), tmp_path) == [
        "pkg/__init__.py", "pkg/config.py", "pkg/sub/__init__.py", "pkg/sub/mod.py"]


def test_installed_modules_and_unparsable_files_add_nothing(tmp_path):
    assert project_modules("json:loads", tmp_path) == []
    write(tmp_path, {"broken.py": "def (:\n"})
    assert names(project_modules("broken:fn", tmp_path), tmp_path) == ["broken.py"]
