"""The IR is a public, serialisable form ("pipec-ir/1"): every pipeline we ship survives a JSON
round trip unchanged, and the optimizer plans the round-tripped IR exactly as the original."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipec.compiler.check import check_file
from pipec.compiler.ir import IR
from pipec.compiler.passes import optimize

ROOT = Path(__file__).parents[2]
FILES = sorted([*ROOT.glob("examples/*/*.pipe"), *ROOT.glob("examples/*/*.pipe.yaml"),
                *ROOT.glob("tests/backends/conformance/pipelines/*.pipe")])
PIPELINES = [(f, name) for f in FILES for name in check_file(f).pipelines]


@pytest.mark.parametrize("file,name", PIPELINES, ids=[f"{f.name}:{n}" for f, n in PIPELINES])
def test_ir_json_round_trip_is_lossless(file, name):
    ir = check_file(file).pipelines[name]
    document = json.loads(json.dumps(ir.to_json()))  # really JSON: no Python objects left
    again = IR.from_json(document)
    assert again.to_json() == ir.to_json()
    assert list(again.order()) == list(ir.order())
    for backend in ("local", "spark", "airflow"):
        first, second = optimize(ir, backend=backend), optimize(again, backend=backend)
        assert [s.model_dump() for s in first.stages] == [s.model_dump() for s in second.stages]
        assert first.cached == second.cached


def test_every_shipped_pipeline_is_covered():
    assert len(PIPELINES) >= 12


def test_a_document_of_another_version_is_refused():
    with pytest.raises(ValueError, match="pipec-ir/1"):
        IR.from_json({"version": "pipec-ir/0", "pipeline": "p", "nodes": []})
