"""The Slipstream language server: LSP features only; the work happens in inference/ and heuristics/."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls import server as pygls_server
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.exceptions import JsonRpcContentModified, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from slipstream.heuristics.cadence import cadence_from
from slipstream.heuristics.telemetry import RETENTION_CHECKS_S, Shown, Telemetry, still_present
from slipstream.inference.engine import Engine, GenerationRequest, GenerationResult
from slipstream.inference.model import LoadedModel, ModelLoadError, load_model
from slipstream.inference.project_context import project_context
from slipstream.inference.prompt import Prompt
from slipstream.inference.reuse import Anchor, AnchorStore, CompletionCache, make_anchor, split_point
from slipstream.inference.stops import StopRules
from slipstream.server import methods, transport
from slipstream.server.completion import Prepared, finish, prepare, request_for
from slipstream.server.documents import Document, DocumentError
from slipstream.server.optimize import OptimizerFeatures
from slipstream.server.protocol import SlipstreamProtocol
from slipstream.server.settings import Settings, model_changed, parse_settings

log = logging.getLogger("slipstream")

VERSION = "0.1.0"


@dataclass
class InFlight:
    uri: str
    version: int
    request: GenerationRequest
    anchor: Anchor | None = None


@dataclass
class Follower:
    """A newer request answered from a running generation the user is typing along."""

    version: int
    position: types.Position
    request_id: Any
    typed: str


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
        self.documents: dict[str, Document] = {}
        self.encoding = "utf-16"
        self.engine: Engine | None = None
        self.state = "starting"  # starting, loading, ready, error, disabled
        self.state_detail = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._inflight: dict[int, InFlight] = {}
        self.edit_times: dict[str, deque[float]] = {}
        self.telemetry: Telemetry | None = None
        self.cache: CompletionCache | None = None
        self.anchors = AnchorStore()
        self._background: set[asyncio.Future] = set()
        self._contexts: dict[tuple[str, int], str] = {}
        self.window_hints: dict[str, int] = {}  # each document's last prompt window start (keeps the KV cache)
        self.optimizer = OptimizerFeatures(self)
        self._contexts_pending: set[tuple[str, int]] = set()
        self._jedi = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slipstream-jedi")
        # Seconds per second of the retention checks; SLIPSTREAM_RETENTION_SCALE shrinks them in tests.
        self.retention_scale = float(os.environ.get("SLIPSTREAM_RETENTION_SCALE", "1") or 1)
        self._ids = itertools.count(1)
        self._load_seq = 0
        self._load_task: asyncio.Task | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=32)  # the last generations, for status and tests
        self.stats = {
            "requests": 0,
            "answered": 0,
            "superseded": 0,
            "typed_through": 0,
            "cache_hits": 0,
            "speculations": 0,
            "speculations_done": 0,
            "warmups": 0,
            "last_first_ms": None,
            "last_total_ms": None,
        }

    # -- logging / status --------------------------------------------------------------------
    def log_to_client(self, kind: types.MessageType, message: str) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:
            pass

    def status(self, uri: str | None = None) -> dict[str, Any]:
        model: LoadedModel | None = self.engine.model if self.engine else None
        out: dict[str, Any] = {
            "state": self.state,
            "detail": self.state_detail,
            "model": model.describe() if model else None,
            "enabled": self.settings.enable,
            "busy": bool(self.engine and self.engine.busy()),
            "stats": dict(self.stats),
            "cache": self.cache.stats.as_dict() if self.cache is not None else None,
            "recent": list(self.recent),
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

    def set_state(self, state: str, detail: str = "") -> None:
        self.state, self.state_detail = state, detail
        try:
            self.protocol.notify(methods.STATUS, self.status())
        except Exception:
            log.debug("could not send status", exc_info=True)

    # -- documents ---------------------------------------------------------------------------
    def on_did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        self.documents[td.uri] = Document(td.uri, td.version, td.text, self.encoding)
        self.warm_up(td.uri)

    def on_did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        doc = self.documents.get(uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", uri)
            return
        try:
            for change in params.content_changes:
                if isinstance(change, types.TextDocumentContentChangePartial):
                    r = change.range
                    doc.apply_change(change.text, (r.start.line, r.start.character), (r.end.line, r.end.character))
                else:
                    doc.apply_change(change.text)
        except DocumentError as exc:
            log.error("could not apply a change to %s: %s", uri, exc)
        doc.version = params.text_document.version
        self.edit_times.setdefault(uri, deque(maxlen=16)).append(time.monotonic())
        self.cancel_stale(uri, doc.version)

    def on_did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self.documents.pop(params.text_document.uri, None)
        self.edit_times.pop(params.text_document.uri, None)
        self.anchors.drop(params.text_document.uri)
        self.window_hints.pop(params.text_document.uri, None)
        self.optimizer.forget(params.text_document.uri)
        self.cancel_stale(params.text_document.uri, None)

    def cancel_stale(self, uri: str, version: int | None) -> None:
        """An edit supersedes every completion computed for an older version of the document, except
        a running one whose first characters the user just typed (it will answer the newer request)."""
        doc = self.documents.get(uri)
        for fl in self._inflight.values():
            if fl.uri != uri or fl.version == version:
                continue
            if doc is not None and fl.anchor is not None and fl.anchor.still_typed_through(doc.text):
                continue
            fl.request.cancel.set()

    # -- model -------------------------------------------------------------------------------
    def apply_settings(self, raw: Any) -> None:
        new, problems = parse_settings(raw, self.settings)
        for p in problems:
            self.show_error(f"Slipstream: {p}", types.MessageType.Warning)
        old, self.settings = self.settings, new
        if self.telemetry is None or (old.telemetry, old.storage_dir()) != (new.telemetry, new.storage_dir()):
            if self.telemetry is not None:
                self.telemetry.close()
            self.telemetry = Telemetry(os.path.join(new.storage_dir(), "telemetry"), new.telemetry)
            if self.telemetry.error:
                self.show_error(f"Slipstream: {self.telemetry.error}", types.MessageType.Warning)
        if self.cache is None or old.storage_dir() != new.storage_dir() or old.cache != new.cache:
            if self.cache is not None:
                self.cache.close()
            self.cache = CompletionCache(os.path.join(new.storage_dir(), "completions") if new.cache else None)
            if self.cache.stats.errors:
                self.show_error(f"Slipstream: {self.cache.stats.errors[-1]}", types.MessageType.Warning)
        if self.loop is not None and model_changed(old, new) and self.state != "starting":
            self.start_model_load()
        if old.enable != new.enable and self.state in ("ready", "disabled"):
            self.set_state("ready" if new.enable else "disabled")

    def show_error(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        log.warning("%s", message)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            pass

    def start_model_load(self) -> None:
        self._load_seq += 1
        self._load_task = asyncio.ensure_future(self._load_model(self._load_seq))

    async def _load_model(self, seq: int) -> None:
        config = self.settings.model_config()
        assert self.loop is not None
        token = f"slipstream-load-{uuid.uuid4()}"
        what = config.path or "default model"
        progress = await self.begin_progress(
            token,
            types.WorkDoneProgressBegin(title="Slipstream: loading model", message=what),
        )
        self.set_state("loading", what)
        t0 = time.perf_counter()
        try:
            model = await self.loop.run_in_executor(None, load_model, config)
        except ModelLoadError as exc:
            if seq == self._load_seq:
                self.set_state("error", str(exc))
                self.show_error(f"Slipstream: {exc}")
            model = None
        except Exception as exc:  # anything else from llama.cpp: still a clear message, never a crash
            log.exception("model load failed")
            if seq == self._load_seq:
                self.set_state("error", f"model load failed: {exc}")
                self.show_error(f"Slipstream: model load failed: {exc}")
            model = None
        finally:
            if progress:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
        if model is None:
            return
        if seq != self._load_seq:  # settings changed while loading: a newer load is on its way
            return
        old, self.engine = self.engine, Engine(model)
        if old is not None:
            self.loop.run_in_executor(None, old.close)
        log.info("model %s loaded in %.2fs (fim=%s)", model.name, time.perf_counter() - t0, model.fim is not None)
        self.set_state("ready" if self.settings.enable else "disabled", model.name)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request's answer go to the log, never to a pop-up: a malformed message was already
        answered with its error, and a flood of pop-ups would be worse than the fault."""
        if isinstance(error, (JsonRpcContentModified, JsonRpcRequestCancelled)):
            return  # superseded or cancelled while typing: the normal flow
        log.error("%s: %s", getattr(source, "__name__", source), error)

    async def begin_progress(self, token: str, begin: types.WorkDoneProgressBegin) -> bool:
        """Start a $/progress report if the client supports it; False when there is none to send."""
        if not self._client_supports_progress():
            return False
        try:
            await asyncio.wait_for(self.work_done_progress.create_async(token), 5)
            self.work_done_progress.begin(token, begin)
        except Exception:
            return False
        return True

    def _client_supports_progress(self) -> bool:
        try:
            return bool(self.client_capabilities.window and self.client_capabilities.window.work_done_progress)
        except Exception:
            return False

    # -- inline completion -------------------------------------------------------------------
    def send_partial(self, fl: InFlight, position: types.Position, request_id: Any, text: str, done: bool) -> None:
        doc = self.documents.get(fl.uri)
        if doc is None or doc.version != fl.version or fl.request.cancel.is_set():
            return  # never show text for a stale document version
        self.protocol.notify(
            methods.PARTIAL,
            {
                "uri": fl.uri,
                "version": fl.version,
                "position": {"line": position.line, "character": position.character},
                "requestId": request_id,
                "text": text,
                "done": done,
            },
        )

    def _record(self, future: Any, prepared: Any, fl: InFlight) -> None:
        """Keep the facts of each generation, whatever its end (called from the engine thread)."""
        if future.cancelled() or future.exception() is not None:
            return
        r = future.result()
        self.recent.append(
            {
                "label": fl.request.label,
                "mode": prepared.plan.mode,
                "prompt": prepared.prompt.mode,
                "stop": r.stop_reason,
                "tokens": r.n_tokens,
                "max_tokens": prepared.rules.max_tokens,
                "prompt_tokens": r.prompt_tokens,
                "reused_tokens": r.reused_tokens,
                "first_ms": None if r.t_first_token_s is None else round(r.t_first_token_s * 1000, 1),
                "total_ms": round(r.t_total_s * 1000, 1),
                "queued_ms": round(r.t_queued_s * 1000, 1),
                "prefill_ms": round(r.t_prefill_s * 1000, 1),
            }
        )

    def line_factors(self) -> dict[str, float]:
        return self.telemetry.factors() if self.telemetry is not None else {}

    def cache_key(self, model: LoadedModel, prepared: Prepared) -> str:
        ctx, plan = prepared.context, prepared.plan
        return CompletionCache.key(
            model.path,
            prepared.prompt.tokens,
            (ctx.line_prefix, ctx.line_suffix, ctx.next_lines, ctx.previous_line, ctx.indent, ctx.kind),
            (plan.mode, plan.single_line, plan.max_lines, plan.max_tokens, plan.alternatives),
        )

    async def _run(
        self,
        engine: Engine,
        prepared: Prepared,
        uri: str,
        version: int,
        stream: Any,
        anchor: Anchor | None = None,
        **sampling: Any,
    ) -> tuple[GenerationResult, str]:
        """One generation and its cleaned text; the caller decides what a stale version means."""
        loop = asyncio.get_running_loop()
        request = request_for(prepared, stream, label=f"{uri}@{version}", **sampling)
        fl = InFlight(uri, version, request, anchor)
        key = next(self._ids)
        self._inflight[key] = fl
        future = engine.submit(request)
        future.add_done_callback(lambda f: self._record(f, prepared, fl))
        try:
            result = await _shielded(future, loop)
        except asyncio.CancelledError:
            request.cancel.set()  # $/cancelRequest: stop the worker at its next token
            raise
        finally:
            self._inflight.pop(key, None)
        return result, ("" if result.cancelled else finish(prepared, result))

    def _stale(self, uri: str, version: int) -> bool:
        current = self.documents.get(uri)
        return current is None or current.version != version

    def _respond(
        self,
        uri: str,
        version: int,
        pos: types.Position,
        request_id: Any,
        texts: list[str],
        context_class: str,
        send_done: bool = True,
    ) -> types.InlineCompletionList:
        if send_done:  # answers without the model still end with the done partial
            shown = InFlight(uri, version, GenerationRequest(Prompt([], "", "", ""), StopRules()))
            self.send_partial(shown, pos, request_id, texts[0] if texts else "", True)
        items = []
        for i, t in enumerate(texts):
            item_id = f"{key_of(request_id)}-{i}"
            if self.telemetry is not None:
                self.telemetry.shown(Shown(item_id, uri, pos.line, t, context_class, "\n" in t))
            items.append(
                types.InlineCompletionItem(
                    insert_text=t,
                    range=types.Range(start=pos, end=pos),
                    command=types.Command(title="Slipstream: accepted", command=methods.ACCEPTED, arguments=[item_id]),
                )
            )
        return types.InlineCompletionList(items=items)

    async def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        self.stats["requests"] += 1
        uri = params.text_document.uri
        doc = self.documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"document is not open: {uri}")
        empty = types.InlineCompletionList(items=[])
        if not self.settings.enable or self.engine is None or self.state != "ready":
            return empty
        pos = params.position
        try:
            offset = doc.offset_at(pos.line, pos.character)
        except DocumentError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        engine = self.engine
        t0 = time.perf_counter()
        text, version = doc.text, doc.version
        request_id = self.protocol.msg_id
        before, line_prefix, suffix = split_point(text, offset)

        # 1. The user typed along a suggestion: the rest of it, without the model.
        found = self.anchors.find(uri, before, line_prefix, suffix)
        if found is not None and not found[0].done:
            anchor = found[0]
            follower = Follower(version, pos, request_id, line_prefix[len(anchor.line_prefix) :])
            anchor.followers.append(follower)
            try:
                await anchor.finished.wait()
            finally:
                anchor.followers.remove(follower)
            if self._stale(uri, version):
                raise JsonRpcContentModified("superseded by a newer edit")
            found = self.anchors.find(uri, before, line_prefix, suffix)
        if found is not None and found[0].done and found[1]:
            self.stats["typed_through"] += 1
            return self._respond(uri, version, pos, request_id, found[1], found[0].context_class)

        trigger = params.context.trigger_kind if params.context is not None else None
        invoked = trigger == types.InlineCompletionTriggerKind.Invoked
        cadence = cadence_from(self.edit_times.get(uri, ()), time.monotonic())
        extra = self.project_context_for(uri, text, offset, pos.line) if self.settings.project_context else ""
        prepared = prepare(
            text,
            offset,
            engine.model,
            self.settings,
            cadence,
            invoked,
            self.line_factors(),
            extra,
            self.window_hints.get(uri),
        )
        self.window_hints[uri] = prepared.prompt.start_line
        context_class = prepared.plan.context_class

        # 2. The same context was answered before (or speculated): the same answer.
        key = self.cache_key(engine.model, prepared)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            self.stats["cache_hits"] += 1
            if cached:
                self.anchors.add(make_anchor(uri, text, offset, cached, True, context_class))
            self._schedule_speculation(uri, version, text, offset, cached)
            return self._respond(uri, version, pos, request_id, cached, context_class)

        # 3. The model.
        loop = asyncio.get_running_loop()
        anchor = make_anchor(uri, text, offset, [""], False, context_class)
        anchor.finished = asyncio.Event()
        self.anchors.add(anchor)
        shown = InFlight(uri, version, GenerationRequest(prepared.prompt, prepared.rules))

        def stream(partial: str) -> None:
            loop.call_soon_threadsafe(self._stream, anchor, shown, pos, request_id, partial)

        try:
            result, first = await self._run(engine, prepared, uri, version, stream, anchor)
        except BaseException:
            anchor.done = True
            anchor.texts = []
            anchor.finished.set()
            raise
        anchor.texts, anchor.done = ([first] if first else []), True
        anchor.finished.set()
        if result.cancelled or self._stale(uri, version):
            self.stats["superseded"] += 1
            raise JsonRpcContentModified("superseded by a newer edit or request")
        self.stats["answered"] += 1
        self.stats["last_first_ms"] = round(result.t_first_token_s * 1000, 1) if result.t_first_token_s else None
        self.stats["last_total_ms"] = round(result.t_total_s * 1000, 1)
        self.send_partial(shown, pos, request_id, first, True)
        texts = [first] if first else []
        # Exploration: up to N distinct alternatives, sampled, while the time budget allows.
        seed = 0
        while texts and len(texts) < prepared.plan.alternatives and seed < 2 * prepared.plan.alternatives:
            if time.perf_counter() - t0 > prepared.plan.time_budget_s:
                break
            seed += 1
            alt_result, alt = await self._run(engine, prepared, uri, version, None, temperature=0.8, seed=seed)
            if alt_result.cancelled or self._stale(uri, version):
                raise JsonRpcContentModified("superseded by a newer edit or request")
            if alt and alt not in texts:
                texts.append(alt)
        anchor.texts = list(texts)
        if self.cache is not None and (len(texts) == prepared.plan.alternatives or prepared.plan.alternatives == 1):
            self.cache.put(key, texts)
        self._schedule_speculation(uri, version, text, offset, texts)
        return self._respond(uri, version, pos, request_id, texts, context_class, send_done=False)

    def _stream(self, anchor: Anchor, shown: InFlight, pos: types.Position, request_id: Any, text: str) -> None:
        anchor.texts = [text]
        self.send_partial(shown, pos, request_id, text, False)
        for f in list(anchor.followers):
            if text.startswith(f.typed) and len(text) > len(f.typed):
                follower = InFlight(shown.uri, f.version, shown.request)
                self.send_partial(follower, f.position, f.request_id, text[len(f.typed) :], False)

    def project_context_for(self, uri: str, text: str, offset: int, row: int) -> str:
        """The jedi context for this cursor line if it is ready; else start computing it (never waits)."""
        key = (uri, row)
        if key in self._contexts:
            return self._contexts[key]
        if key not in self._contexts_pending:
            self._contexts_pending.add(key)
            path = uri[7:] if uri.startswith("file://") else None
            column = offset - (text.rfind("\n", 0, offset) + 1)

            def done(f: Any) -> None:
                self._contexts_pending.discard(key)
                if not f.cancelled() and f.exception() is None:
                    self._contexts[key] = f.result()
                    while len(self._contexts) > 64:
                        self._contexts.pop(next(iter(self._contexts)))

            self._jedi.submit(project_context, text, path, row, column).add_done_callback(done)
        return ""

    # -- background work: speculation and warm-up ------------------------------------------------
    def _schedule_speculation(self, uri: str, version: int, text: str, offset: int, texts: list[str]) -> None:
        if texts and self.settings.speculate and self.engine is not None:
            task = asyncio.ensure_future(self._speculate(uri, version, text, offset, texts[0]))
            self._background.add(task)  # keep a reference until it ends
            task.add_done_callback(self._background.discard)

    async def _speculate(self, uri: str, version: int, text: str, offset: int, accepted: str) -> None:
        """While a suggestion is shown and the model is idle: what comes after accepting it."""
        await asyncio.sleep(0)  # after the answer is sent
        engine = self.engine
        if engine is None or self._stale(uri, version) or self.cache is None or engine.busy():
            return
        after = text[:offset] + accepted + text[offset:]
        prepared = prepare(
            after,
            offset + len(accepted),
            engine.model,
            self.settings,
            None,
            False,
            self.line_factors(),
            "",
            self.window_hints.get(uri),
        )
        if prepared.plan.alternatives > 1:
            return
        key = self.cache_key(engine.model, prepared)
        if self.cache.get(key) is not None:
            return
        future = engine.submit_if_idle(request_for(prepared, label=f"speculative {uri}@{version}"))
        if future is None:
            return
        self.stats["speculations"] += 1
        result = await _shielded(future, asyncio.get_running_loop())
        if not result.cancelled:
            self.cache.put(key, [t for t in [finish(prepared, result)] if t])
            self.stats["speculations_done"] += 1

    def warm_up(self, uri: str) -> None:
        """A file was opened: evaluate its prompt while the user reads, so the first request is warm."""
        engine, doc = self.engine, self.documents.get(uri)
        if engine is None or doc is None or self.state != "ready":
            return
        offset = len(doc.text)
        prepared = prepare(doc.text, offset, engine.model, self.settings)
        warm = GenerationRequest(prepared.prompt, StopRules(max_tokens=1), label=f"warm-up {uri}")
        if engine.submit_if_idle(warm) is not None:
            self.stats["warmups"] += 1

    # -- telemetry ---------------------------------------------------------------------------------
    def on_accepted(self, item_id: Any, accepted_chars: Any = None) -> None:
        """The client accepted a suggestion: count it, and check 30 s and 2 min later that it stayed."""
        if self.telemetry is None or not isinstance(item_id, str):
            return
        chars = accepted_chars if isinstance(accepted_chars, int) and accepted_chars >= 0 else None
        item = self.telemetry.accepted(item_id, chars)
        if item is None or self.loop is None:
            return
        for delay in RETENTION_CHECKS_S:
            self.loop.call_later(delay * self.retention_scale, self._check_retention, item, delay)

    def _check_retention(self, item: Shown, delay: int) -> None:
        doc = self.documents.get(item.uri)
        if self.telemetry is not None:
            self.telemetry.retention(item, delay, doc is not None and still_present(doc.text, item.text, item.line))


