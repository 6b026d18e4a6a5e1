"""Where a file's sources and sinks point, known before anything runs.

Two sinks writing one path, or a sink overwriting a file that a source of the same `.pipe` file
reads, would make the result depend on the order the writes and reads happen in; both are
errors. With the option `confine_outputs=true`, a sink outside the base directory is one too. Paths are compared after substituting the parameters' values of this check (defaults or
`-p` overrides) and normalising `.` and `..`, and only when that makes them certainly equal: an
absolute path is never compared with a relative one, and `~` is not expanded.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pipec.compiler.diagnostics import Diagnostics, Label
from pipec.compiler.ir import IR, SinkArgs, SourceArgs
from pipec.compiler.span import Span
from pipec.runtime_contract import outside_base_dir, substitute


@dataclass(frozen=True)
class Endpoint:
    """One source or sink: its path as written, as it resolves for this check, and where."""

    pipeline: str
    step: str
    written: str
    path: str
    span: Span


def normalise(path: str) -> str:
    """The path with `.`, `..` and repeated separators folded, as the pipeline's run sees it."""
    return posixpath.normpath(path.replace("\\", "/"))


def endpoints(ir: IR) -> tuple[list[Endpoint], list[Endpoint]]:
    """The (sources, sinks) of one pipeline, with paths resolved under its parameters' values."""
    params = {p.name: p.default for p in ir.params}
    sources, sinks = [], []
    for node in ir.nodes():
        if isinstance(node.args, (SourceArgs, SinkArgs)):
            end = Endpoint(pipeline=ir.pipeline, step=node.step, written=node.args.path,
                           path=normalise(substitute(node.args.path, params)), span=node.span)
            (sources if isinstance(node.args, SourceArgs) else sinks).append(end)
    return sources, sinks


def check_paths(pipelines: list[IR], diags: Diagnostics) -> None:
    """E0140 for two sinks of one path, E0141 for a sink that overwrites a source's file, E0142
    for a sink outside the base directory of a pipeline with `confine_outputs=true`."""
    sources: list[Endpoint] = []
    written: dict[str, Endpoint] = {}
    sinks: list[Endpoint] = []
    for ir in pipelines:
        found_sources, found_sinks = endpoints(ir)
        sources += found_sources
        sinks += found_sinks
        if ir.options.confine_outputs:
            for sink in found_sinks:
                _check_confined(sink, diags)
    for sink in sinks:
        first = written.setdefault(sink.path, sink)
        if first is not sink:
            diags.error("E0140", f"two sinks write `{sink.path}`{_where(first, sink)}", sink.span,
                        label="writes it again", labels=[Label(span=first.span, message="first written here")],
                        help="give each sink its own path; one of the two results would be lost")
    for sink in written.values():
        for source in sources:
            if source.path == sink.path:
                diags.error("E0141", f"`{sink.path}` is both read{_where(source, sink)} and overwritten",
                            sink.span, label="overwrites it",
                            labels=[Label(span=source.span, message="read here" + (
                                "" if source.pipeline == sink.pipeline else f" by pipeline `{source.pipeline}`"))],
                            help="write the result to another path; what a run reads must not depend "
                                 "on whether its own outputs are written yet")


def _check_confined(sink: Endpoint, diags: Diagnostics) -> None:
    """The written path, parameters substituted, must name something below the base directory:
    relative, without `~`, and not climbing out with `..` (symlinks are not followed)."""
    why = outside_base_dir(sink.path)
    if why is None:
        return
    diags.error("E0142", f"sink `{sink.written}` is outside the base directory: `{sink.path}` {why}",
                sink.span, label="not inside the base directory",
                help="write below the base directory (the working directory of `pipec run`, or its "
                     "`--workdir`), or remove `confine_outputs=true`")


def _where(a: Endpoint, b: Endpoint) -> str:
    return "" if a.pipeline == b.pipeline else f" (pipelines `{a.pipeline}` and `{b.pipeline}`)"
