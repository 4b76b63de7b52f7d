"""Slipstream over a remote engine vs the same server called directly, side by side in one run.

For N mid-line cursor positions of a real file: keystroke -> first streamed partial and -> final answer
over the real language server on stdio (engine openai or llamacpp, no cache, no speculation), and the
very same request (the body Slipstream's engine builds for that prompt: same text, same token limit,
same stop) sent straight to the server with aiohttp (what the engines use). The same request goes once
unmeasured first, so both sides find the prompt in the server's cache (what remains is generation plus
each side's own overhead), and the two alternate which goes first. Every position counts (a position
with no text is a miss on its side, shown in the table). With llama-server (which has ``/slots``) it
also measures how long a superseded generation keeps running on the server: the time from the
keystroke that made it stale (or, directly, from closing the stream) to the slot going idle.

Usage: .venv/bin/python bench/latency.py --engine llamacpp|openai [--endpoint URL]
  without --endpoint a server is started on a loopback port with the default model: llama-server
  ($LLAMA_SERVER, PATH or scripts/build-llama-server.sh) for llamacpp, llama-cpp-python's for openai.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from slipstream.cli.demo import plain
from slipstream.completion.prepare import Options, PrepareRequest, prepare, request_for
from slipstream.inference.host import open_remote
from slipstream.inference.model import default_model_path
from slipstream.inference.remote import RemoteConfig
from slipstream.server.settings import parse_settings

LIST = "COUNTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "  # the model goes on for many tokens: a stream to supersede


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(engine: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    model = default_model_path()
    if engine == "llamacpp":
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        binary = os.environ.get("LLAMA_SERVER") or shutil.which("llama-server")
        binary = binary or os.path.join(cache, "slipstream", "llama-server", "bin", "llama-server")
        if not os.access(binary, os.X_OK):
            sys.exit("no llama-server: set LLAMA_SERVER or run scripts/build-llama-server.sh")
        args = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", str(threads)]
        args += ["-c", "4096", "-np", "1", "--slots", "--alias", "gemma3"]
        probe = "/health"
    else:
        args = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--model_alias", "gemma3"]
        args += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads), "--n_ctx", "4096"]
        args += ["--interrupt_requests", "False"]
        probe = "/v1/models"
    log = open(os.path.join(tempfile.gettempdir(), f"slipstream-bench-{engine}.log"), "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode}); see {log.name}")
        try:
            with urllib.request.urlopen(url + probe, timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not start")


def pick_positions(text: str, n: int) -> list[tuple[int, int]]:
    from bench.latency import pick_positions as pick

    return pick(text, n)


def cut(text: str, line: int, col: int) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:col]
    return "\n".join(lines)


def offset_of(text: str, line: int, col: int) -> int:
    return sum(len(x) + 1 for x in text.split("\n")[:line]) + col


class Lsp:
    """The real server on stdio with the remote engine; one request at a time, timed at the client."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings, self.client = settings, LanguageClient("bench", "0")
        self.first: dict[int, float] = {}
        self.uri, self.version = "file:///bench/sample.py", 0

        @self.client.feature("slipstream/inlineCompletionPartial")
        def on_partial(params: Any) -> None:
            p = plain(params)
            if p["text"]:
                self.first.setdefault(p["version"], time.perf_counter())

        @self.client.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(params: Any) -> None:
            pass

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params: Any) -> None:
            print("  server says:", plain(params)["message"], file=sys.stderr)

    async def start(self, text: str) -> dict:
        await self.client.start_io(sys.executable, "-m", "slipstream.server")
        await self.client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=self.settings)
        )
        self.client.initialized(types.InitializedParams())
        while (st := await self.status())["state"] not in ("ready", "error"):
            await asyncio.sleep(0.05)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=self.uri, language_id="python", version=0, text=text)
            )
        )
        return st

    async def status(self) -> dict:
        return plain(await self.client.protocol.send_request_async("slipstream/getStatus", {}))

    def change(self, text: str) -> None:
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def ask(self, line: int, col: int) -> Any:
        return self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri),
                position=types.Position(line=line, character=col),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
        )

    async def complete(self, text: str, line: int, col: int) -> dict[str, Any]:
        self.change(text)
        t0 = time.perf_counter()
        result = await self.ask(line, col)
        t1 = time.perf_counter()
        shown = result.items[0].insert_text if result and result.items else ""
        first = self.first.get(self.version)
        return {"first": (first - t0) * 1000 if first and shown else None, "final": (t1 - t0) * 1000, "text": shown}

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def direct(client: aiohttp.ClientSession, url: str, body: dict[str, Any], dialect: str) -> dict[str, Any]:
    """The same request straight to the server: time to the first non-empty text and to the stream's end (a
    kept-alive connection the server dropped unanswered is retried once, as the engines do)."""
    try:
        return await _direct(client, url, body, dialect)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        return await _direct(client, url, body, dialect)


