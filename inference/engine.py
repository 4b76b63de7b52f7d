"""One model, one generation at a time, newest request wins.

A single worker thread owns the model. Submitting a request supersedes every earlier one: a
queued request is dropped without touching the model and a running one stops at its next token
(or its next prompt chunk while the prompt is still being evaluated).

A token-healed prompt (``Prompt.heal``, see inference/healing.py) is evaluated without its healed tail; the
first tokens are then chosen here, over the model's logits masked to what ``healing.Constraint`` allows
(greedy, or sampled like llama.cpp's chain for alternatives), until the healed text is covered; generation
then goes on through ``llama.generate`` from the same KV cache. The healed bytes are stripped before
decoding, so ``on_text`` and the result never contain them.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from slipstream.inference.healing import Constraint
from slipstream.inference.model import LoadedModel
from slipstream.inference.prompt import Prompt
from slipstream.inference.stops import StopRules, check_stop

log = logging.getLogger(__name__)

PREFILL_CHUNK = 64  # prompt tokens evaluated between two checks of the cancel flag
# Speculation checks far more often: a keystroke that arrives during its prefill waits for at most one such
# chunk (bench/latency.py's fast pace measures it). The warm-up of an opened file keeps PREFILL_CHUNK: its
# prompt is the whole window, and smaller chunks cost decode calls.
BACKGROUND_CHUNK = 16


@dataclass
class GenerationRequest:
    prompt: Prompt
    rules: StopRules
    on_text: Callable[[str], None] | None = None  # receives the whole text so far, after each token
    cancel: threading.Event = field(default_factory=threading.Event)
    label: str = ""
    temperature: float = 0.0  # 0: greedy (the first suggestion); >0: sampled alternatives
    seed: int = 0
    background: bool = False  # speculation: prefilled in BACKGROUND_CHUNK steps


@dataclass
class GenerationResult:
    text: str
    stop_reason: str  # eog, newline, max_lines, max_tokens, time, policy, cancelled, superseded
    n_tokens: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    t_first_token_s: float | None = None  # from the start of this request's turn on the model
    t_total_s: float = 0.0
    t_queued_s: float = 0.0
    t_prefill_s: float = 0.0  # chunked prompt evaluation before generate() (cold prompts only)

    @property
    def cancelled(self) -> bool:
        return self.stop_reason in ("cancelled", "superseded")


@dataclass
class _Job:
    request: GenerationRequest
    future: Future
    submitted: float
    superseded: bool = False


class Engine:
    """Owns the model and its worker thread."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self._lock = threading.Condition()
        self._pending: _Job | None = None
        self._running: _Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._worker, name="slipstream-engine", daemon=True)
        self._thread.start()

    # -- public API --------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> Future:
        """Queue ``request`` as the newest; every earlier request is superseded."""
        fut: Future = Future()
        job = _Job(request, fut, time.perf_counter())
        with self._lock:
            if self._closed:
                fut.set_exception(RuntimeError("engine is closed"))
                return fut
            self._supersede_locked()
            self._pending = job
            self._lock.notify_all()
        return fut

    def submit_if_idle(self, request: GenerationRequest) -> Future | None:
        """Background work (warm-up, speculation): runs only when nothing else is queued or running,
        and any later submit supersedes it."""
        with self._lock:
            if self._closed or self._pending is not None or self._running is not None:
                return None
            fut: Future = Future()
            self._pending = _Job(request, fut, time.perf_counter())
            self._lock.notify_all()
            return fut

    def supersede_all(self) -> None:
        """Drop queued work and stop the running generation (e.g. the document changed)."""
        with self._lock:
            self._supersede_locked()

    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or self._pending is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._supersede_locked()
            self._lock.notify_all()
        self._thread.join(timeout=5)

    # -- worker ------------------------------------------------------------------------------
    def _supersede_locked(self) -> None:
        if self._pending is not None:
            old = self._pending
            self._pending = None
            old.superseded = True
            old.request.cancel.set()
            _resolve(old.future, GenerationResult("", "superseded", t_queued_s=time.perf_counter() - old.submitted))
        if self._running is not None:
            self._running.superseded = True
            self._running.request.cancel.set()

    def _worker(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._pending
                self._pending = None
                self._running = job
            assert job is not None
            result: GenerationResult | None = None
            error: BaseException | None = None
            try:
                if job.request.cancel.is_set():  # stale before its turn: never touches the model
                    result = GenerationResult("", "superseded" if job.superseded else "cancelled")
                else:
                    result = self._generate(job)
            except BaseException as exc:  # the worker must survive anything a request does
                log.exception("generation failed")
                self.model.llama.n_tokens = 0  # the model's memory may be half-written: never reuse it
                error = exc
            with self._lock:
                self._running = None  # idle before anyone hears of the result
                idle = self._pending is None
            if error is not None:
                if not job.future.done():
                    job.future.set_exception(error)
            elif result is not None:
                _resolve(job.future, result)
            if idle:
                _trim_heap()

    def _generate(self, job: _Job) -> GenerationResult:
        req = job.request
        llama = self.model.llama
        heal = req.prompt.heal
        tokens = req.prompt.model_tokens()
        t0 = time.perf_counter()
        queued = t0 - job.submitted

        def stopped(reason_text: str = "", n: int = 0, first: float | None = None) -> GenerationResult:
            return GenerationResult(
                reason_text,
                "superseded" if job.superseded else "cancelled",
                n,
                len(tokens),
                reused,
                first,
                time.perf_counter() - t0,
                queued,
            )

        if not tokens:
            return GenerationResult("", "empty_prompt", t_queued_s=queued)
        if len(tokens) >= llama.n_ctx() - req.rules.max_tokens:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context of {llama.n_ctx()}")

        # Prefill in small chunks so a newer keystroke interrupts a cold prompt quickly.
        reused = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens[:-1])
        if reused == 0 or not llama._ctx.kv_cache_seq_rm(-1, reused, -1):
            reused = 0  # the model's memory cannot drop a tail: start over
        llama.n_tokens = reused
        pos = reused
        # The last chunk (at most PREFILL_CHUNK tokens) is left to generate(): one decode call fewer,
        # which is most of the cost of a warm keystroke.
        chunk = BACKGROUND_CHUNK if req.background else PREFILL_CHUNK
        while len(tokens) - pos > chunk:
            if req.cancel.is_set():
                return stopped()
            llama.eval(tokens[pos : pos + chunk])
            pos += chunk
        if req.cancel.is_set():
            return stopped()

        t_prefill = time.perf_counter() - t0
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        n = 0
        first: float | None = None
        reason = "max_tokens"
        if req.temperature > 0:
            llama.set_seed(req.seed)
            sampling = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "temp": req.temperature}
        else:
            sampling = {"top_k": 1, "top_p": 1.0, "min_p": 0.0, "temp": 0.0}
        constraint = Constraint(self.model.vocabulary, heal.text) if heal else None
        stream = self._tokens(tokens, constraint, sampling, req.seed)
        try:
            for tok, piece in stream:
                if req.cancel.is_set():
                    return stopped(text, n, first)
                now = time.perf_counter()
                if first is None:
                    first = now - t0
                if self.model.is_eog(tok):
                    reason = "eog"
                    break
                n += 1
                text += decoder.decode(piece)
                check = check_stop(text, req.rules)
                text = check.text
                if req.on_text is not None and text:
                    req.on_text(text)
                if check.stop:
                    reason = check.reason
                    break
                if n >= req.rules.max_tokens:
                    reason = "max_tokens"
                    break
                if now - (t0 + first) > req.rules.time_budget_s:
                    reason = "time"
                    break
        finally:
            stream.close()
        return GenerationResult(
            text, reason, n, len(tokens), reused, first, time.perf_counter() - t0, queued, t_prefill
        )

    def _tokens(
        self, tokens: list[int], constraint: Constraint | None, sampling: dict[str, Any], seed: int
    ) -> Generator[tuple[int, bytes], None, None]:
        """Generated tokens with the bytes each adds to the suggestion (the healed text's never included).

        With a constraint, the first tokens are picked here from the masked logits of the prompt's end (each
        evaluated before the next is picked) until the healed text is covered; ``llama.generate`` then goes
        on from the prompt plus those tokens: its prefix match finds all but the last in the KV cache, so no
        token is evaluated twice.
        """
        llama = self.model.llama
        chosen: list[int] = []
        if constraint is not None:
            rng = np.random.default_rng(seed)
            llama.eval(tokens[llama.n_tokens :])  # the last prompt chunk (the engine left at least one token)
            while True:
                logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))
                tok = pick(logits, constraint.allowed(), sampling, rng)
                piece = constraint.feed(tok)
                chosen.append(tok)
                yield tok, piece
                if constraint.done:
                    break
                llama.eval([tok])
        gen = llama.generate(tokens + chosen, repeat_penalty=1.0, reset=True, **sampling)
        try:
            for tok in gen:
                yield tok, self.model.token_bytes(tok)
        finally:
            gen.close()


