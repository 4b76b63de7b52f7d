"""Remote engines: a team's inference server answers instead of the local model.

Two dialects share everything here: ``openai`` (``POST /v1/completions``, remote_openai.py: llama-cpp-python's
server, vLLM, Ollama, TGI) and ``llamacpp`` (llama.cpp's ``llama-server``: ``POST /infill`` and
``/completion``, remote_llamacpp.py). ``host.open_remote`` picks one by ``RemoteConfig.engine``.

Same semantics as the local engine (a remote engine *is* an ``Engine``: the same worker thread and queue):
one generation at a time, newest request wins. A queued request that is superseded never reaches the
network; a running one closes its HTTP stream within ``CANCEL_POLL_S`` (the server sees the disconnect and
stops generating). One pooled HTTP client (aiohttp, keep-alive, at most one connection; picked over httpx
by bench/http_client.py: 0.31 vs 1.03 ms per streamed answer at p50, 0.43 vs 5.2 ms at p95) talks to the
configured host only: no redirects are followed, no proxy or other setting is read from the environment,
TLS certificates and host names are verified (against the system's store, certifi's bundle and
``caBundle`` when set).

Token counts. Prompt building needs them (budgets, context size) but the server's tokenizer is not here,
so a ``RemoteModel`` counts *pseudo-tokens*: the UTF-8 bytes of the text, ``BYTES_PER_TOKEN`` per token
(the last one shorter). Code measures 3.3 to 3.8 bytes per real token on Gemma 3's tokenizer and about as
much on other BPE vocabularies, so this overestimates a little: a prompt within budget fits a server
context of ``contextSize`` tokens. Each pseudo-token packs its bytes and their count into an int, so the
ids identify the text (cache keys) and decode back to it exactly: the engine rebuilds the prompt's parts
from them (``split_layout``), and negative ids mark the FIM layout (``FIM_MARKERS``).

Faults (connection refused, DNS, TLS, 401/403, an unknown model, 429, 5xx, timeouts, a stream cut
mid-way, malformed SSE or JSON) end the request with ``stop_reason == api.FAILED`` and no text, and are
reported through ``on_health`` (``None`` after every exchange that worked); the host turns that into one
message per fault episode (host.py). After a fault the engine backs off: requests within the backoff
window (0.5 s doubling to ``BACKOFF_MAX_S``, or the server's ``Retry-After`` up to ``RETRY_AFTER_MAX_S``)
fail at once without touching the network; the first one after it tries again, and one that works ends
the episode. The API key is read from the environment variable named by ``apiKeyEnv``; it is never logged
and never appears in a message (server replies quoted in messages are redacted).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slipstream.inference.api import FAILED
from slipstream.inference.engine import Engine, GenerationRequest, GenerationResult, Job
from slipstream.inference.fim import FimTokens
from slipstream.inference.model import ModelLoadError
from slipstream.inference.prompt import PromptBudget
from slipstream.inference.stops import check_stop

log = logging.getLogger(__name__)

REMOTE_ENGINES = ("openai", "llamacpp")
ENGINES = ("local", *REMOTE_ENGINES)
BYTES_PER_TOKEN = 3  # pseudo-tokens: see the module's docstring
FIM_MARKERS = FimTokens(-1, -2, -3)  # where build_prompt puts FIM markers; never a pseudo-token (those are >= 0)
CANCEL_POLL_S = 0.01  # how often a running request looks at its cancel flag
ERROR_BODY_BYTES = 16384  # of an error reply, for its message
REPLY_BYTES = 1 << 20  # of a small reply read whole (llama-server's /props holds a chat template)
LINE_BYTES = 16 << 20  # of one line of a stream
DRAIN_S = 1.0  # after the last event, how long to wait for the end of the body (keeps the connection alive)
BACKOFF_FIRST_S = 0.5  # after a fault, requests fail without the network this long, doubling per fault ...
BACKOFF_MAX_S = 8.0  # ... up to this: a server that comes back is used again within 8 s of typing
RETRY_AFTER_MAX_S = 300.0  # a server's Retry-After is obeyed up to this

# Client-side FIM layouts (prefix-suffix-middle) for servers that take a raw prompt.
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "qwen": ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    "starcoder": ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    "deepseek": ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
    "codellama": ("<PRE> ", " <SUF>", " <MID>"),
    "codegemma": ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
}
FIM_TEMPLATES = ("", *TEMPLATES)  # "": the server's own FIM (the request's suffix, llama-server's /infill)


@dataclass(frozen=True)
class RemoteConfig:
    endpoint: str = "http://127.0.0.1:8080"
    model: str = ""  # the server's model name; empty: the first one it lists (or its default)
    fim_template: str = ""
    timeout_ms: int = 30000
    api_key_env: str = ""  # the NAME of an environment variable holding the key
    n_ctx: int = 2048  # the prompt budget, in pseudo-tokens, as contextSize
    engine: str = "openai"  # which dialect: REMOTE_ENGINES
    ca_bundle: str = ""  # a PEM file of extra CA certificates (a company's own CA), trusted besides the system's


# -- pseudo-tokens ------------------------------------------------------------------------------------
def pseudo_tokenize(text: str) -> list[int]:
    """``BYTES_PER_TOKEN`` UTF-8 bytes per id: the bytes, big-endian, plus their count << 24."""
    data = text.encode("utf-8", "surrogatepass")
    n = BYTES_PER_TOKEN
    return [int.from_bytes(data[i : i + n], "big") | (len(data[i : i + n]) << 24) for i in range(0, len(data), n)]


def pseudo_text(ids: list[int]) -> str:
    out = bytearray()
    for t in ids:
        count = t >> 24
        out += (t & 0xFFFFFF).to_bytes(BYTES_PER_TOKEN, "big")[BYTES_PER_TOKEN - count :]
    return out.decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Layout:
    """A prompt's parts, as a server's request wants them."""

    head: str  # ahead of the code (project context); "" in a prefix-only prompt (it is part of ``before``)
    before: str  # the lines before the cursor's line, each with its newline
    current: str  # the cursor's line up to the cursor
    after: str | None  # the text after the cursor; None: a prefix-only prompt

    @property
    def prefix(self) -> str:
        return self.head + self.before + self.current


def split_layout(tokens: list[int]) -> Layout:
    pre, suf, mid = FIM_MARKERS.as_tuple()
    if pre in tokens and suf in tokens and mid in tokens:
        i, j, k = tokens.index(pre), tokens.index(suf), tokens.index(mid)
        # build_prompt's FIM layout: head [pre] lines before [suf] text after [mid] the cursor line's start
        return Layout(
            pseudo_text(tokens[:i]),
            pseudo_text(tokens[i + 1 : j]),
            pseudo_text(tokens[k + 1 :]),
            pseudo_text(tokens[j + 1 : k]),
        )
    text = pseudo_text([t for t in tokens if t >= 0])
    cut = text.rfind("\n") + 1
    return Layout("", text[:cut], text[cut:], None)


def split_prompt(tokens: list[int]) -> tuple[str, str | None]:
    """A prompt's text before the cursor and after it (None: a plain prompt, no FIM)."""
    layout = split_layout(tokens)
    return layout.prefix, layout.after


