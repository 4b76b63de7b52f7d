"""The Slipstream language server: the LSP layer only. Handlers translate LSP types into calls of the
services that do the work (completion/, inference/host.py, optimizer/ via server/optimize.py) and their
results back into LSP types; this module holds the one server instance and its lifetimes (settings,
documents, telemetry and cache stores)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable
from typing import Any

from lsprotocol import types
from pygls import server as pygls_server
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.exceptions import (
    JsonRpcContentModified,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcRequestCancelled,
)
from pygls.lsp.server import LanguageServer
from slipstream.completion.cache import CompletionCache
from slipstream.completion.prepare import Options
from slipstream.completion.service import CompletionRequest, CompletionService, Partial, Superseded
from slipstream.completion.telemetry import Telemetry
from slipstream.inference.discovery import discover_models
from slipstream.inference.engine import Engine
from slipstream.inference.host import ModelHost, ModelState
from slipstream.server import methods, transport
from slipstream.server.documents import Change, DocumentError, DocumentStore
from slipstream.server.optimize import OptimizerFeatures
from slipstream.server.progress import Progress
from slipstream.server.protocol import SlipstreamProtocol
from slipstream.server.settings import Settings, model_changed, parse_settings

log = logging.getLogger("slipstream")
VERSION = "0.1.0"


class LspLogHandler(logging.Handler):
    """Forwards log records to the client as window/logMessage (stdout is reserved for the protocol)."""

    LEVELS = {
        logging.DEBUG: types.MessageType.Debug,
        logging.INFO: types.MessageType.Info,
        logging.WARNING: types.MessageType.Warning,
        logging.ERROR: types.MessageType.Error,
    }

    def __init__(self, server: SlipstreamServer) -> None:
        super().__init__()
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        loop = self.server.loop
        if loop is None or loop.is_closed():
            return
        exc = record.exc_info[1] if record.exc_info else None
        if str(record.msg).startswith("Error sending data") and isinstance(exc, (OSError, ValueError)):
            return  # pygls could not write to the client (a closed or broken output): sending this would fail too
        fallback = types.MessageType.Error if record.levelno > logging.ERROR else types.MessageType.Log
        kind = self.LEVELS.get(record.levelno, fallback)
        try:
            msg = self.format(record)
            loop.call_soon_threadsafe(self.server.log_to_client, kind, msg)
        except Exception:  # logging must never raise
            pass


class SlipstreamServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "slipstream",
            VERSION,
            protocol_cls=SlipstreamProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.settings = Settings()
        self.documents = DocumentStore()
        self.encoding = "utf-16"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.progress = Progress(self)
        self.host = ModelHost(self._state_changed, self.show_error, self.progress.around)
        self.completion = CompletionService(self._send_partial, self._version_of)
        # Seconds per second of the retention checks; SLIPSTREAM_RETENTION_SCALE shrinks them in tests.
        self.completion.retention_scale = float(os.environ.get("SLIPSTREAM_RETENTION_SCALE", "1") or 1)
        self._loading: Any = None  # the model load under way (an asyncio task): optimize requests wait for it
        self.optimizer = OptimizerFeatures(self)
        self.documents.on_close(self.completion.closed)
        self.documents.on_close(self.optimizer.forget)

    # -- what the optimizer features see (server/optimize.py's OptimizerHost) ----------------------
    def ready_engine(self) -> Engine | None:
        return self.host.engine if self.host.state == ModelState.READY else None

    def model_load(self) -> Awaitable[None] | None:
        return self._loading if self._loading is not None and not self._loading.done() else None

    def model_detail(self) -> str:
        return f"{self.host.state.value}: {self.host.detail}" if self.host.detail else self.host.state.value

    def workspace_folder(self) -> str | None:
        try:
            return self.workspace.root_path
        except RuntimeError:
            return None

    def refresh_views(self) -> None:
        """Ask the client to re-request inlay hints and code lenses, where it supports that."""
        caps = self.client_capabilities.workspace if self.client_capabilities else None
        if caps and caps.inlay_hint and caps.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)
        if caps and caps.code_lens and caps.code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)

    def client_previews_edits(self) -> bool:
        """Whether the client honours change annotations that need confirmation (VS Code does)."""
        caps = self.client_capabilities
        ws = caps.workspace if caps else None
        edit = ws.workspace_edit if ws else None
        return bool(edit and edit.document_changes and edit.change_annotation_support)

    # -- logging / status --------------------------------------------------------------------
    def log_to_client(self, kind: types.MessageType, message: str) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:
            pass

    def show_error(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        log.warning("%s", message)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            pass

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request's answer go to the log, never to a pop-up: a malformed message was already
        answered with its error, and a flood of pop-ups would be worse than the fault."""
        if isinstance(error, (JsonRpcContentModified, JsonRpcRequestCancelled)):
            return  # superseded or cancelled while typing: the normal flow
        if source is JsonRpcInternalError and isinstance(error, (OSError, ValueError)):
            return  # pygls could not write to the client (closed or broken output) and told stderr already
        log.error("%s: %s", getattr(source, "__name__", source), error)

    def status(self, uri: str | None = None) -> methods.Status:
        model = self.host.model
        svc = self.completion
        out: methods.Status = {
            "state": self.host.state.value,
            "detail": self.host.detail,
            "model": model.describe() if model else None,
            "enabled": self.settings.enable,
            "busy": bool(self.host.engine and self.host.engine.busy()),
            "stats": dict(svc.stats),
            "cache": svc.cache.stats.as_dict() if svc.cache is not None else None,
            "recent": list(svc.recent),
        }
        if uri is not None:
            doc = self.documents.get(uri)
            out["document"] = (
                None
                if doc is None
                else {
                    "version": doc.version,
                    "length": len(doc.text),
                    "sha256": hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest(),
                }
            )
        return out

    def _state_changed(self) -> None:
        self.completion.engine = self.host.serving  # also a remote engine in a fault episode: it recovers by use
        try:
            self.protocol.notify(methods.STATUS, self.status())
        except Exception:
            log.debug("could not send status", exc_info=True)

    # -- settings ------------------------------------------------------------------------------
    def apply_settings(self, raw: Any) -> None:
        new, problems = parse_settings(raw, self.settings)
        for p in problems:
            self.show_error(f"Slipstream: {p}", types.MessageType.Warning)
        old, self.settings = self.settings, new
        svc = self.completion
        if svc.telemetry is None or (old.telemetry, old.storage_dir()) != (new.telemetry, new.storage_dir()):
            if svc.telemetry is not None:
                svc.telemetry.close()
            svc.telemetry = Telemetry(os.path.join(new.storage_dir(), "telemetry"), new.telemetry)
            if svc.telemetry.error:
                self.show_error(f"Slipstream: {svc.telemetry.error}", types.MessageType.Warning)
        if svc.cache is None or old.storage_dir() != new.storage_dir() or old.cache != new.cache:
            if svc.cache is not None:
                svc.cache.close()
            svc.cache = CompletionCache(os.path.join(new.storage_dir(), "completions") if new.cache else None)
            if svc.cache.stats.errors:
                self.show_error(f"Slipstream: {svc.cache.stats.errors[-1]}", types.MessageType.Warning)
        svc.config.options = Options.from_settings(new)
        svc.config.speculate, svc.config.project_context = new.speculate, new.project_context
        if self.loop is not None and model_changed(old, new) and self.host.state != ModelState.STARTING:
            self.load_model()
        if old.enable != new.enable:
            self.host.enable(new.enable)

    def load_model(self) -> None:
        settings = self.settings
        self._loading = self.host.load(settings.engine_config(), settings.enable, settings.fallback_config())

    async def list_models(self) -> dict[str, Any]:
        """methods.ModelList. The scan reads file headers (about 0.1 s a model) in a worker thread, off the loop."""
        folders = list(self.settings.model_directories)
        found = await asyncio.get_running_loop().run_in_executor(None, discover_models, folders)
        return found.as_dict()

    # -- documents ---------------------------------------------------------------------------------
    def on_did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        doc = self.documents.open(td.uri, td.version, td.text, self.encoding)
        if self.completion.engine is not None:
            self.completion.warm_up(doc.uri, doc.text)

    def on_did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        changes: list[Change] = []
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                r = change.range
                changes.append((change.text, (r.start.line, r.start.character), (r.end.line, r.end.character)))
            else:
                changes.append((change.text, None, None))
        try:
            doc = self.documents.change(uri, params.text_document.version, changes)
        except DocumentError as exc:
            log.error("could not apply a change to %s: %s", uri, exc)
            doc = self.documents.get(uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", uri)
            return
        self.completion.changed(uri, doc.version, doc.text)

    def on_did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self.documents.close(params.text_document.uri)

    def _version_of(self, uri: str) -> int | None:
        doc = self.documents.get(uri)
        return None if doc is None else doc.version

    def _text_of(self, uri: str) -> str | None:
        doc = self.documents.get(uri)
        return None if doc is None else doc.text

    # -- inline completion -------------------------------------------------------------------
    def _send_partial(self, p: Partial) -> None:
        partial: methods.InlineCompletionPartial = {
            "uri": p.uri,
            "version": p.version,
            "position": {"line": p.line, "character": p.character},
            "requestId": p.request_id,
            "text": p.text,
            "done": p.done,
        }
        self.protocol.notify(methods.PARTIAL, partial)

    async def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        self.completion.stats["requests"] += 1
        uri = params.text_document.uri
        doc = self.documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"document is not open: {uri}")
        if not self.settings.enable or self.completion.engine is None:
            return types.InlineCompletionList(items=[])
        pos = params.position
        try:
            offset = doc.offset_at(pos.line, pos.character)
        except DocumentError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        trigger = params.context.trigger_kind if params.context is not None else None
        req = CompletionRequest(
            uri,
            doc.version,
            doc.text,
            offset,
            pos.line,
            pos.character,
            self.protocol.msg_id,
            trigger == types.InlineCompletionTriggerKind.Invoked,
        )
        try:
            answer = await self.completion.complete(req)
        except Superseded as exc:
            raise JsonRpcContentModified(str(exc)) from None
        items = [
            types.InlineCompletionItem(
                insert_text=text,
                range=types.Range(start=pos, end=pos),
                command=types.Command(title="Slipstream: accepted", command=methods.ACCEPTED, arguments=[item_id]),
            )
            for text, item_id in zip(answer.texts, answer.item_ids, strict=True)
        ]
        return types.InlineCompletionList(items=items)

    def on_accepted(self, item_id: Any, accepted_chars: Any = None) -> None:
        self.completion.accepted(item_id, accepted_chars, self._text_of)

    def shutdown(self) -> None:
        self.completion.close()
        self.host.close()


