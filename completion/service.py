"""Completion orchestration between the LSP layer and the engine: no LSP types, no protocol object.

``CompletionService.complete`` answers one request in three ways, cheapest first: (1) the user typed
along a suggestion that is on screen or still being generated: the rest of it, without the model (a key
typed while a keystroke's generation has written nothing yet waits for its first text, and asks the model
only if that does not pass what was typed);
(2) the same context was answered (or speculated) before: the cached answer; (3) the model, streaming
cleaned partial text through the ``notify`` callback. A request for a document version that is no
longer current raises ``Superseded`` (never a stale answer). After an answer, speculation computes what
follows accepting it while the model is idle; opening a file warms the model up on its prompt.
The engine is local or remote (inference/api.py); a remote one that cannot answer gives no ghost text and
nothing is cached (its host reports the fault).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slipstream.completion.anchors import Anchor, AnchorStore, make_anchor
from slipstream.completion.cache import CompletionCache
from slipstream.completion.prepare import Options, Prepared, PrepareRequest, finish, prepare, request_for
from slipstream.completion.project_context import ProjectContext
from slipstream.completion.telemetry import RETENTION_CHECKS_S, Shown, Telemetry, still_present
from slipstream.heuristics.cadence import Cadence, cadence_from, speculation_wait_ms
from slipstream.heuristics.context import Above
from slipstream.inference.api import FAILED, GenerationEngine
from slipstream.inference.engine import GenerationRequest, GenerationResult
from slipstream.inference.stops import StopRules

log = logging.getLogger(__name__)


class Superseded(Exception):
    """The document changed (or the request was cancelled) before the answer was ready."""


@dataclass(frozen=True)
class CompletionRequest:
    uri: str
    version: int
    text: str
    offset: int  # index into ``text``
    line: int  # the cursor, as the client sent it (echoed in partials)
    character: int
    request_id: Any
    invoked: bool = False  # explicitly asked for (not as-you-type)


@dataclass(frozen=True)
class Partial:
    """Streamed ghost text for one request (``done``: the final text)."""

    uri: str
    version: int
    line: int
    character: int
    request_id: Any
    text: str
    done: bool


@dataclass
class Answer:
    texts: list[str]
    item_ids: list[str]  # for acceptance telemetry, one per text
    context_class: str


@dataclass
class _InFlight:
    uri: str
    version: int
    request: GenerationRequest
    anchor: Anchor | None = None


@dataclass
class _Follower:
    """A newer request answered from a running generation the user is typing along."""

    version: int
    line: int
    character: int
    request_id: Any
    typed: str
    ahead: bool = False  # typed ahead of the generation's text: it waits for the text to pass what was typed
    off_track: asyncio.Event = field(default_factory=asyncio.Event)  # ... and wakes when it does not


@dataclass
class Config:
    options: Options = field(default_factory=Options)
    speculate: bool = True
    project_context: bool = False


def _new_stats() -> dict[str, Any]:
    return {
        "requests": 0,
        "answered": 0,
        "superseded": 0,
        "typed_through": 0,
        "cache_hits": 0,
        "speculations": 0,
        "speculations_done": 0,
        "guesses_followed": 0,  # keystrokes that waited for a guess under way (it then runs on every thread)
        "typed_ahead": 0,  # keystrokes that waited for a generation under way they were typed ahead of
        "warmups": 0,
        "last_first_ms": None,
        "last_total_ms": None,
    }


class CompletionService:
    """Everything between a completion request and the engine. ``notify`` sends a partial to the client;
    ``version_of(uri)`` is the current version of an open document (None when closed)."""

    def __init__(self, notify: Callable[[Partial], None], version_of: Callable[[str], int | None]) -> None:
        self.notify = notify
        self.version_of = version_of
        self.config = Config()
        self.engine: GenerationEngine | None = None
        self.telemetry: Telemetry | None = None
        self.cache: CompletionCache | None = None
        self.project = ProjectContext()
        self.anchors = AnchorStore()
        self.stats = _new_stats()
        self.recent: deque[dict[str, Any]] = deque(maxlen=32)  # the last generations, for status and tests
        self.retention_scale = 1.0  # seconds per second of the retention checks (tests shrink them)
        self._inflight: dict[int, _InFlight] = {}
        self._edit_times: dict[str, deque[float]] = {}
        self._texts: dict[str, str] = {}  # each document's text after its last edit
        # each document's last prompt window start (keeps the KV cache), with the model it was laid out for: a
        # window start from another model's budget (a remote server's 96 lines, then the local fallback's 64)
        # would keep that model's wider window, and its cold prompt, on this one
        self._window_hints: dict[str, tuple[str, int]] = {}
        self._above: dict[str, Above] = {}  # each document's analysis of the text above its cursor line (~its size)
        self._background: set[asyncio.Future] = set()
        self._ids = itertools.count(1)

    # -- documents ---------------------------------------------------------------------------------
    def changed(self, uri: str, version: int, text: str) -> None:
        """An edit supersedes every completion computed for an older version of the document, except
        a running one whose first characters the user just typed (it will answer the newer request)."""
        self._edit_times.setdefault(uri, deque(maxlen=16)).append(time.monotonic())
        self._texts[uri] = text
        self._cancel_stale(uri, version, text)

    def closed(self, uri: str) -> None:
        self._edit_times.pop(uri, None)
        self._texts.pop(uri, None)
        self.anchors.drop(uri)
        self._window_hints.pop(uri, None)
        self._above.pop(uri, None)
        self._cancel_stale(uri, None, None)

    def _cancel_stale(self, uri: str, version: int | None, text: str | None) -> None:
        for fl in self._inflight.values():
            if fl.uri != uri or fl.version == version:
                continue
            if text is not None and fl.anchor is not None and fl.anchor.still_typed_through(text):
                continue
            fl.request.cancel.set()

    def _stale(self, uri: str, version: int) -> bool:
        return self.version_of(uri) != version

    # -- answering ---------------------------------------------------------------------------------
    async def complete(self, req: CompletionRequest) -> Answer:
        engine = self.engine
        if engine is None:
            return Answer([], [], "")
        t0 = time.perf_counter()

        # 1. The user typed along a suggestion: the rest of it, without the model. A guess (speculation) was
        # planned for a keystroke: an explicit request, or one after a pause, plans more. A key typed while a
        # keystroke's generation has written nothing yet (a cold prompt, a fast typist) waits for its first
        # text: if that passes what was typed, the key is answered with the rest; if not, it leaves
        # (``off_track``) and asks the model; a key the cache answers does not wait.
        cadence = cadence_from(self._edit_times.get(req.uri, ()), time.monotonic())
        guesses = not (req.invoked or cadence.paused)
        found = self.anchors.find(req.uri, req.text, req.offset, guesses)
        ahead = self.anchors.find_ahead(req.uri, req.text, req.offset) if found is None else None
        if ahead is not None and self._cached(engine, req, cadence):  # the cache answers at once: no wait
            if ahead[0].request is not None:
                ahead[0].request.cancel.set()
            ahead = None
        if ahead is not None:
            found = (ahead[0], ahead[1], [])
            self.stats["typed_ahead"] += 1
        if found is not None and not found[0].done:
            anchor = found[0]
            follower = _Follower(req.version, req.line, req.character, req.request_id, found[1], ahead is not None)
            anchor.followers.append(follower)
            if found[2]:  # what it wrote so far passes what was typed: shown now, not at its next token
                self._send(req, req.version, req.line, req.character, req.request_id, found[2][0], False)
            if anchor.guess is not None:
                anchor.guess.urgent.set()  # a keystroke waits for it now: every thread
                self.stats["guesses_followed"] += 1
            try:
                await first_of(anchor.finished, follower.off_track)
            finally:
                anchor.followers.remove(follower)
            if self._stale(req.uri, req.version):
                raise Superseded("superseded by a newer edit")
            found = self.anchors.find(req.uri, req.text, req.offset, guesses)
        if found is not None and found[0].done and found[2]:
            self.stats["typed_through"] += 1
            if found[0].guess is not None or not found[0].guessed:
                # A guess shown: guess what follows it in turn. A keystroke's suggestion nothing was guessed after:
                # its generation ended after the next key (typed along it), so it was never answered, and at a
                # 30 ms gap that is every generation: the key typing its last character found no guess.
                found[0].guessed = True
                self._schedule_speculation(req, found[2])
            return self._answer(req, found[2], found[0].context_class)

        prepared = self._prepare(engine, req, cadence)
        self._window_hints[req.uri] = (engine.model.path, prepared.prompt.start_line)
        context_class = prepared.plan.context_class

        # 2. The same context was answered before (or speculated): the same answer.
        key = self.cache_key(engine, prepared)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            self.stats["cache_hits"] += 1
            if cached:
                hit = make_anchor(req.uri, req.text, req.offset, cached, True, context_class)
                hit.guessed = True
                self.anchors.add(hit)
            self._schedule_speculation(req, cached)
            return self._answer(req, cached, context_class)

        # 3. The model.
        loop = asyncio.get_running_loop()
        anchor = make_anchor(req.uri, req.text, req.offset, [""], False, context_class)
        anchor.finished = asyncio.Event()
        self.anchors.add(anchor)

        def stream(partial: str) -> None:
            loop.call_soon_threadsafe(self._stream, anchor, req, partial)

        try:
            result, first = await self._run(engine, prepared, req, stream, anchor)
        except BaseException:
            anchor.done = True
            anchor.texts = []
            anchor.finished.set()
            raise
        anchor.texts, anchor.done = ([first] if first else []), True
        anchor.finished.set()
        if result.cancelled or self._stale(req.uri, req.version):
            self.stats["superseded"] += 1
            raise Superseded("superseded by a newer edit or request")
        if result.stop_reason == FAILED:  # a remote engine's fault: no ghost text (the done partial clears any)
            return self._answer(req, [], context_class)
        self.stats["answered"] += 1
        self.stats["last_first_ms"] = round(result.t_first_token_s * 1000, 1) if result.t_first_token_s else None
        self.stats["last_total_ms"] = round(result.t_total_s * 1000, 1)
        self._send(req, req.version, req.line, req.character, req.request_id, first, True)
        texts = [first] if first else []
        # Exploration: up to N distinct alternatives, sampled, while the time budget allows.
        seed = 0
        while texts and len(texts) < prepared.plan.alternatives and seed < 2 * prepared.plan.alternatives:
            if time.perf_counter() - t0 > prepared.plan.time_budget_s:
                break
            seed += 1
            alt_result, alt = await self._run(engine, prepared, req, None, temperature=0.8, seed=seed)
            if alt_result.cancelled or self._stale(req.uri, req.version):
                raise Superseded("superseded by a newer edit or request")
            if alt_result.stop_reason == FAILED:
                break
            if alt and alt not in texts:
                texts.append(alt)
        anchor.texts = list(texts)
        if self.cache is not None and (len(texts) == prepared.plan.alternatives or prepared.plan.alternatives == 1):
            self.cache.put(key, texts)
        anchor.guessed = True
        self._schedule_speculation(req, texts)
        return self._answer(req, texts, context_class, send_done=False)

    def _answer(self, req: CompletionRequest, texts: list[str], context_class: str, send_done: bool = True) -> Answer:
        if send_done:  # answers without the model still end with the done partial
            self._send(req, req.version, req.line, req.character, req.request_id, texts[0] if texts else "", True)
        key = str(req.request_id) if req.request_id is not None else uuid.uuid4().hex[:8]
        ids = [f"{key}-{i}" for i in range(len(texts))]
        if self.telemetry is not None:
            for item_id, t in zip(ids, texts, strict=True):
                self.telemetry.shown(Shown(item_id, req.uri, req.line, t, context_class, "\n" in t))
        return Answer(list(texts), ids, context_class)

    def _send(
        self, req: CompletionRequest, version: int, line: int, character: int, request_id: Any, text: str, done: bool
    ) -> None:
        if self._stale(req.uri, version):
            return  # never show text for a stale document version
        self.notify(Partial(req.uri, version, line, character, request_id, text, done))

    def _stream(self, anchor: Anchor, req: CompletionRequest, text: str) -> None:
        anchor.texts = [text]
        self._send(req, req.version, req.line, req.character, req.request_id, text, False)
        self._to_followers(anchor, req, text)
        self._stop_if_departed(anchor, req)

    def _to_followers(self, anchor: Anchor, req: CompletionRequest, text: str) -> None:
        for f in list(anchor.followers):
            if text.startswith(f.typed) and len(text) > len(f.typed):
                self._send(req, f.version, f.line, f.character, f.request_id, text[len(f.typed) :], False)
                f.ahead = False  # the text passed what was typed: it follows as any typist along it does
            elif f.ahead:  # typed ahead of it, and what it wrote next does not pass what was typed: ask anew
                f.off_track.set()

    def _stop_if_departed(self, anchor: Anchor, req: CompletionRequest) -> None:
        """A generation kept running after an edit (typed along or ahead of it) stops once its text no longer
        fits the document (no key follows it, or the one that did left or was cancelled)."""
        if anchor.request is None or not self._stale(req.uri, req.version):
            return
        latest = self._texts.get(req.uri)
        if latest is None or not anchor.still_typed_through(latest):
            anchor.request.cancel.set()

    def _hint(self, uri: str, engine: GenerationEngine) -> int | None:
        """The document's last window start, if it was laid out for this engine's model."""
        kept = self._window_hints.get(uri)
        return kept[1] if kept is not None and kept[0] == engine.model.path else None

    def _prepare(self, engine: GenerationEngine, req: CompletionRequest, cadence: Cadence) -> Prepared:
        extra = self.project.get(req.uri, req.text, req.offset, req.line) if self.config.project_context else ""
        hint = self._hint(req.uri, engine)
        options = self.config.options
        request = PrepareRequest(
            req.text,
            req.offset,
            options,
            cadence,
            req.invoked,
            self.line_factors(),
            extra,
            hint,
            above=self._above.get(req.uri),
        )
        prepared = prepare(request, engine.model)
        self._keep_above(req.uri, prepared)
        return prepared

    def _keep_above(self, uri: str, prepared: Prepared) -> None:
        """The document's analysis of the lines above the cursor line, for its next keystroke (not once closed)."""
        if prepared.above is not None and self.version_of(uri) is not None:
            self._above[uri] = prepared.above

    def _cached(self, engine: GenerationEngine, req: CompletionRequest, cadence: Cadence) -> bool:
        """Does the cache hold an answer for this request (its context prepared as step 2 will)?"""
        if self.cache is None:
            return False
        return self.cache.get(self.cache_key(engine, self._prepare(engine, req, cadence))) is not None

    async def _run(
        self,
        engine: GenerationEngine,
        prepared: Prepared,
        req: CompletionRequest,
        stream: Any,
        anchor: Anchor | None = None,
        **sampling: Any,
    ) -> tuple[GenerationResult, str]:
        """One generation and its cleaned text; the caller decides what a stale version means."""
        loop = asyncio.get_running_loop()
        request = request_for(prepared, stream, label=f"{req.uri}@{req.version}", **sampling)
        if anchor is not None:
            anchor.request = request
        fl = _InFlight(req.uri, req.version, request, anchor)
        key = next(self._ids)
        self._inflight[key] = fl
        future = engine.submit(request)
        future.add_done_callback(lambda f: self._record(f, prepared, fl))
        try:
            result = await shielded(future, loop)
        except asyncio.CancelledError:
            request.cancel.set()  # $/cancelRequest: stop the worker at its next token
            raise
        finally:
            self._inflight.pop(key, None)
        return result, ("" if result.cancelled else finish(prepared, result))

    def _record(self, future: Any, prepared: Prepared, fl: _InFlight) -> None:
        """Keep the facts of each generation, whatever its end (called from the engine thread)."""
        if future.cancelled() or future.exception() is not None:
            return
        r = future.result()
        self.recent.append(
            {
                "label": fl.request.label,
                "mode": prepared.plan.mode,
                "prompt": prepared.prompt.mode,
                "healed": prepared.prompt.heal.n_tokens if prepared.prompt.heal else 0,  # tokens rewritten
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

    @staticmethod
    def cache_key(engine: GenerationEngine, prepared: Prepared) -> str:
        ctx, plan = prepared.context, prepared.plan
        return CompletionCache.key(
            engine.model.path,
            prepared.prompt.tokens,
            prepared.prompt.heal,  # the same prompt healed or not is another generation
            prepared.lead,  # the same prompt at a header's end (a line break ahead) and after Enter (none)
            (ctx.line_prefix, ctx.line_suffix, ctx.next_lines, ctx.previous_line, ctx.indent, ctx.kind),
            (plan.mode, plan.single_line, plan.max_lines, plan.max_tokens, plan.alternatives),
        )

    # -- background work: speculation and warm-up ------------------------------------------------
    def _schedule_speculation(self, req: CompletionRequest, texts: list[str]) -> None:
        if texts and self.config.speculate and self.engine is not None:
            task = asyncio.ensure_future(self._speculate(req, texts[0]))
            self._background.add(task)  # keep a reference until it ends
            task.add_done_callback(self._background.discard)

    async def _speculate(self, req: CompletionRequest, accepted: str) -> None:
        """While a suggestion is shown and the model is idle: what comes after accepting it.

        The guess streams into an anchor at the suggestion's end, so the keystroke that completes the
        suggestion (a typist who types it out rather than pressing Tab) follows the guess under way instead of
        waiting for a fresh decode; typing along the suggestion, and on along the guess, keeps it running.
        With an engine that stops background work within a decode (the embedded one: a keystroke waits at most
        for the graph node under way) it starts right after the answer. Otherwise (a remote server, shared with
        others) it starts once the user pauses (``speculation_wait_ms``)."""
        await asyncio.sleep(0)  # after the answer is sent
        engine = self.engine
        if engine is not None and not engine.stops_background_at_once:
            wait = speculation_wait_ms(cadence_from(self._edit_times.get(req.uri, ()), time.monotonic()))
            if wait:
                await asyncio.sleep(wait / 1000)
            engine = self.engine
        if engine is None or self._stale(req.uri, req.version) or self.cache is None or engine.busy():
            return
        after = req.text[: req.offset] + accepted + req.text[req.offset :]
        offset = req.offset + len(accepted)
        line = req.line + accepted.count("\n")
        extra = self.project.get(req.uri, after, offset, line) if self.config.project_context else ""
        prepared = prepare(
            PrepareRequest(
                after,
                offset,
                self.config.options,
                line_factor=self.line_factors(),
                extra=extra,
                hint=self._hint(req.uri, engine),
                above=self._above.get(req.uri),  # the same lines above when the suggestion is on one line
            ),
            engine.model,
        )
        if "\n" not in accepted:  # still the cursor line's: computed here first when no keystroke needed it
            self._keep_above(req.uri, prepared)
        if prepared.plan.alternatives > 1:
            return
        key = self.cache_key(engine, prepared)
        if self.cache.get(key) is not None:
            return
        loop = asyncio.get_running_loop()
        ahead = make_anchor(req.uri, after, offset, [""], False, prepared.plan.context_class)
        ahead.finished = asyncio.Event()
        along = make_anchor(req.uri, req.text, req.offset, [accepted])  # the user typing this keeps it running

        def stream(partial: str) -> None:
            loop.call_soon_threadsafe(self._stream_ahead, ahead, along, accepted, req, partial)

        request = request_for(prepared, stream, label=f"speculative {req.uri}@{req.version}", background=True)
        future = engine.submit_if_idle(request)
        if future is None:
            return
        ahead.guess = ahead.request = along.request = request
        self.anchors.add(ahead)
        inflight, fl = next(self._ids), _InFlight(req.uri, req.version, request, along)
        self._inflight[inflight] = fl
        future.add_done_callback(lambda f: self._record(f, prepared, fl))
        self.stats["speculations"] += 1
        text = ""
        try:
            result = await shielded(future, loop)
            if not result.cancelled and result.stop_reason != FAILED:
                text = finish(prepared, result)
                self.cache.put(key, [text] if text else [])
                self.stats["speculations_done"] += 1
        finally:
            if not future.done():  # this task was cancelled (the server is closing): so is the guess
                request.cancel.set()
            self._inflight.pop(inflight, None)
            ahead.texts, ahead.done = ([text] if text else []), True
            ahead.finished.set()

    def _stream_ahead(self, ahead: Anchor, along: Anchor, accepted: str, req: CompletionRequest, text: str) -> None:
        """A guess's text so far: kept for the keystrokes that will follow it, shown only to those that do."""
        if ahead.done:  # a late token of a guess already given up
            return
        ahead.texts, along.texts = [text], [accepted + text]
        self._to_followers(ahead, req, text)
        self._stop_if_departed(along, req)

    def warm_up(self, uri: str, text: str) -> None:
        """A file was opened: evaluate its prompt while the user reads, so the first request is warm."""
        engine = self.engine
        if engine is None:
            return
        # The document's own text, no lead (a line break the policy would write after a last statement): the
        # keystrokes to come share the text, not a guess after it.
        prepared = prepare(PrepareRequest(text, len(text), self.config.options, leads=False), engine.model)
        warm = GenerationRequest(prepared.prompt, StopRules(max_tokens=1), label=f"warm-up {uri}")
        if engine.submit_if_idle(warm) is not None:
            self.stats["warmups"] += 1
            # The first keystroke near the end keeps this window's start, and so the KV cache just filled:
            # without it, a request 12 lines above the end of a long file started its window 16 lines higher
            # and reused 1 of its 820 prompt tokens (tests/test_lsp_reuse.py).
            if self._hint(uri, engine) is None:
                self._window_hints[uri] = (engine.model.path, prepared.prompt.start_line)

    # -- acceptance telemetry ----------------------------------------------------------------------
    def accepted(self, item_id: Any, accepted_chars: Any, text_of: Callable[[str], str | None]) -> None:
        """The client accepted a suggestion: count it, and check 30 s and 2 min later that it stayed."""
        if self.telemetry is None or not isinstance(item_id, str):
            return
        chars = accepted_chars if isinstance(accepted_chars, int) and accepted_chars >= 0 else None
        item = self.telemetry.accepted(item_id, chars)
        if item is None:
            return
        loop = asyncio.get_running_loop()
        for delay in RETENTION_CHECKS_S:
            loop.call_later(delay * self.retention_scale, self._check_retention, item, delay, text_of)

    def _check_retention(self, item: Shown, delay: int, text_of: Callable[[str], str | None]) -> None:
        text = text_of(item.uri)
        if self.telemetry is not None:
            self.telemetry.retention(item, delay, text is not None and still_present(text, item.text, item.line))

    def close(self) -> None:
        """The service's own threads (the engine belongs to its host); telemetry writes what it holds."""
        self.project.close()
        if self.telemetry is not None:
            self.telemetry.close()


async def first_of(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def shielded(future: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
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
