"""The layout of issue 11, kept: a step is named (as a string) only by its own module in
pipec/stdlib/steps/ and by its one emitter module in each backend, and nothing outside the step
modules tests a step by name, so a new step is one module plus its emitters.

`step_names_in` and `step_tests_in` take the folder to inspect, so they can be pointed at an older
tree of pipec too (on the layout before issue 11 they find `distinct` in 8 modules and about a
hundred `step ==` tests)."""
from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pipec
from pipec.backends.local.codegen import EMITTERS as LOCAL_EMITTERS
from pipec.backends.spark.codegen import EMITTERS as SPARK_EMITTERS
from pipec.stdlib.steps import STEPS

PIPEC = Path(pipec.__file__).resolve().parent
STEP_MODULES = PIPEC / "stdlib" / "steps"
# The backends' membership check of their own registry (E0601): `node.step not in backend.supported_steps`.
REGISTRY_LOOKUPS = {"supported_steps"}


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def step_names_in(root: Path, names: set[str]) -> dict[str, set[Path]]:
    """Step name -> the modules under `root` that hold it as a string literal."""
    where: dict[str, set[Path]] = defaultdict(set)
    for path in _modules(root):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                where[node.value].add(path)
    return where


def _is_step(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "step") or (isinstance(node, ast.Attribute) and node.attr == "step")


def _is_registry(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    return name in REGISTRY_LOOKUPS


def step_tests_in(root: Path, step_modules: Path) -> list[str]:
    """`path:line` of each comparison (`==`, `!=`, `in`, `not in`) of a `step`/`x.step` outside
    the step modules, except a lookup in a backend's registry."""
    found = []
    for path in _modules(root):
        if path.is_relative_to(step_modules):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            if not all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(_is_step(o) for o in operands) and not any(_is_registry(o) for o in operands):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def _own_module(name: str) -> Path:
    return Path(sys.modules[STEPS[name].rule.__module__].__file__).resolve()


def _emitter_modules(name: str) -> set[Path]:
    """The module of each backend's emitter of `name` (one per backend)."""
    functions = [LOCAL_EMITTERS[name].code if name in LOCAL_EMITTERS else None,
                 SPARK_EMITTERS[name].write if name in SPARK_EMITTERS else None]
    return {Path(sys.modules[f.__module__].__file__).resolve() for f in functions if f is not None}


def test_a_step_name_is_written_only_in_its_module_and_its_emitters():
    where = step_names_in(PIPEC, set(STEPS))
    assert where, "no step name found at all: the search is broken"
    for name, modules in where.items():
        allowed = {_own_module(name), *_emitter_modules(name)}
        assert _own_module(name).is_relative_to(STEP_MODULES), name
        assert modules <= allowed and len(modules) <= 3, (
            name, sorted(str(m.relative_to(PIPEC)) for m in modules - allowed))


def test_no_step_is_tested_by_name_outside_the_step_modules():
    assert step_tests_in(PIPEC, STEP_MODULES) == []


def test_the_checks_find_what_they_look_for(tmp_path):
    """Both checks see a module that names a step and tests it, so an empty answer means something."""
    package = tmp_path / "pipec"
    (package / "passes").mkdir(parents=True)
    (package / "passes" / "rule.py").write_text(
        'def f(node, backend):\n'
        '    if node.step == "distinct" or node.step in ("sort",):\n'
        '        return node.step not in backend.supported_steps\n')
    assert step_names_in(package, {"distinct", "sort", "join"}) == {
        "distinct": {package / "passes" / "rule.py"}, "sort": {package / "passes" / "rule.py"}}
    assert step_tests_in(package, package / "stdlib" / "steps") == ["pipec/passes/rule.py:2", "pipec/passes/rule.py:2"]
