"""The generated module runs with polars + scikit-learn and a copy of runtime.py, without pipec
(the Airflow backend ships it that way), and importing the runtime is cheap."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from local_irkit import plan_for
from pipec import runtime_contract
from pipec.backends import commit, postgres
from pipec.backends.airflow.backend import runtime_for_support
from pipec.backends.airflow.task_io import COMMIT_MODULE, CONTRACT_MODULE, DATABASE_MODULE
from pipec.backends.local.codegen import generate_module

SOURCE = """
pipeline t() {
  param cutoff: int = 2
  rows = read_csv("in.csv", schema={id: int, v: float?})
  rows | filter(id >= $cutoff) | aggregate(n=count(), total=sum(v)) | write_csv("out/r.csv")
}
"""

DRIVER = """
import sys
sys.path.insert(0, ".")
import generated as g
import pipec_local_runtime as rt
assert "pipec" not in sys.modules, "the generated code imported pipec"
ctx = rt.RunContext({**g.PARAMS, "cutoff": 1}, ".")
values = {}
for stage in g.STAGES:
    values.update(getattr(g, stage["fn"])(ctx, {i: values[i] for i in stage["inputs"]}))
ctx.commit()
"""


def test_generated_module_needs_only_polars_and_a_runtime_copy(tmp_path):
    plan = plan_for(SOURCE, tmp_path, optimized=True)
    (tmp_path / "generated.py").write_text(generate_module(plan, "pipec_local_runtime"))
    _runtime_copy(tmp_path)
    (tmp_path / "in.csv").write_text("id,v\n1,1.5\n2,\n3,2.0\n")
    (tmp_path / "driver.py").write_text(DRIVER)
    subprocess.run([sys.executable, "-I", "driver.py"], cwd=tmp_path, check=True)
    assert (tmp_path / "out" / "r.csv").read_text() == "n,total\n3,3.5\n"


def test_importing_the_runtime_imports_no_heavy_library(tmp_path):
    copy = _runtime_copy(tmp_path)
    code = ("import sys, importlib.util as u; sys.path.insert(0, sys.argv[2]); "
            "s = u.spec_from_file_location('rt', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); "
            "print(sorted({'polars', 'pandas', 'numpy', 'sklearn', 'pipec'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(copy), str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _runtime_copy(folder: Path) -> Path:
    """The runtime as it is copied beside generated code: with its own copies of the commit
    protocol, the runtime contract and the PostgreSQL support."""
    copy = folder / "pipec_local_runtime.py"
    copy.write_text(runtime_for_support())
    shutil.copy(commit.__file__, folder / f"{COMMIT_MODULE}.py")
    shutil.copy(runtime_contract.__file__, folder / f"{CONTRACT_MODULE}.py")
    shutil.copy(postgres.__file__, folder / f"{DATABASE_MODULE}.py")
    return copy
