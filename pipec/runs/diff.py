"""`pipec runs diff A B`: only what differs between two runs' records."""
from __future__ import annotations

import json
from typing import Any

# run fields whose change explains a change in results
_FIELDS = ("pipeline", "status", "source_digest", "ir_digest", "target", "engine", "opt_level")


def diff_runs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """`{"a", "b", "fields", "versions", "params", "inputs", "modules", "outputs", "metrics"}`; each holds
    only the entries that differ, as `{"a": ..., "b": ...}` (None where one run has none);
    metrics also carry `change` (b - a) when both are numbers."""
    out: dict[str, Any] = {"a": a["run_id"], "b": b["run_id"]}
    out["fields"] = {k: {"a": a[k], "b": b[k]} for k in _FIELDS if a[k] != b[k]}
    out["versions"] = _pairs(a["versions"], b["versions"])
    out["params"] = _pairs({k: p["value"] for k, p in a["params"].items()},
                           {k: p["value"] for k, p in b["params"].items()})
    for role in ("inputs", "modules", "outputs"):
        out[role] = _pairs({f["path"]: f["digest"] for f in a[role]}, {f["path"]: f["digest"] for f in b[role]})
    flat = lambda run: {f"{node}.{name}": v for node, values in run["metrics"].items()  # noqa: E731
                        for name, v in values.items()}
    out["metrics"] = _pairs(flat(a), flat(b))
    for pair in out["metrics"].values():
        if isinstance(pair["a"], (int, float)) and isinstance(pair["b"], (int, float)):
            pair["change"] = pair["b"] - pair["a"]
    return out


def _pairs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"a": a.get(k), "b": b.get(k)} for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def format_diff(d: dict[str, Any]) -> str:
    """The diff as text, one line per difference."""
    lines = [f"runs {d['a'][:12]} -> {d['b'][:12]}"]
    labels = {"source_digest": "code (source)", "ir_digest": "code (IR)", "opt_level": "-O level"}
    for key, pair in d["fields"].items():
        lines.append(f"  {labels.get(key, key)}: {_show(pair['a'])} -> {_show(pair['b'])}")
    for section, word in (("versions", "library"), ("params", "param"), ("inputs", "input"),
                          ("modules", "python module"), ("outputs", "output")):
        for key, pair in d[section].items():
            lines.append(f"  {word} {key}: {_show(pair['a'])} -> {_show(pair['b'])}")
    for key, pair in d["metrics"].items():
        change = f" ({pair['change']:+.6g})" if "change" in pair else ""
        lines.append(f"  metric {key}: {_show(pair['a'])} -> {_show(pair['b'])}{change}")
    if len(lines) == 1:
        lines.append("  no differences in code, params, data or metrics")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)
