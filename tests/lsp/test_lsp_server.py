"""`pipec lsp` driven over stdio by a real LSP client (pytest-lsp): one server for the module."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from pipec.grammar import parse_source
from pipec.grammar.format import format_module

ROOT = Path(__file__).parents[2]
FLIGHTS = ROOT / "examples" / "flights"
SERVER = [sys.executable, "-c", "import sys; from pipec.cli import main; sys.exit(main(['lsp']))"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = '''\
schema Trip {
  id: int
  city: str
  fare: float?
  day: date
}

pipeline trips {
  param min_fare: float = 2.5
  param out: str = "out"

  trips = read_csv("trips.csv", schema=Trip)
  cheap = trips
    | filter(fare < $min_fare)
    | derive(fare_eur = fare * 0.9, weekday = weekday(day))
  by_city = cheap
    | aggregate(by=[city], n = count(), mean_fare = mean(fare_eur))
  by_city | write_csv("${out}/by_city.csv")
}
'''


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def opened(client: LanguageClient, name: str, text: str) -> tuple[str, list[types.Diagnostic]]:
    """Open a document and wait for its diagnostics."""
    uri = (ROOT / "tests" / "lsp" / name).as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="pipe", version=1, text=text)))
    return uri, await diagnostics_of(client, uri)


async def diagnostics_of(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    while True:
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 30)
        if uri in client.diagnostics:
            return list(client.diagnostics.pop(uri))


def at(text: str, marker: str, delta: int = 0) -> types.Position:
    """The position `delta` characters after the start of `marker` (found once) in `text`."""
    assert text.count(marker) == 1, marker
    offset = text.index(marker) + delta
    line = text.count("\n", 0, offset)
    return types.Position(line=line, character=offset - (text.rfind("\n", 0, offset) + 1))


def span(d: types.Diagnostic) -> tuple[int, int, int, int]:
    r = d.range
    return r.start.line, r.start.character, r.end.line, r.end.character


async def completion_labels(client: LanguageClient, uri: str, position: types.Position) -> list[str]:
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position))
    return [item.label for item in result.items]


async def hover_text(client: LanguageClient, uri: str, position: types.Position) -> str:
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position))
    return result.contents.value if result else ""


# ---------------------------------------------------------------- diagnostics
async def test_a_correct_file_has_no_diagnostics(client: LanguageClient):
    _, diagnostics = await opened(client, "clean.pipe", SOURCE)
    assert diagnostics == []


async def test_mistakes_get_codes_ranges_help_and_related_locations(client: LanguageClient):
    text = SOURCE.replace("filter(fare < $min_fare)", "filter(fair < $min_fare)") \
                 .replace("  by_city = cheap\n", "  cheap = trips | limit(5)\n  by_city = cheap\n")
    _, diagnostics = await opened(client, "mistakes.pipe", text)
    by_code = {d.code: d for d in diagnostics}
    assert set(by_code) == {"E0201", "E0130"}
    unknown = by_code["E0201"]
    assert span(unknown) == (13, 13, 13, 17)
    assert unknown.severity == types.DiagnosticSeverity.Error and unknown.source == "pipec"
    assert "unknown column `fair`" in unknown.message and "help: did you mean `fare`" in unknown.message
    twice = by_code["E0130"]
    assert span(twice) == (15, 2, 15, 7)
    [first] = twice.related_information
    assert first.message == "first bound here" and first.location.range.start.line == 12


async def test_a_file_with_a_syntax_error_still_gets_the_checker_diagnostics(client: LanguageClient):
    # `cheap` does not parse; `odd` does and has a mistake. What only follows from the skipped
    # statement (`by_city` reads an unknown `cheap`, nothing is written) is not reported.
    text = SOURCE.replace("fare * 0.9,", "fare * 0.9 +,") \
                 .replace("  cheap = trips\n", "  odd = trips | filter(dist > 3)\n  odd | write_csv(\"o.csv\")\n"
                                                "  cheap = trips\n")
    _, diagnostics = await opened(client, "syntax.pipe", text)
    assert [(d.code, d.range.start) for d in diagnostics] == [
        ("E0001", at(text, ", weekday =")), ("E0201", at(text, "dist > 3"))]


async def test_diagnostics_follow_changes(client: LanguageClient):
    uri, diagnostics = await opened(client, "changing.pipe", SOURCE)
    assert diagnostics == []
    broken = SOURCE.replace("mean(fare_eur)", "mean(city)")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=broken)]))
    [d] = await diagnostics_of(client, uri)
    assert d.code == "E0203" and span(d) == (16, 52, 16, 62)


async def test_yaml_files_get_diagnostics(client: LanguageClient):
    text = (FLIGHTS / "flight_delays.pipe.yaml").read_text().replace("arr_delay > 15", "arr_dly > 15")
    uri = (FLIGHTS / "broken.pipe.yaml").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=text)))
    [d] = await diagnostics_of(client, uri)
    assert d.code == "E0201" and "arr_dly" in d.message
    line = text.splitlines()[d.range.start.line]
    assert line[d.range.start.character:d.range.end.character] == "arr_dly"


# ---------------------------------------------------------------- hover
async def test_hover_shows_schemas_types_and_signatures(client: LanguageClient):
    uri, _ = await opened(client, "hover.pipe", SOURCE)
    cheap = await hover_text(client, uri, at(SOURCE, "cheap = trips"))
    assert "table with 6 columns" in cheap
    assert "id: int\ncity: str\nfare: float?\nday: date\nfare_eur: float?\nweekday: int" in cheap
    fare = await hover_text(client, uri, at(SOURCE, "fare * 0.9", 1))
    assert "column `fare`: `float?`" in fare and "from `read_csv` (schema `Trip`) on line 12" in fare
    derived = await hover_text(client, uri, at(SOURCE, "mean(fare_eur)", 6))
    assert "column `fare_eur`: `float?`" in derived and "from `derive` on line 15" in derived
    param = await hover_text(client, uri, at(SOURCE, "$min_fare", 2))
    assert "param min_fare: float = 2.5" in param
    interpolated = await hover_text(client, uri, at(SOURCE, "${out}", 3))
    assert 'param out: str = "out"' in interpolated
    step = await hover_text(client, uri, at(SOURCE, "aggregate(", 2))
    assert "aggregate(by=[col, ...], name = agg(...), ...)" in step
    assert "city: str\nn: int\nmean_fare: float?" in step
    function = await hover_text(client, uri, at(SOURCE, "weekday(day)", 1))
    assert "weekday(t)" in function and "Monday" in function


# ---------------------------------------------------------------- completion
async def test_completion_offers_exactly_the_columns_of_the_step_input(client: LanguageClient):
    uri, _ = await opened(client, "complete.pipe", SOURCE)
    trip = ["id", "city", "fare", "day"]
    assert await completion_labels(client, uri, at(SOURCE, "fare < $", 0)) == trip
    assert await completion_labels(client, uri, at(SOURCE, "fare * 0.9")) == trip
    derived = trip + ["fare_eur", "weekday"]
    assert await completion_labels(client, uri, at(SOURCE, "city], n =", 0)) == derived
    assert await completion_labels(client, uri, at(SOURCE, "fare_eur))", 0)) == derived


async def test_completion_while_typing_an_unfinished_step(client: LanguageClient):
    typing = SOURCE.replace("    | aggregate(", "    | select(fare_eur, ci\n    | aggregate(")
    uri, _ = await opened(client, "typing.pipe", typing)
    labels = await completion_labels(client, uri, at(typing, "fare_eur, ci", len("fare_eur, ci")))
    assert labels == ["id", "city", "fare", "day", "fare_eur", "weekday"]
    after_bar = typing.replace("    | select(fare_eur, ci\n", "    | \n")
    uri, _ = await opened(client, "typing_step.pipe", after_bar)
    steps = await completion_labels(client, uri, at(after_bar, "    | \n", 6))
    assert {"filter", "derive", "aggregate", "join", "write_csv"} <= set(steps)
    assert "read_csv" not in steps


async def test_completion_of_options_params_schemas_and_estimators(client: LanguageClient):
    uri, _ = await opened(client, "kinds.pipe", SOURCE)
    assert await completion_labels(client, uri, at(SOURCE, "by=[", 0)) == ["by="] + \
        ["id", "city", "fare", "day", "fare_eur", "weekday"]
    assert await completion_labels(client, uri, at(SOURCE, "$min_fare)", 1)) == ["min_fare", "out"]
    assert await completion_labels(client, uri, at(SOURCE, "Trip)", 0)) == ["Trip"]
    text = SOURCE.replace("  by_city | write_csv", "  model = cheap | fit(\n  by_city | write_csv")
    uri, _ = await opened(client, "fit.pipe", text)
    labels = await completion_labels(client, uri, at(text, "fit(", 4))
    assert labels[:2] == ["features=", "label="] and "logistic_regression" in labels


# ---------------------------------------------------------------- navigation
async def test_definition_of_bindings_params_schemas_and_imports(client: LanguageClient):
    uri, _ = await opened(client, "nav.pipe", SOURCE)

    async def definition(marker: str, delta: int = 1) -> tuple[str, types.Position]:
        [loc] = await client.text_document_definition_async(types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=at(SOURCE, marker, delta)))
        return loc.uri, loc.range.start

    assert await definition("cheap\n    | aggregate") == (uri, at(SOURCE, "cheap = trips"))
    assert await definition("$min_fare", 2) == (uri, at(SOURCE, "min_fare: float"))
    assert await definition("${out}", 3) == (uri, at(SOURCE, "out: str"))
    assert await definition("schema=Trip", 8) == (uri, at(SOURCE, "Trip {"))

    flights_text = (FLIGHTS / "flight_delays.pipe").read_text()
    flights_uri = (FLIGHTS / "flight_delays.pipe").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=flights_uri, language_id="pipe", version=1, text=flights_text)))
    [schema] = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=flights_uri), position=at(flights_text, "Flight,", 1)))
    schemas_text = (FLIGHTS / "schemas.pipe").read_text()
    assert schema.uri == (FLIGHTS / "schemas.pipe").as_uri()
    assert schema.range.start == at(schemas_text, "Flight {")
    [imported] = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=flights_uri), position=at(flights_text, '"schemas.pipe"')))
    assert imported.uri == (FLIGHTS / "schemas.pipe").as_uri()


async def test_references_rename_and_symbols(client: LanguageClient):
    uri, _ = await opened(client, "rename.pipe", SOURCE)
    document = types.TextDocumentIdentifier(uri=uri)
    refs = await client.text_document_references_async(types.ReferenceParams(
        text_document=document, position=at(SOURCE, "trips = read"),
        context=types.ReferenceContext(include_declaration=True)))
    assert [r.range.start for r in refs] == [at(SOURCE, "trips = read"), at(SOURCE, "trips\n    | filter")]

    edit = await client.text_document_rename_async(types.RenameParams(
        text_document=document, position=at(SOURCE, "out: str"), new_name="target"))
    renamed = apply(SOURCE, edit.changes[uri])
    assert renamed == SOURCE.replace("param out:", "param target:").replace("${out}", "${target}")

    edit = await client.text_document_rename_async(types.RenameParams(
        text_document=document, position=at(SOURCE, "by_city |", 2), new_name="per_city"))
    renamed = apply(SOURCE, edit.changes[uri])
    assert renamed == SOURCE.replace("by_city =", "per_city =").replace("by_city |", "per_city |")

    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=document))
    assert [s.name for s in symbols] == ["Trip", "trips"]
    assert [c.name for c in symbols[1].children] == ["min_fare", "out", "trips", "cheap", "by_city"]


async def test_formatting_uses_pipec_fmt(client: LanguageClient):
    messy = SOURCE.replace("  param min_fare: float = 2.5", "  param   min_fare :float=2.5")
    uri, _ = await opened(client, "fmt.pipe", messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    module, _ = parse_source(SOURCE, "fmt.pipe")
    assert apply(messy, edits) == format_module(module, SOURCE)


def apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start = starts[e.range.start.line] + e.range.start.character
        end = starts[e.range.end.line] + e.range.end.character
        text = text[:start] + e.new_text + text[end:]
    return text


async def test_rename_refuses_a_name_that_is_taken_or_not_a_name(client: LanguageClient):
    uri, _ = await opened(client, "rename_refused.pipe", SOURCE)
    for new_name in ("trips", "min_fare", "schema", "by city"):
        with pytest.raises(JsonRpcException, match="already a name|is not a name"):
            await client.text_document_rename_async(types.RenameParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=at(SOURCE, "cheap = "),
                new_name=new_name))


async def test_saving_an_imported_file_checks_the_files_that_import_it_again(client: LanguageClient, tmp_path):
    schemas = tmp_path / "schemas.pipe"
    schemas.write_text("schema Trip {\n  id: int\n}\n")
    main = tmp_path / "main.pipe"
    text = ('import "schemas.pipe"\n\npipeline p {\n  t = read_csv("t.csv", schema=Trip)\n'
            '  t | filter(fare > 1) | write_csv("o.csv")\n}\n')
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=main.as_uri(), language_id="pipe", version=1, text=text)))
    [unknown] = await diagnostics_of(client, main.as_uri())
    assert unknown.code == "E0201"
    schemas.write_text("schema Trip {\n  id: int\n  fare: float\n}\n")
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=schemas.as_uri())))
    assert await diagnostics_of(client, main.as_uri()) == []
