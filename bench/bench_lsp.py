"""Editor latency of `pipec lsp`: from a change sent by the editor to the diagnostics for it.

A pygls client starts `pipec lsp` over stdio, opens each flights example and then sends edits one
at a time (alternately adding and removing a mistake, as someone typing would), timing each
`didChange` until the `publishDiagnostics` of that version arrives. The time includes the
server's debounce pause (pipec.lsp.server.DEBOUNCE_SECONDS), the analysis and the JSON-RPC
round trip; CPU seconds of the server process are printed too, as wall time depends on how busy
the machine is. The target (issue 16) is 100 ms.

Run: .venv/bin/python bench/bench_lsp.py [--changes N]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "flights").glob("*.pipe")) + \
    sorted((ROOT / "examples" / "flights").glob("*.pipe.yaml"))


class TimingClient(LanguageClient):
    """Remembers when the diagnostics of each (uri, version) arrived."""

    def __init__(self) -> None:
        super().__init__("bench-lsp", "1")
        self.arrived: dict[tuple[str, int | None], asyncio.Future] = {}

    def waiter(self, uri: str, version: int) -> asyncio.Future:
        return self.arrived.setdefault((uri, version), asyncio.get_running_loop().create_future())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(changes: int) -> dict[str, tuple[list[float], float]]:
    client = TimingClient()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: types.PublishDiagnosticsParams) -> None:
        future = client.waiter(params.uri, params.version)
        if not future.done():
            future.set_result(time.perf_counter())

    await client.start_io(sys.executable, "-m", "pipec.cli", "lsp", cwd=str(ROOT))
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities(),
                                                         root_uri=ROOT.as_uri()))
    client.initialized(types.InitializedParams())
    pid = client._server.pid
    latencies: dict[str, tuple[list[float], float]] = {}
    for path in EXAMPLES:
        uri, text = path.as_uri(), path.read_text(encoding="utf-8")
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="pipe", version=1, text=text)))
        await client.waiter(uri, 1)
        times: list[float] = []
        cpu = cpu_seconds(pid)
        for version in range(2, changes + 2):
            edited = text.replace("origin", "orign", 1) if version % 2 == 0 else text
            arrived = client.waiter(uri, version)
            sent = time.perf_counter()
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)]))
            times.append(await asyncio.wait_for(arrived, 30) - sent)
        latencies[path.name] = times, (cpu_seconds(pid) - cpu) / changes
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=40, help="edits per file (default 40)")
    args = parser.parse_args()
    from pipec.lsp.server import DEBOUNCE_SECONDS

    results = asyncio.run(measure(args.changes))
    print(f"change -> diagnostics, ms (debounce {DEBOUNCE_SECONDS * 1000:.0f} ms included), "
          f"{args.changes} changes per file")
    print(f"{'file':28} {'median':>8} {'p90':>8} {'max':>8} {'server CPU per change':>22}")
    for name, (times, cpu) in results.items():
        ms = sorted(t * 1000 for t in times)
        p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
        print(f"{name:28} {statistics.median(ms):8.1f} {p90:8.1f} {ms[-1]:8.1f} {cpu * 1000:22.1f}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