def create_server() -> SlipstreamServer:
    # pygls's read loop loses every later message after one bad Content-Length: ours re-synchronises
    # (server/transport.py). pygls.server calls the loop through this module attribute.
    pygls_server.run_async = transport.run_async
    server = SlipstreamServer()

    @server.feature(types.INITIALIZE)
    async def on_initialize(ls: SlipstreamServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.encoding = str(ServerCapabilitiesBuilder.choose_position_encoding(params.capabilities))
        ls.apply_settings(params.initialization_options)

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: SlipstreamServer, params: types.InitializedParams) -> None:
        ls.load_model()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(ls: SlipstreamServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def on_inline_completion(ls: SlipstreamServer, params: types.InlineCompletionParams):
        return await ls.inline_completion(params)

    @server.feature(methods.GET_STATUS)
    def on_get_status(ls: SlipstreamServer, params: Any) -> methods.Status:
        uri = getattr(params, "uri", None) if not isinstance(params, dict) else params.get("uri")
        return ls.status(uri if isinstance(uri, str) else None)

    @server.feature(methods.STATS)
    def on_stats(ls: SlipstreamServer, params: Any) -> dict[str, Any]:
        telemetry = ls.completion.telemetry
        return telemetry.stats() if telemetry is not None else {"enabled": False, "classes": {}}

    @server.feature(methods.LIST_MODELS)
    async def on_list_models(ls: SlipstreamServer, params: Any) -> dict[str, Any]:
        return await ls.list_models()

    @server.command(methods.ACCEPTED)
    def on_accept(ls: SlipstreamServer, *args: Any) -> None:
        ls.on_accepted(*args[:2])

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]),
    )
    def on_code_action(ls: SlipstreamServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return ls.optimizer.code_actions(params)

    @server.command(methods.OPTIMIZE_FUNCTION)
    async def on_optimize(ls: SlipstreamServer, *args: Any) -> dict[str, Any]:
        return await ls.optimizer.optimize(*(list(args) + [None, None])[:2])

    @server.command(methods.PROFILE)
    async def on_profile(ls: SlipstreamServer, *args: Any) -> dict[str, Any]:
        return await ls.optimizer.profile(*(list(args) + [None, None])[:2])

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    def on_inlay_hint(ls: SlipstreamServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        return ls.optimizer.inlay_hints(params)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    def on_code_lens(ls: SlipstreamServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        return ls.optimizer.code_lenses(params)

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls: SlipstreamServer, params: Any) -> None:
        ls.shutdown()

    return server