def fim_prompt(template: str, prefix: str, suffix: str) -> str:
    """The raw prompt of a named FIM layout. Marker texts inside the user's code are defused (a space after
    their first character) so a file cannot forge the layout."""
    markers = TEMPLATES[template]
    for m in markers:
        m = m.strip()
        prefix, suffix = prefix.replace(m, m[0] + " " + m[1:]), suffix.replace(m, m[0] + " " + m[1:])
    return markers[0] + prefix + markers[1] + suffix + markers[2]


# -- the endpoint -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    root: str  # scheme://host:port
    base: str  # the path requests are under ("/v1" for OpenAI's API; "" for llama-server at the root)
    host: str  # host:port, as shown in status and messages
    loopback: bool

    @property
    def display(self) -> str:
        """scheme://host:port/path (never credentials: those are refused)."""
        return self.root + self.base

    def url(self, path: str) -> str:
        return self.root + self.base + path


def parse_url(url: str, strip: tuple[str, ...] = ()) -> Endpoint:
    """``http(s)://host[:port][/path]``, the path without a trailing ``/`` nor any of ``strip`` (endpoint
    names a user may paste with the URL). Credentials, queries and fragments are refused (the key goes in
    ``apiKeyEnv``)."""
    try:
        u = urlsplit(url.strip())
        u.port  # noqa: B018 - validated here: a bad port is a clear error now, not a failed request later
    except ValueError:
        raise ModelLoadError("slipstream.endpoint is not a valid URL") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ModelLoadError("slipstream.endpoint must be an http:// or https:// URL with a host")
    if u.username is not None or u.password is not None:
        raise ModelLoadError(
            "slipstream.endpoint must not contain credentials: put the API key in an environment variable "
            "and its name in slipstream.apiKeyEnv"
        )
    if u.query or u.fragment:
        raise ModelLoadError("slipstream.endpoint must not have a query or fragment")
    path = u.path.rstrip("/")
    for s in strip:
        if path.endswith(s):
            path = path[: -len(s)]
            break
    try:
        loopback = ipaddress.ip_address(u.hostname).is_loopback
    except ValueError:
        loopback = u.hostname == "localhost"
    return Endpoint(f"{u.scheme}://{u.netloc}", path, u.netloc, loopback)


