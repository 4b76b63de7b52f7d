"""Typing replay over LSP: a region of real code is deleted and typed again key by key, as a user would.

Used by bench/latency.py. Each keystroke is a didChange and an inline completion request (as VS Code
sends them). Three paces (``PACES``): ``human``, 60-140 ms between keys and a pause at each line end;
``fast``, each key as soon as the previous key's answer arrived (a fast typist who never waits); ``30ms``,
a fixed 30 ms gap. Records keystroke -> first ghost text (the first partial with text, or the answer if
it came first) and keystroke -> complete suggestion; every keystroke counts (``summary``).
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from slipstream.cli.demo import plain

PACES = ("human", "fast", "30ms")


async def pause_after_key(pace: str, rng: random.Random, answered: asyncio.Future | None) -> None:
    """The gap before the next key. ``rng`` is drawn from in every pace, so the seed's schedule is the same."""
    gap = rng.uniform(0.06, 0.14)
    if pace == "human":
        await asyncio.sleep(gap)
    elif pace == "30ms":
        await asyncio.sleep(0.03)
    elif answered is not None:  # fast: the next key when this one's answer arrived
        await asyncio.gather(answered, return_exceptions=True)


async def pause_at_line_end(pace: str, rng: random.Random) -> None:
    gap = rng.uniform(0.4, 0.9)
    if pace == "human":
        await asyncio.sleep(gap)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p * (len(values) - 1)))] if values else float("nan")


def summary(firsts: list[float | None]) -> dict[str, float]:
    """Over every keystroke: first ghost text p50/p95 of those that showed some, the share that did, and
    the p95 with a keystroke that showed nothing counted as never (inf when over 5 % showed nothing)."""
    shown = [f for f in firsts if f is not None]
    all_keys = [f if f is not None else float("inf") for f in firsts]
    return {
        "keys": len(firsts),
        "shown": len(shown),
        "share": len(shown) / max(1, len(firsts)),
        "p50": pct(shown, 0.5),
        "p95": pct(shown, 0.95),
        "p95_all": pct(all_keys, 0.95),
    }


@dataclass
class Keystroke:
    version: int
    sent: float
    first: float | None = None
    final: float | None = None
    answered: bool = False  # a result (not superseded) came back
    shown: bool = False  # it had text


def is_code_line(line: str) -> bool:
    quotes = ('"' * 3, "'" * 3)
    return line.startswith("        ") and bool(line.strip()) and not any(q in line for q in quotes)


def region_from(text: str, n_lines: int, rng: random.Random) -> tuple[int, int]:
    """A run of ``n_lines`` indented code lines (inside a function body, no docstrings)."""
    lines = text.split("\n")
    starts = [i for i in range(len(lines) - n_lines) if all(is_code_line(ln) for ln in lines[i : i + n_lines])]
    if not starts:
        raise SystemExit("no region of indented code lines found")
    i = rng.choice(starts)
    return i, i + n_lines


def peak_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def insert_text(client: LanguageClient, uri: str, version: int, line: int, col: int, text: str) -> None:
    pos = types.Position(line=line, character=col)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=pos), text=text)],
        )
    )


async def replay(
    text: str, region: tuple[int, int], seed: int, threads: int, label: str, pace: str = "human", **settings: Any
) -> dict[str, Any]:
    """Type ``text``'s region again, key by key, against a fresh server; returns the measurements."""
    rng = random.Random(seed)
    lines = text.split("\n")
    r0, r1 = region
    typed_lines = lines[r0:r1]
    start_doc = "\n".join([*lines[:r0], "", *lines[r1:]])
    client = LanguageClient("bench", "0")
    keys: dict[int, Keystroke] = {}

    @client.feature("slipstream/inlineCompletionPartial")
    def on_partial(params: Any) -> None:
        p = plain(params)
        k = keys.get(p["version"])
        if k is not None and k.first is None and p["text"]:
            k.first = time.perf_counter()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: Any) -> None:
        pass

    @client.feature("slipstream/status")
    def on_status(params: Any) -> None:
        pass

    storage = tempfile.mkdtemp(prefix="slipstream-bench-")
    await client.start_io(sys.executable, "-m", "slipstream.server")
    pid = client._server.pid  # the server process, for its peak RSS
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"threads": threads, "storagePath": storage, **settings},
        )
    )
    client.initialized(types.InitializedParams())
    while plain(await client.protocol.send_request_async("slipstream/getStatus", {}))["state"] != "ready":
        await asyncio.sleep(0.1)
    uri = f"file:///bench/{label}.py"
    version = 1
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=start_doc)
        )
    )
    await asyncio.sleep(1.5)  # the user looks at the file: the warm-up runs
    tasks = []

    async def ask(k: Keystroke, line: int, col: int) -> None:
        try:
            res = await client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=col),
                    context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
                )
            )
            k.final = time.perf_counter()
            k.answered = True
            k.shown = bool(res and res.items)
            if k.shown and k.first is None:
                k.first = k.final
        except Exception:
            k.final = time.perf_counter()

    for i, line_text in enumerate(typed_lines):
        row = r0 + i
        if i > 0:  # Enter at the end of the previous line
            version += 1
            insert_text(client, uri, version, row - 1, len(typed_lines[i - 1]), "\n")
        for col, ch in enumerate(line_text):
            version += 1
            insert_text(client, uri, version, row, col, ch)
            k = keys[version] = Keystroke(version, time.perf_counter())
            tasks.append(asyncio.ensure_future(ask(k, row, col + 1)))
            await pause_after_key(pace, rng, tasks[-1])
        await pause_at_line_end(pace, rng)
    await asyncio.gather(*tasks)
    status = plain(await client.protocol.send_request_async("slipstream/getStatus", {}))
    rss_kb = peak_rss_kb(pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    ks = list(keys.values())
    stats = status["stats"]
    return {
        "label": label,
        "pace": pace,
        "chars": len(text),
        "keystrokes": len(ks),
        "every_first": [(k.first - k.sent) * 1000 if k.first is not None else None for k in ks],
        "first": [(k.first - k.sent) * 1000 for k in ks if k.first is not None],
        "final": [(k.final - k.sent) * 1000 for k in ks if k.answered and k.shown and k.final is not None],
        "answered": sum(k.answered for k in ks),
        "typed_through": stats["typed_through"],
        "cache_hits": stats["cache_hits"],
        "rss_mb": rss_kb / 1024 if rss_kb else float("nan"),
        "recent": status["recent"],
    }
