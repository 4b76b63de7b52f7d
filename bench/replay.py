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


def insert_text(client: LanguageClient, uri: str, version: int, line: int, col: int, text: str, end: int = -1) -> None:
    """Replace columns ``col`` to ``end`` (default: none, an insertion) of ``line`` with ``text``."""
    pos = types.Position(line=line, character=col)
    stop = types.Position(line=line, character=col if end < 0 else end)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=stop), text=text)],
        )
    )


@dataclass(frozen=True)
class Step:
    """One key: columns ``col``..``end`` of ``line`` become ``text``; ``ask``: a completion is requested at
    ``cursor`` after it (every key but Enter, as before auto-indent was modelled)."""

    line: int
    col: int
    end: int
    text: str
    ask: bool
    cursor: tuple[int, int]


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def keystrokes(typed_lines: list[str], r0: int) -> list[Step]:
    """The keys that type ``typed_lines`` (the document's lines from ``r0``) in an editor that auto-indents, as
    VS Code does for Python: Enter inserts the line break and the previous line's indentation, one level
    deeper after a line ending in ``:``; Backspace removes one level (4 spaces) of too deep an indentation;
    missing indentation is typed; a line left empty keeps none. The first line's indentation is there
    already (the user pressed Enter before). Typing every space of every indentation instead (as this replay
    did before) asked for completions inside the indentation, where nothing useful can be shown: 24 of the 32
    keys without ghost text in the fast replay of the 1 KB file."""
    steps: list[Step] = []
    for i, line in enumerate(typed_lines):
        row = r0 + i
        want = indentation(line)
        have = want
        if i > 0:
            # From the last line with code (the editor trims the indentation it put on a line left empty).
            prev = next((x for x in reversed(typed_lines[:i]) if x.strip()), "")
            have = indentation(prev) + ("    " if prev.rstrip().endswith(":") else "") if line.strip() else ""
            end = len(typed_lines[i - 1])
            steps.append(Step(row - 1, end, end, "\n" + have, False, (row, len(have))))
        if not want.startswith(have[: len(want)]):  # tabs and spaces: remove it all, type it again
            steps.append(Step(row, 0, len(have), "", True, (row, 0)))
            have = ""
        while len(have) > len(want):  # Backspace to the previous tab stop
            cut = max(len(want), (len(have) - 1) // 4 * 4)
            steps.append(Step(row, cut, len(have), "", True, (row, cut)))
            have = have[:cut]
        for col in range(len(have), len(line)):
            steps.append(Step(row, col, col, line[col], True, (row, col + 1)))
    return steps


def apply_step(doc_lines: list[str], step: Step) -> None:
    """``step`` applied to a document held as lines (bench/llama_server.py)."""
    line = doc_lines[step.line]
    doc_lines[step.line : step.line + 1] = (line[: step.col] + step.text + line[step.end :]).split("\n")


async def replay(
    text: str, region: tuple[int, int], seed: int, threads: int, label: str, pace: str = "human", **settings: Any
) -> dict[str, Any]:
    """Type ``text``'s region again, key by key, against a fresh server; returns the measurements."""
    rng = random.Random(seed)
    lines = text.split("\n")
    r0, r1 = region
    typed_lines = lines[r0:r1]
    start_doc = "\n".join([*lines[:r0], indentation(typed_lines[0]), *lines[r1:]])
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

    for step in keystrokes(typed_lines, r0):
        if not step.ask and step.text.startswith("\n"):
            await pause_at_line_end(pace, rng)
        version += 1
        insert_text(client, uri, version, step.line, step.col, step.text, step.end)
        if step.ask:
            k = keys[version] = Keystroke(version, time.perf_counter())
            tasks.append(asyncio.ensure_future(ask(k, *step.cursor)))
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
        "versions": [k.version for k in ks],  # each keystroke's document version, in typing order
        "first": [(k.first - k.sent) * 1000 for k in ks if k.first is not None],
        "final": [(k.final - k.sent) * 1000 for k in ks if k.answered and k.shown and k.final is not None],
        "answered": sum(k.answered for k in ks),
        "answered_empty": sum(k.answered and not k.shown for k in ks),  # an answer with nothing to show
        "superseded": sum(not k.answered for k in ks),  # the next key came first
        "typed_through": stats["typed_through"],
        "cache_hits": stats["cache_hits"],
        "rss_mb": rss_kb / 1024 if rss_kb else float("nan"),
        "recent": status["recent"],
    }