def endpoint_label(url: str) -> str:
    """host:port for progress and status while connecting (never the raw setting: it may hold credentials)."""
    try:
        return parse_url(url).host
    except ModelLoadError:
        return "the remote engine"


class RemoteModel:
    """What prompt building sees of a remote model: pseudo-tokens; FIM when the server does it (or a
    template lays it out here)."""

    bos: int | None = None
    # The server evaluates prompts (a GPU's thousands of tokens a second, its own prompt cache): the wider
    # window, for the stronger models teams run. What bounds it here is ``n_ctx`` (prepare shrinks to fit).
    budget = PromptBudget()

    def __init__(self, config: RemoteConfig, endpoint: Endpoint) -> None:
        self._n_ctx = config.n_ctx
        self.engine = config.engine
        self.endpoint = endpoint
        self.requested = config.model
        self.served = config.model  # the name in use (with no model set: the server's first, once listed)
        self.layout = config.fim_template or "server"
        self.fim: FimTokens | None = FIM_MARKERS  # None once the server said it cannot fill in the middle

    @property
    def name(self) -> str:
        return self.served or "server default"

    @property
    def path(self) -> str:
        """The model's identity in cache keys: engine, endpoint, model and FIM layout."""
        return f"{self.engine}:{self.endpoint.display}#{self.served}#{self.layout if self.fim else 'prefix'}"

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: str) -> list[int]:
        return pseudo_tokenize(text)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": f"{self.endpoint.display} · {self.name}",
            "fim": self.fim is not None,
            "engine": self.engine,
            "endpoint": self.endpoint.host,
            "model": self.name,
            "fimTemplate": self.layout if self.fim else "none (prefix only)",
            "tokens": f"approximate: UTF-8 bytes / {BYTES_PER_TOKEN}",
        }