async def _direct(client: aiohttp.ClientSession, url: str, body: dict[str, Any], dialect: str) -> dict[str, Any]:
    import json

    t0 = time.perf_counter()
    first, text = None, ""
    async with client.post(url, json=body) as resp:
        async for raw in resp.content:  # lines (the bench's events are far below aiohttp's line limit)
            line = raw.decode().rstrip("\r\n")
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            obj = json.loads(line[6:])
            piece = obj.get("content") if dialect == "llamacpp" else (obj.get("choices") or [{}])[0].get("text")
            if piece:
                text += piece
                first = first or time.perf_counter()
    t1 = time.perf_counter()
    return {"first": (first - t0) * 1000 if first else None, "final": (t1 - t0) * 1000, "text": text}


def q(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p * (len(values) - 1)))] if values else float("nan")


async def slot_idle(client: aiohttp.ClientSession, url: str, t0: float, limit_s: float = 30.0) -> float:
    """Milliseconds from ``t0`` until llama-server's slot stops processing (polled every 2 ms)."""
    while time.perf_counter() - t0 < limit_s:
        async with client.get(url + "/slots") as resp:
            slots = await resp.json()
        if not any(s.get("is_processing") for s in slots):
            return (time.perf_counter() - t0) * 1000
        await asyncio.sleep(0.002)
    return float("inf")


async def stop_trial(lsp: Lsp, client: aiohttp.ClientSession, eng: Any, opts: Options, endpoint: str, k: int):
    """A long suggestion on screen, then a key that makes it stale: how long the server's slot goes on.
    Then the same with a direct client that closes its stream after the first text."""
    doc = LIST + str(k)
    lsp.change(doc)
    pending = asyncio.ensure_future(lsp.ask(0, len(doc)))
    while lsp.version not in lsp.first:
        if pending.done():
            return float("nan"), float("nan")  # answered before any text streamed: nothing to supersede
        await asyncio.sleep(0.002)
    t0 = time.perf_counter()
    lsp.change(doc + "9")
    ours = await slot_idle(client, endpoint, t0)
    try:
        await pending
    except Exception:
        pass  # ContentModified: the stale request's answer
    prepared = prepare(PrepareRequest(doc, len(doc), opts), eng.model)
    url, body = eng._request(request_for(prepared, None))
    body["n_predict"] = 300
    body.pop("stop", None)
    async with client.post(url, json=body) as resp:
        async for raw in resp.content:
            if b'"content":"' in raw and b'"content":""' not in raw:
                resp.close()  # a direct client drops the stream after its first text
                break
        t0 = time.perf_counter()
    return ours, await slot_idle(client, endpoint, t0)


