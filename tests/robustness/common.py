"""Helpers for the robustness suite: a ready server and the 'still answers correctly' check."""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.rawlsp import RawServer

_ids = itertools.count(1)
HEALTH_TEXT = "numbers = [1, 2, 3]\ntotal = sum("


def healthy_server(tmp: Path, options: dict | None = None, args: list[str] | None = None) -> RawServer:
    s = RawServer(args)
    s.initialize({"storagePath": str(tmp / "storage"), "cache": False, "speculate": False, **(options or {})})
    status = s.wait_ready()
    assert status["state"] == "ready", status
    return s


def open_and_complete(server: RawServer, uri: str, text: str, line: int, character: int) -> dict:
    """Open ``text`` as ``uri`` and ask for an (invoked) inline completion there; the raw response."""
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    return server.request(
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 1},
        },
        timeout=60,
    )


def complete_ok(server: RawServer, tag: str) -> dict:
    """The server is alive and answers a normal completion request with a suggestion for the right text."""
    uri = f"file:///robust/health-{tag}-{next(_ids)}.py"
    resp = open_and_complete(server, uri, HEALTH_TEXT, 1, 12)
    assert "error" not in resp, resp
    items = resp["result"]["items"] if isinstance(resp["result"], dict) else resp["result"]
    assert items and items[0]["insertText"].strip(), resp
    assert items[0]["insertText"].startswith("numbers"), items[0]
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return resp
