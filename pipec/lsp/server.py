"""`pipec lsp`: the Language Server Protocol wiring (pygls) over stdio.

Each open document is analysed at most once per version: on open at once, on change after a short
pause in typing (`DEBOUNCE_SECONDS`), and on demand when a request comes before the pause ends.
"""
from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from pipec import __version__
from pipec.grammar import is_yaml_file
from pipec.lsp.analysis import Analysis, analyse
from pipec.lsp.completion import complete
from pipec.lsp.diagnostics import lsp_diagnostics
from pipec.lsp.formatting import format_document
from pipec.lsp.hover import hover
from pipec.lsp import navigation

DEBOUNCE_SECONDS = 0.025
TRIGGER_CHARACTERS = ["|", "(", "[", ",", "$", "=", '"', " "]


class PipecLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("pipec", __version__)
        self.analyses: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text (made now if the last one is stale)."""
        document = self.workspace.get_text_document(uri)
        cached = self.analyses.get(uri)
        if cached is None or cached.text != document.source:
            # An unsaved (`untitled:`) document has no path: its imports cannot be found, the rest works.
            cached = self.analyses[uri] = analyse(document.source, document.path or uri, uri)
        return cached

    def publish(self, uri: str) -> None:
        self.pending.pop(uri, None)
        document = self.workspace.get_text_document(uri)
        diagnostics = lsp_diagnostics(self.analysis(uri))
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=document.version))

    def publish_later(self, uri: str) -> None:
        if uri in self.pending:
            self.pending.pop(uri).cancel()
        self.pending[uri] = asyncio.get_running_loop().call_later(DEBOUNCE_SECONDS, self.publish, uri)

    def offset(self, uri: str, position: types.Position) -> tuple[Analysis, int]:
        analysis = self.analysis(uri)
        return analysis, analysis.index.offset(position)


def build_server() -> PipecLanguageServer:
    server = PipecLanguageServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PipecLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PipecLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.publish_later(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: PipecLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        # Imports are read from disk: the saved file may be imported by any open document.
        ls.analyses.clear()
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PipecLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.pending:
            ls.pending.pop(uri).cancel()
        ls.analyses.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: PipecLanguageServer, params: types.HoverParams) -> types.Hover | None:
        if is_yaml_file(params.text_document.uri):
            return None
        return hover(*ls.offset(params.text_document.uri, params.position))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS))
    def on_completion(ls: PipecLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        items = [] if is_yaml_file(params.text_document.uri) else \
            complete(*ls.offset(params.text_document.uri, params.position))
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: PipecLanguageServer, params: types.DefinitionParams) -> list[types.Location]:
        return navigation.definition(*ls.offset(params.text_document.uri, params.position))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls: PipecLanguageServer, params: types.ReferenceParams) -> list[types.Location]:
        analysis, offset = ls.offset(params.text_document.uri, params.position)
        return navigation.references(analysis, offset, params.context.include_declaration)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: PipecLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        return navigation.document_symbols(ls.analysis(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(ls: PipecLanguageServer, params: types.PrepareRenameParams) -> types.Range | None:
        return navigation.prepare_rename(*ls.offset(params.text_document.uri, params.position))

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def on_rename(ls: PipecLanguageServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        analysis, offset = ls.offset(params.text_document.uri, params.position)
        return navigation.rename(analysis, offset, params.new_name, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(ls: PipecLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
        document = ls.workspace.get_text_document(params.text_document.uri)
        return format_document(document.source, document.path or document.uri)

    return server


def serve() -> int:
    """Serve one editor over stdin/stdout until it says `exit`."""
    build_server().start_io()
    return 0