async def bench(engine: str, endpoint: str, file: str, n: int, threads: int, trials: int) -> None:
    text = Path(file).read_text()
    positions = pick_positions(text, n)
    settings = {"engine": engine, "endpoint": endpoint, "threads": threads, "maxLines": 1, "cache": False}
    settings |= {"speculate": False, "requestTimeoutMs": 60000}
    lsp = Lsp(settings)
    st = await lsp.start(text)
    if st["state"] != "ready":
        sys.exit(f"Slipstream is not ready: {st['detail']}")
    parsed, _ = parse_settings(settings)
    config = parsed.engine_config()
    assert isinstance(config, RemoteConfig)
    eng = open_remote(config)  # only to build the very same request bodies (the model check fills in the model)
    if eng.check() is not None:
        sys.exit("the server did not answer the model check")
    opts = Options.from_settings(parsed)
    rows = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as client:
        for i, (line, col) in enumerate(positions):
            doc = cut(text, line, col)
            prepared = prepare(PrepareRequest(doc, offset_of(doc, line, col), opts), eng.model)
            url, body = eng._request(request_for(prepared, None))
            await direct(client, url, body, engine)  # primes the server's prompt cache: both sides start warm
            if i % 2 == 0:
                ours = await lsp.complete(doc, line, col)
                theirs = await direct(client, url, body, engine)
            else:
                theirs = await direct(client, url, body, engine)
                ours = await lsp.complete(doc, line, col)
            rows.append((f"{line + 1}:{col + 1}", ours, theirs))
            print(f"  {i + 1}/{len(positions)}", file=sys.stderr, flush=True)
        stops: list[tuple[float, float]] = []
        if engine == "llamacpp":
            for k in range(trials):
                try:
                    stops.append(await asyncio.wait_for(stop_trial(lsp, client, eng, opts, endpoint, k), 120))
                except asyncio.TimeoutError:
                    print(f"  stop trial {k}: no answer within 120 s (counted as a miss)", file=sys.stderr)
                    stops.append((float("inf"), float("inf")))
    eng.close()
    await lsp.stop()
    report(engine, endpoint, Path(file).name, threads, rows, stops)


def report(engine: str, endpoint: str, name: str, threads: int, rows: list, stops: list) -> None:
    print(f"\nRemote engine {engine} at {endpoint} — {name}, {len(rows)} mid-line positions, server threads {threads}")
    hdr = (
        f"{'pos':>7} │ {'Slipstream first':>16} {'direct first':>12} │ {'Slipstream final':>16} {'direct final':>12} │"
    )
    hdr += " same text"
    print(hdr)
    print("─" * len(hdr))
    for pos, o, t in rows:
        of = f"{o['first']:.0f}" if o["first"] is not None else "miss"
        tf = f"{t['first']:.0f}" if t["first"] is not None else "miss"
        same = "yes" if o["text"] and t["text"].startswith(o["text"].rstrip()) else "no"
        print(f"{pos:>7} │ {of:>16} {tf:>12} │ {o['final']:>16.0f} {t['final']:>12.0f} │ {same}")
    print("─" * len(hdr))
    for key, label in (("first", "first text"), ("final", "final answer")):
        ours = [o[key] for _, o, _ in rows if o[key] is not None]
        theirs = [t[key] for _, _, t in rows if t[key] is not None]
        misses = (len(rows) - len(ours), len(rows) - len(theirs))
        print(
            f"{label:<13} p50 {q(ours, 0.5):6.0f} vs {q(theirs, 0.5):6.0f} ms (×{q(ours, 0.5) / q(theirs, 0.5):.2f}), "
            f"p95 {q(ours, 0.95):6.0f} vs {q(theirs, 0.95):6.0f} ms (×{q(ours, 0.95) / q(theirs, 0.95):.2f}); "
            f"misses {misses[0]} vs {misses[1]}"
        )
    if stops:
        import math

        ours = [s[0] for s in stops if math.isfinite(s[0])]
        theirs = [s[1] for s in stops if math.isfinite(s[1])]
        print(
            f"stale generation stopped on the server (slot idle), {len(stops)} trials ({len(stops) - len(ours)} "
            f"without a stream to stop or timed out): after the keystroke p50 {q(ours, 0.5):.0f} ms, "
            f"max {max(ours, default=float('nan')):.0f} ms; after a direct client closes its stream p50 "
            f"{q(theirs, 0.5):.0f} ms, max {max(theirs, default=float('nan')):.0f} ms"
        )


def main(engine: str, endpoint: str | None, file: str, n: int, threads: int, trials: int = 10) -> None:
    proc = None
    if not endpoint:
        proc, endpoint = start_server(engine, threads)
    try:
        asyncio.run(bench(engine, endpoint, file, n, threads, trials))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