def key_of(request_id: Any) -> str:
    return str(request_id) if request_id is not None else uuid.uuid4().hex[:8]


def _shielded(future: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
    """Await a concurrent future without cancelling it when the awaiting task is cancelled.

    The engine resolves every job itself (as "cancelled" when its flag is set), so its result,
    token count included, is still recorded after a $/cancelRequest.
    """
    waiter = loop.create_future()

    def copy(f: Any) -> None:
        if waiter.done():
            return
        if f.exception() is not None:
            waiter.set_exception(f.exception())
        else:
            waiter.set_result(f.result())

    future.add_done_callback(lambda f: loop.call_soon_threadsafe(copy, f))
    return waiter


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
        ls.start_model_load()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(ls: SlipstreamServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def on_inline_completion(ls: SlipstreamServer, params: types.InlineCompletionParams):
        return await ls.inline_completion(params)

    @server.feature(methods.GET_STATUS)
    def on_get_status(ls: SlipstreamServer, params: Any) -> dict[str, Any]:
        uri = getattr(params, "uri", None) if not isinstance(params, dict) else params.get("uri")
        return ls.status(uri if isinstance(uri, str) else None)

    @server.feature(methods.STATS)
    def on_stats(ls: SlipstreamServer, params: Any) -> dict[str, Any]:
        return ls.telemetry.stats() if ls.telemetry is not None else {"enabled": False, "classes": {}}

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
        if ls.engine is not None:
            ls.engine.close()

    return server