class RemoteFault(Exception):
    """A request could not be answered; ``message`` says why, for the user (never holds the key)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds the server asked us to wait (429/503 Retry-After)


@dataclass
class _Run:
    text: str = ""
    n: int = 0
    first: float | None = None
    answered: bool = False  # the server accepted the request (200): it is up


class RemoteEngine(Engine, ABC):
    """The HTTP side every dialect shares: the pooled client and its event loop, cancellation, the stream,
    stop rules, faults and backoff. A dialect says where a request goes and what its events mean."""

    ENGINE = ""  # the dialect's name (REMOTE_ENGINES)
    LENGTH = "length"  # the finish reason a server gives when it stopped at the token limit
    STRIP: tuple[str, ...] = ()  # endpoint suffixes a user may paste with the URL (see parse_url)

    def __init__(self, config: RemoteConfig, on_health: Callable[[str | None], None] | None = None) -> None:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ModelLoadError("aiohttp is not installed in the server's environment") from exc
        self._aiohttp = aiohttp
        self.config = config
        self.endpoint = self.parse_endpoint(config.endpoint)
        if config.fim_template not in FIM_TEMPLATES:
            raise ModelLoadError(f"slipstream.fimTemplate must be one of {', '.join(TEMPLATES)} or empty")
        key = ""
        if config.api_key_env:
            # Never echo the setting's value: a user may have pasted the key itself there.
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", config.api_key_env):
                raise ModelLoadError(
                    "slipstream.apiKeyEnv must be the NAME of an environment variable holding the key, not the key"
                )
            key = os.environ.get(config.api_key_env, "").strip()
            if not key:
                raise ModelLoadError(
                    "the environment variable named by slipstream.apiKeyEnv is not set (or empty) in the "
                    "language server's environment"
                )
        self._secret = key
        https = self.endpoint.root.startswith("https:")
        if not self.endpoint.loopback and not https:
            log.warning("slipstream.endpoint is plain http to %s: prompts travel unencrypted", self.endpoint.host)
        self.on_health = on_health
        self._verified = False  # the server was checked (again after every fault)
        self._failures = 0  # faults in a row: the backoff doubles with each
        self._retry_at = 0.0  # time.monotonic() before which requests fail without the network
        tls = _tls_context(config.ca_bundle) if https else None
        self._loop = asyncio.new_event_loop()  # the client's requests run here; the engine's worker waits on them
        self._io = threading.Thread(target=self._loop.run_forever, name="slipstream-remote-io", daemon=True)
        self._io.start()
        self._shut = False
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = asyncio.run_coroutine_threadsafe(self._open(tls, headers), self._loop).result()
        super().__init__(RemoteModel(config, self.endpoint))  # type: ignore[arg-type]

    async def _open(self, tls: Any, headers: dict[str, str]) -> Any:
        """The session, made on the I/O loop (aiohttp binds it to the running loop)."""
        aiohttp, seconds = self._aiohttp, self.config.timeout_ms / 1000
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=60, ssl=tls if tls is not None else True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds),
            trust_env=False,  # no proxy, netrc or CA settings from the environment: only the configured host
            headers=headers,
            auto_decompress=True,
        )

    @classmethod
    def parse_endpoint(cls, url: str) -> Endpoint:
        return parse_url(url, cls.STRIP)

    # -- what a dialect provides --------------------------------------------------------------------
    @abstractmethod
    async def _verify(self) -> None:
        """Is the server up, with the model? Raises ``RemoteFault``; may learn the model's name and FIM."""

    @abstractmethod
    def _request(self, req: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body of a streamed completion."""

    @abstractmethod
    def _chunk(self, data: str) -> tuple[str, str | None]:
        """One event's text and, on the last one, the finish reason (raises ``RemoteFault`` if malformed)."""

    # -- outside the worker -------------------------------------------------------------------------
    def check(self) -> str | None:
        """Is the server up, and does it serve the model? Blocks; reports through ``on_health`` too."""
        try:
            return asyncio.run_coroutine_threadsafe(self._probe(), self._loop).result()
        except Exception:  # closed meanwhile (a newer load replaced this engine)
            return None

    def close(self) -> None:
        super().close()
        if self._shut:
            return
        self._shut = True
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=2)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._io.join(timeout=2)
        if not self._io.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        """Cancel what still runs on the I/O loop (a probe), so no caller waits forever, then close the pool."""
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.close()

    # -- the worker ---------------------------------------------------------------------------------
    def _generate(self, job: Job) -> GenerationResult:
        try:
            return asyncio.run_coroutine_threadsafe(self._complete(job), self._loop).result()
        except Exception:  # the I/O loop is gone (closing): the base worker must never see an exception
            log.debug("remote generation failed", exc_info=True)
            return GenerationResult("", FAILED)

    def _fault(self, fault: RemoteFault) -> str:
        """Back off (doubling, or as the server asked) and report; the message, redacted."""
        self._failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
        if fault.retry_after is not None:
            delay = max(delay, min(RETRY_AFTER_MAX_S, fault.retry_after))
        self._retry_at = time.monotonic() + delay
        message = self._redact(fault.message)
        self._report(message)
        return message

    def _report(self, message: str | None) -> None:
        if message is not None:
            self._verified = False
            log.debug("remote fault: %s", message)
        else:
            self._failures, self._retry_at = 0, 0.0
        if self.on_health is not None:
            try:
                self.on_health(message)
            except Exception:
                log.debug("health callback failed", exc_info=True)

    async def _probe(self) -> str | None:
        try:
            await self._verify()
        except RemoteFault as fault:
            return self._fault(fault)
        except (self._aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return self._fault(self._transport_fault(exc, False))
        self._report(None)
        return None

    def backing_off(self) -> float:
        """Seconds left in the backoff window after a fault (0: a request goes to the server)."""
        return max(0.0, self._retry_at - time.monotonic())

    async def _complete(self, job: Job) -> GenerationResult:
        req = job.request
        t0 = time.perf_counter()
        queued = t0 - job.submitted
        prompt_tokens = len(req.prompt.tokens)
        if self.backing_off():  # the fault was reported; the first request after the window tries again
            return GenerationResult("", FAILED, 0, prompt_tokens, 0, None, 0.0, queued)
        run = _Run()
        task = asyncio.ensure_future(self._exchange(req, run, t0))
        while not task.done():
            await asyncio.wait((task,), timeout=CANCEL_POLL_S)
            if req.cancel.is_set() and not task.done():
                task.cancel()  # leaves the `async with` of the stream: the connection is closed now
                await asyncio.wait((task,))
        elapsed = time.perf_counter() - t0
        stopped = "superseded" if job.superseded else "cancelled"
        if task.cancelled():
            if run.answered:
                self._report(None)
            return GenerationResult(run.text, stopped, run.n, prompt_tokens, 0, run.first, elapsed, queued)
        exc = task.exception()
        if exc is not None:
            if not isinstance(exc, RemoteFault):  # a bug here, not the server's: one clear message, no dead worker
                log.error("remote completion failed", exc_info=exc)
                exc = RemoteFault(f"the request to {self.endpoint.host} failed: {type(exc).__name__}: {exc}")
            self._fault(exc)
            return GenerationResult("", FAILED, run.n, prompt_tokens, 0, run.first, elapsed, queued)
        reason = task.result()
        self._report(None)
        if reason == "cancelled":
            reason = stopped
        return GenerationResult(run.text, reason, run.n, prompt_tokens, 0, run.first, elapsed, queued)

    async def _exchange(self, req: GenerationRequest, run: _Run, t0: float) -> str:
        aiohttp = self._aiohttp
        try:
            if not self._verified:
                await self._verify()
            url, body = self._request(req)
            for attempt in (1, 2):
                try:
                    async with self._client.post(url, json=body, allow_redirects=False) as resp:
                        try:
                            if resp.status != 200:
                                raise self._status_fault(resp, await _read_some(resp))
                            run.answered = True
                            if "text/event-stream" not in resp.headers.get("content-type", ""):
                                return self._whole(req, run, t0, await _read_some(resp, 1 << 20))
                            return await self._stream(resp, req, run, t0)
                        except BaseException:
                            resp.close()  # a stream left mid-way (cancelled, our stop): the connection goes
                            raise
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                    # A kept-alive connection the server dropped as the request went out ("disconnected without
                    # sending a response", "can not write request body"): llama-server does this to about 1
                    # request in 6 here. Nothing ran on the server, so the request goes once more, on a fresh
                    # connection (a refused connection is not retried).
                    if run.answered or attempt == 2 or isinstance(exc, aiohttp.ClientConnectorError):
                        raise
                    log.debug("%s dropped a kept-alive connection; sending again", self.endpoint.host)
            raise AssertionError("unreachable")  # pragma: no cover
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise self._transport_fault(exc, run.answered) from None

    async def _stream(self, resp: Any, req: GenerationRequest, run: _Run, t0: float) -> str:
        events = _sse_data(_lines(resp, self.endpoint.host), self.endpoint.host).__aiter__()
        finish: str | None = None  # the server's finish reason
        ours: str | None = None  # the token limit reached here: the server ends the stream itself right after
        deadline: float | None = None  # ... within DRAIN_S, else the stream is closed
        done = False
        while True:
            try:
                if deadline is None:
                    data = await events.__anext__()
                else:
                    data = await asyncio.wait_for(events.__anext__(), max(0.0, deadline - time.monotonic()))
            except StopAsyncIteration:
                break
            except (asyncio.TimeoutError, RemoteFault, self._aiohttp.ClientError):
                if ours is None:
                    raise
                return ours  # the text is complete; closing the stream ends the rest
            if data.strip() == "[DONE]":
                done = True
                try:  # read the (empty) rest so the connection goes back to the pool
                    await asyncio.wait_for(_drain(events), DRAIN_S)
                except (asyncio.TimeoutError, RemoteFault, self._aiohttp.ClientError):
                    pass
                break
            text, reason = self._chunk(data)
            if finish is not None or ours is not None:
                continue  # after the end: nothing more counts
            if text:
                stop = self._feed(req, run, t0, text)
                if stop == "max_tokens":
                    ours, deadline = stop, time.monotonic() + DRAIN_S
                    continue  # the server was asked for as many: let it end the stream (the connection stays)
                if stop is not None:
                    return stop  # our stop rule, the budget or a newer request: closing the stream stops the server
            finish = reason or finish
        if ours is not None:
            return ours
        if not done and finish is None:
            raise RemoteFault(f"the answer from {self.endpoint.host} broke off mid-stream")
        return "max_tokens" if finish == self.LENGTH else "eog"

    def _whole(self, req: GenerationRequest, run: _Run, t0: float, raw: bytes) -> str:
        """A server that answered the streamed request with one JSON object."""
        text, reason = self._chunk(raw.decode("utf-8", "replace"))
        stop = self._feed(req, run, t0, text) if text else None
        return stop or ("max_tokens" if reason == self.LENGTH else "eog")

    def _feed(self, req: GenerationRequest, run: _Run, t0: float, piece: str) -> str | None:
        """One streamed piece, exactly as the local engine treats one token."""
        now = time.perf_counter()
        if run.first is None:
            run.first = now - t0
        run.n += 1
        check = check_stop(run.text + piece, req.rules)
        run.text = check.text
        if req.cancel.is_set():
            return "cancelled"
        if req.on_text is not None and run.text:
            req.on_text(run.text)
        if check.stop:
            return check.reason
        if run.n >= req.rules.max_tokens:
            return "max_tokens"
        if now - (t0 + run.first) > req.rules.time_budget_s:
            return "time"
        return None

    def _json(self, data: str) -> Any:
        """An event's JSON; an ``error`` object in it is the server's own fault report."""
        try:
            obj = json.loads(data)
        except ValueError:
            raise RemoteFault(
                f"{self.endpoint.host} sent a malformed completion stream (an event is not JSON)"
            ) from None
        if isinstance(obj, dict) and obj.get("error") is not None:
            raise RemoteFault(f"{self.endpoint.host} reported an error: {_error_text(obj['error'])}")
        return obj

    async def _model_list(self, url: str) -> None:
        """The server's model list, where it has one: an unknown model name is a clear fault before any
        completion (llama-cpp-python's server would silently answer with its default model); with no model
        set, the first listed one is the one shown."""
        resp = await self._fetch("GET", url)
        if resp.status in (401, 403, 429) or resp.status >= 500:
            raise self._status_fault(resp, resp.body)
        ids: list[str] = []
        if resp.status == 200:
            try:
                ids = [m["id"] for m in resp.json()["data"] if isinstance(m.get("id"), str)]
            except (ValueError, KeyError, TypeError, AttributeError):
                ids = []  # no usable list: the completion request itself will tell
        model: RemoteModel = self.model  # type: ignore[assignment]
        want = self.config.model
        if ids and want and want not in ids and f"{want}:latest" not in ids:
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            raise RemoteFault(
                f"model '{want}' not found on {self.endpoint.host} (it serves: {shown}): check slipstream.model"
            )
        if ids and not want:
            model.served = ids[0]

    async def _fetch(self, method: str, url: str, body: Any = None) -> Reply:
        """A small request, read whole (at most ``REPLY_BYTES``); transport errors are raised as they are."""
        async with self._client.request(method, url, json=body, allow_redirects=False) as resp:
            data = await _read_some(resp, REPLY_BYTES)
            return Reply(resp.status, resp.reason or "", resp.headers, data, resp.url.path)

    def _status_fault(self, resp: Any, body: bytes) -> RemoteFault:
        code, reason = resp.status, resp.reason or ""
        host, detail = self.endpoint.host, self._redact(_detail(body))
        said = f" ({detail})" if detail else ""
        retry = _retry_after(resp.headers.get("retry-after")) if code in (429, 503) else None
        if code in (401, 403):
            hint = (
                "check the key in the environment variable named by slipstream.apiKeyEnv"
                if self.config.api_key_env
                else "the server wants an API key: set slipstream.apiKeyEnv to the name of an environment "
                "variable holding it"
            )
            return RemoteFault(f"{host} refused the request: {code} {reason}{said}; {hint}")
        if code == 404:
            return RemoteFault(
                f"{host} answered 404 Not Found for model '{self.model.name}' at {resp.url.path}"
                f"{said}: check slipstream.model, slipstream.endpoint and slipstream.engine"
            )
        if code == 429:
            wait = f"; retrying after {retry:g} s" if retry is not None else ""
            return RemoteFault(f"{host} is rate-limiting requests: 429 {reason}{said}{wait}", retry)
        if code >= 500:
            return RemoteFault(f"{host} failed: {code} {reason}{said}", retry)
        return RemoteFault(f"{host} refused the request: {code} {reason}{said}")

    def _transport_fault(self, exc: BaseException, answered: bool) -> RemoteFault:
        aiohttp, host, ms = self._aiohttp, self.endpoint.host, self.config.timeout_ms
        why = _why(exc)
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return RemoteFault(f"no connection to {host} within {ms} ms (slipstream.requestTimeoutMs)")
        if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
            return RemoteFault(f"{host} did not answer within {ms} ms (slipstream.requestTimeoutMs)")
        if isinstance(exc, aiohttp.ClientSSLError):
            return RemoteFault(
                f"cannot connect to {host}: TLS verification failed ({why}); for a company CA, point "
                "slipstream.caBundle at its PEM file"
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return RemoteFault(f"cannot connect to {host}: {why}")
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
            if answered:
                return RemoteFault(f"the answer from {host} broke off mid-stream: {why}")
            return RemoteFault(f"{host} closed the connection without answering: {why}")
        return RemoteFault(f"the request to {host} failed: {why}")

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


# -- helpers ------------------------------------------------------------------------------------------
async def _sse_data(lines: AsyncIterator[str], host: str) -> AsyncIterator[str]:
    """The data of each server-sent event (fields other than data/event/id/retry: a malformed stream)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive ping)
        field, colon, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data" and colon:
            data.append(value)
        elif field == "error":  # llama.cpp's server reports a failure mid-stream this way
            raise RemoteFault(f"{host} reported an error: {_detail(value.encode())}")
        elif field not in ("event", "id", "retry"):
            raise RemoteFault(f"{host} sent a malformed completion stream (not server-sent events)")
    if data:
        yield "\n".join(data)


def _why(exc: BaseException) -> str:
    """The root cause in a few words: "connection refused", not "All connection attempts failed"."""
    import ssl

    seen = exc
    for _ in range(6):  # aiohttp's error -> the socket's own (or the TLS library's)
        if isinstance(seen, ssl.SSLCertVerificationError):  # an OSError whose errno (1) says nothing
            inner = getattr(seen, "certificate_error", seen)  # aiohttp's wrapper subclasses the ssl error
            return f"certificate verify failed: {getattr(inner, 'verify_message', None) or inner}"
        if isinstance(seen, ssl.SSLError):
            return f"TLS error: {seen.reason or seen}"
        if isinstance(seen, OSError) and seen.errno:
            # a name lookup's errno is negative (getaddrinfo's): its strerror says it, os.strerror does not
            text = seen.strerror if seen.errno < 0 and seen.strerror else os.strerror(seen.errno)
            return text[:1].lower() + text[1:]
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    return re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)).strip() or type(exc).__name__


async def _drain(events: AsyncIterator[str]) -> None:
    async for _ in events:
        pass


async def _read_some(resp: Any, limit: int = ERROR_BODY_BYTES) -> bytes:
    out = bytearray()
    async for chunk in resp.content.iter_any():
        out += chunk
        if len(out) >= limit:
            break
    return bytes(out[:limit])


async def _lines(resp: Any, host: str) -> AsyncIterator[str]:
    """The body's lines (without their end), as they arrive; a line over ``LINE_BYTES`` is a malformed stream
    (llama-server's last event repeats the whole prompt: far below that)."""
    pending = b""
    async for chunk in resp.content.iter_any():
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        if len(pending) > LINE_BYTES:
            raise RemoteFault(f"{host} sent a malformed completion stream (a line of over {LINE_BYTES >> 20} MiB)")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


@dataclass(frozen=True)
class Reply:
    """A small response, read whole (model list, health, props, probes)."""

    status: int
    reason: str
    headers: Any
    body: bytes
    path: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def url(self) -> Any:
        return urlsplit(self.path)


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        err = err.get("message") or err.get("detail") or err.get("type") or json.dumps(err)[:200]
    return " ".join(str(err).split())[:200]


def _detail(body: bytes) -> str:
    """A server's error reply in one short line: FastAPI's detail, OpenAI's error.message, or the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        for key in ("detail", "error", "message"):
            if obj.get(key):
                return _error_text(obj[key])
    return " ".join(text.split())[:200]


def _retry_after(value: str | None) -> float | None:
    """A Retry-After header: seconds, or an HTTP date (RFC 9110); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _tls_context(ca_bundle: str = "") -> Any:
    """Certificates and host names verified, against the system's CA store, certifi's bundle and the
    user's own CA file (``caBundle``: a missing or unreadable one is a clear error, not a silent skip)."""
    import ssl

    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    if ca_bundle:
        path = os.path.expanduser(ca_bundle)
        try:
            ctx.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ModelLoadError(f"slipstream.caBundle: cannot load CA certificates from {path}: {exc}") from None
    return ctx
