"""Validate OpenLineage events against the OpenLineage JSON schema, offline.

The client ships no schema, so the spec is vendored in tests/lineage/openlineage_spec (from
github.com/OpenLineage/OpenLineage, spec/; Apache-2.0, see its LICENSE and NOTICE.txt). An event
is checked against the core schema (OpenLineage.json), and each facet whose `_schemaURL` names a
facet of the spec against that facet's schema, at the version it names (a facet of another
producer, e.g. Airflow's, is checked as a facet of the core schema only). Every `$ref` resolves
in the vendored files: nothing is fetched.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC = Path(__file__).parents[1] / "lineage" / "openlineage_spec"
SPEC_PREFIX = "https://openlineage.io/spec/"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@lru_cache(maxsize=1)
def registry() -> tuple[Registry, frozenset[str]]:
    """The vendored schemas by their `$id`, and the ids of the facets among them."""
    resources = []
    for path in sorted(SPEC.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    ids = frozenset(uri for uri, _ in resources)
    return Registry().with_resources(resources), ids


def _validate(uri: str, instance: dict) -> None:
    schemas, _ = registry()
    Draft202012Validator({"$ref": uri}, registry=schemas).validate(instance)


def _facets(event: dict) -> list[dict]:
    groups = [event["job"].get("facets") or {}, (event.get("run") or {}).get("facets") or {}]
    for dataset in (event.get("inputs") or []) + (event.get("outputs") or []):
        groups += [dataset.get(k) or {} for k in ("facets", "inputFacets", "outputFacets")]
    return [facet for group in groups for facet in group.values()]


def validate_event(event: dict) -> None:
    """Raise jsonschema.ValidationError (or AssertionError for a facet version the vendored spec
    lacks) unless `event` is a valid OpenLineage event with valid facets."""
    _, ids = registry()
    _validate(CORE, event)
    for facet in _facets(event):
        uri = facet["_schemaURL"]
        if not uri.startswith(SPEC_PREFIX + "facets/"):
            continue
        document = uri.split("#", 1)[0]
        assert document in ids, f"the vendored spec has no {document} (facet {uri})"
        _validate(uri, facet)
