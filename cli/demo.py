"""``slipstream demo``: drive the real server over stdio as an editor would, and show the ghost text.

It opens a real Python file, rewinds a few lines to what a programmer had typed so far, types the
rest of a word key by key (didChange + textDocument/inlineCompletion per key, like an editor), and
prints the newest suggestion as it streams in, dimmed like ghost text, with its latency.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient
from slipstream.server import methods

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "examples" / "inventory.py"
KEY_INTERVAL_S = 0.06  # a fast typist: the server must drop the stale requests


@dataclass(frozen=True)
class Step:
    title: str
    anchor: str  # the line (stripped) to rewind
    keep: str  # what stays typed before the keystrokes
    typed: str  # what is typed key by key
    drop_body: int = 0  # lines after the anchor that the programmer has not written yet


STEPS = [
    Step(
        "finish a line (acceleration)",
        "return sum(item.total_value() for item in self.items.values())",
        "        return sum(",
        "item",
    ),
    Step(
        "a body after a def (exploration)",
        "def cheapest(self) -> Item | None:",
        "    def cheapest(self) -> Item | None:\n",
        "        ",
        drop_body=3,
    ),
    Step(
        "inside a call, the ')' already follows",
        "path.write_text(json.dumps(data, indent=2))",
        "        path.write_text(",
        "json",
    ),
    Step(
        "a comprehension",
        "return [item for item in self.items.values() if tag in item.tags]",
        "        return [item ",
        "for",
    ),
    Step("an f-string print", 'print(f"total value: {inventory.total_value():.2f}")', '    print(f"', "tot"),
]


class Screen:
    def __init__(self) -> None:
        tty = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
        self.dim = "\x1b[2m" if tty else ""
        self.bold = "\x1b[1m" if tty else ""
        self.reset = "\x1b[0m" if tty else ""
        self.gutter = "      │ "

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def ghost(self, text: str) -> None:
        self.write(self.dim + text.replace("\n", "\n" + self.gutter) + self.reset)


class Demo:
    def __init__(self, path: Path, model: str | None) -> None:
        self.path = path
        self.model = model
        self.screen = Screen()
        self.client = LanguageClient("slipstream-demo", "0.1.0")
        self.uri = path.resolve().as_uri()
        self.text = path.read_text(encoding="utf-8")
        self.version = 1
        self.watch_version = -1
        self.shown = ""
        self.first_partial: float | None = None
        self.status: dict[str, Any] = {}

        @self.client.feature(methods.PARTIAL)
        def on_partial(params: Any) -> None:
            self._on_partial(plain(params))

        @self.client.feature(methods.STATUS)
        def on_status(params: Any) -> None:
            self.status = plain(params)

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params: types.ShowMessageParams) -> None:
            print(f"server: {params.message}", file=sys.stderr)

        @self.client.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(params: types.LogMessageParams) -> None:
            pass

        @self.client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def on_progress_create(params: Any) -> None:
            return None

        @self.client.feature(types.PROGRESS)
        def on_progress(params: Any) -> None:
            pass

    def _on_partial(self, p: dict[str, Any]) -> None:
        if p.get("version") != self.watch_version:
            return
        if self.first_partial is None:
            self.first_partial = time.perf_counter()
        text = p.get("text", "")
        if text.startswith(self.shown) and not p.get("done"):
            self.screen.ghost(text[len(self.shown) :])
            self.shown = text

    # -- editor actions ------------------------------------------------------------------------
    def change(self, start: int, end: int, new: str) -> None:
        """Replace text[start:end] and tell the server, as an incremental edit in UTF-16 positions."""
        s_line, s_col = _pos(self.text, start)
        e_line, e_col = _pos(self.text, end)
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=s_line, character=s_col),
                            end=types.Position(line=e_line, character=e_col),
                        ),
                        text=new,
                    )
                ],
            )
        )

    def request(self, offset: int):
        line, col = _pos(self.text, offset)
        return self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri),
                position=types.Position(line=line, character=col),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
        )

    async def run_step(self, n: int, step: Step) -> dict[str, Any] | None:
        scr = self.screen
        lines = self.text.split("\n")
        try:
            row = next(i for i, line in enumerate(lines) if line.strip() == step.anchor)
        except StopIteration:
            return None
        start = sum(len(line) + 1 for line in lines[:row])
        end = start + sum(len(line) + 1 for line in lines[row : row + 1 + step.drop_body]) - 1
        original = self.text[start:end]
        scr.write(f"\n{scr.bold}── {n}. {step.title} {'─' * max(0, 50 - len(step.title))}{scr.reset}\n")
        self.change(start, end, step.keep)
        cursor = start + len(step.keep)
        tasks = []
        for i, ch in enumerate(step.typed):
            self.change(cursor, cursor, ch)
            cursor += 1
            if i == len(step.typed) - 1:  # the newest keystroke: its suggestion is the one on screen
                typed_line = self.text[self.text.rfind("\n", 0, cursor) + 1 : cursor]
                scr.write(f"{self.text.count(chr(10), 0, cursor) + 1:5d} │ {typed_line}")
                self.watch_version = self.version
                self.shown, self.first_partial = "", None
                sent = time.perf_counter()
            tasks.append(asyncio.ensure_future(self.request(cursor)))
            if i < len(step.typed) - 1:
                await asyncio.sleep(KEY_INTERVAL_S)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        done = time.perf_counter()
        final = results[-1]
        stale = sum(1 for r in results[:-1] if isinstance(r, JsonRpcException))
        text = ""
        if isinstance(final, types.InlineCompletionList) and final.items:
            item = final.items[0].insert_text
            text = item if isinstance(item, str) else item.value
        if text != self.shown:
            if text.startswith(self.shown):
                scr.ghost(text[len(self.shown) :])
            else:
                scr.write(f"\n{scr.gutter}↳ final: ")
                scr.ghost(text or "(no suggestion)")
        if not text and not self.shown:
            scr.ghost("(no suggestion)")
        first_ms = (self.first_partial - sent) * 1000 if self.first_partial else None
        total_ms = (done - sent) * 1000
        first_txt = f"{first_ms:.0f} ms" if first_ms is not None else "—"
        scr.write(
            f"\n{scr.gutter}{scr.dim}first ghost text {first_txt} · final {total_ms:.0f} ms · "
            f"{stale} stale request(s) of {len(results)} dropped{scr.reset}\n"
        )
        had = next((ln.strip() for ln in original[len(step.keep.rstrip()) :].splitlines() if ln.strip()), "")
        scr.write(f"{scr.gutter}{scr.dim}the file had: {had}{scr.reset}\n")
        self.change(start, cursor, original)  # put the file back as it was: nothing is lost
        return {"first_ms": first_ms, "total_ms": total_ms, "text": text}

    async def main(self) -> int:
        scr = self.screen
        scr.write(f"Slipstream demo: typing in {self.path} (real server over stdio)\n")
        await self.client.start_io(sys.executable, "-m", "slipstream.server")
        options = {"slipstream": {"modelPath": self.model or "", "maxLines": 6}}
        await self.client.initialize_async(
            types.InitializeParams(
                process_id=os.getpid(),
                root_uri=self.path.parent.resolve().as_uri(),
                capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
                initialization_options=options,
            )
        )
        self.client.initialized(types.InitializedParams())
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id="python", version=self.version, text=self.text
                )
            )
        )
        t0 = time.perf_counter()
        while True:
            status = plain(await self.client.protocol.send_request_async(methods.GET_STATUS, {}))
            if status["state"] in ("ready", "error"):
                break
            await asyncio.sleep(0.1)
        if status["state"] == "error":
            print(f"slipstream: the model could not be loaded: {status['detail']}", file=sys.stderr)
            await self.stop()
            return 1
        model = status["model"]
        scr.write(
            f"model {model['name']} ready in {time.perf_counter() - t0:.1f} s "
            f"({'fill-in-the-middle' if model['fim'] else 'prefix-driven, suffix-aware'} prompts)\n"
        )
        stats = []
        for n, step in enumerate(STEPS, 1):
            r = await self.run_step(n, step)
            if r is not None:
                stats.append(r)
        firsts = sorted(r["first_ms"] for r in stats if r["first_ms"] is not None)
        totals = sorted(r["total_ms"] for r in stats)
        if firsts:
            scr.write(
                f"\n{len(stats)} suggestions · first ghost text median {firsts[len(firsts) // 2]:.0f} ms · "
                f"final median {totals[len(totals) // 2]:.0f} ms (the first includes the cold prompt)\n"
            )
        await self.stop()
        return 0 if any(r["text"] for r in stats) else 1

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:
            pass
        await self.client.stop()


def _pos(text: str, offset: int) -> tuple[int, int]:
    """A str offset to an LSP (line, UTF-16 column) position."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, len(text[start:offset].encode("utf-16-le")) // 2


def plain(obj: Any) -> Any:
    """pygls hands untyped JSON objects over as namedtuples; plain dicts and lists are easier to use."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def demo_main(file: str | None = None, model: str | None = None) -> int:
    path = Path(file) if file else DEFAULT_FILE
    if not path.is_file():
        print(f"slipstream demo: no such file: {path}", file=sys.stderr)
        return 2
    return asyncio.run(Demo(path, model).main())