def pick(logits: np.ndarray, allowed: np.ndarray, sampling: dict[str, Any], rng: np.random.Generator) -> int:
    """One token among ``allowed`` (never empty): the most likely when greedy (``temp`` 0), else sampled like
    llama.cpp's chain (top-k, then top-p and min-p over the softmax of the logits, then temperature)."""
    scores = logits[allowed].astype(np.float64)
    if sampling["temp"] <= 0:
        return int(allowed[int(np.argmax(scores))])
    k = max(1, int(sampling["top_k"]))
    top = np.argpartition(scores, -k)[-k:] if len(scores) > k else np.arange(len(scores))
    top = top[np.argsort(scores[top])[::-1]]  # the k best, best first
    scores = scores[top]
    p = np.exp(scores - scores[0])
    p /= p.sum()
    keep = min(len(p), int(np.searchsorted(np.cumsum(p), sampling["top_p"])) + 1)  # the smallest set reaching top_p
    keep = max(1, min(keep, int(np.count_nonzero(p >= sampling["min_p"] * p[0]))))
    scores = scores[:keep] / sampling["temp"]
    q = np.exp(scores - scores[0])
    return int(allowed[top[int(rng.choice(keep, p=q / q.sum()))]])


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _trim_heap() -> None:
    """Give freed heap back to the system when idle (~0.1 ms).

    llama.cpp's varying batch shapes leave ~100 MB of freed-but-kept heap after a few dozen
    generations; returning it keeps the server's resident memory near the model's size.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _resolve(fut: Future, result: GenerationResult) -> None:
    if not fut.done():
        fut.set_result(result)
