"""The OpenLineage datasets each task of a generated DAG declares as its inlets (the files it reads)
and outlets (the sinks it computes, with their schema and column-lineage facets), so that
apache-airflow-providers-openlineage sends them in the task's events (docs/lineage.md).

They are written at compile time as OpenLineage JSON into a small file beside the DAG
(`pipec_support/<pipeline>_lineage.json`), which the DAG reads when it is parsed: parsing
computes nothing. Paths stay as the pipeline writes them (params at their defaults); the DAG
resolves relative ones against its base folder, as it does for its Assets. Writing the file needs
the openlineage-python client at compile time; without it no file is written and the tasks
declare nothing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipec.compiler.plan import Plan
from pipec.lineage.openlineage import Datasets
from pipec.runtime_contract import substitute

DIRECTIONS = ("inlets", "outlets")


def lineage_file(pipeline: str) -> str:
    return f"{pipeline}_lineage.json"


class _AsWritten(Datasets):
    """Files named by their paths as the pipeline writes them, resolved where the DAG runs."""

    def path(self, node) -> Path:
        return Path(substitute(node.args.path, self.params))


def declares(node, direction: str) -> bool:
    """Whether `node` is a file its task declares in `direction`."""
    return node.is_source if direction == "inlets" else node.is_sink


def lineage_json(plan: Plan, task_stages: dict[str, list[str]]) -> str | None:
    """The file's text for the tasks (task id -> the nodes it runs), or None without the client."""
    try:
        from openlineage.client.serde import Serde
    except ImportError:
        return None
    datasets = _AsWritten(plan.ir, {p.name: p.default for p in plan.ir.params}, Path("."))
    known = {"inlets": {d.name: d for d in datasets.inputs()}, "outlets": {d.name: d for d in datasets.outputs()}}

    def plain(dataset) -> dict[str, Any]:
        return {"namespace": dataset.namespace, "name": dataset.name, "facets": {name: Serde.to_dict(facet) for name, facet in dataset.facets.items()}}

    tasks: dict[str, dict[str, list]] = {}
    for task_id, nodes in task_stages.items():
        declared = {direction: [plain(known[direction][str(datasets.path(node))])
                                for node in map(plan.ir.node, nodes) if declares(node, direction)]
                    for direction in DIRECTIONS}
        if any(declared.values()):
            tasks[task_id] = declared
    return json.dumps({"tasks": tasks}, indent=1, sort_keys=True) + "\n"
