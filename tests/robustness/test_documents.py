"""Documents no editor should send but some do: unopened, out-of-range positions, huge, binary-ish, broken.
Every request gets an answer (a result or an error); after each case a normal completion still works."""

from __future__ import annotations

import pytest

from tests.rawlsp import RawServer
from tests.robustness.common import complete_ok, healthy_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = healthy_server(tmp_path_factory.mktemp("docs"))
    yield s
    assert s.close() == 0


def open_doc(s: RawServer, uri: str, text: str, version: int = 1) -> None:
    s.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}}
    )


def complete(s: RawServer, uri: str, line: int, character: int, timeout: float = 60) -> dict:
    return s.request(
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2},
        },
        timeout=timeout,
    )


def answered(resp: dict) -> bool:
    return ("result" in resp) != ("error" in resp)


def everything_at(s: RawServer, uri: str, line: int, character: int) -> None:
    """Every feature at one position answers with a result or an error."""
    pos = {"line": line, "character": character}
    rng = {"start": pos, "end": pos}
    for method, params in [
        (
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": pos, "context": {"triggerKind": 1}},
        ),
        ("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": rng, "context": {"diagnostics": []}}),
        ("textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": rng}),
        ("textDocument/codeLens", {"textDocument": {"uri": uri}}),
        ("slipstream/getStatus", {"uri": uri}),
    ]:
        resp = s.request(method, params, timeout=60)
        assert answered(resp), (method, resp)


def test_unopened_documents(server):
    everything_at(server, "file:///robust/never-opened.py", 0, 0)
    resp = complete(server, "file:///robust/never-opened.py", 0, 0)
    assert resp["error"]["code"] == -32602
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": "file:///robust/nope.py", "version": 2}, "contentChanges": [{"text": "x"}]},
    )
    server.notify("textDocument/didClose", {"textDocument": {"uri": "file:///robust/nope.py"}})
    complete_ok(server, "unopened")


def test_positions_past_the_end_negative_and_inside_a_surrogate_pair(server):
    uri = "file:///robust/positions.py"
    open_doc(server, uri, 'emoji = "a😀b"\nx = 1\n')
    for line, character in [(0, 10), (0, 200), (50, 0), (1, 9999), (0, 0)]:  # 10 is between 😀's two UTF-16 units
        everything_at(server, uri, line, character)
    assert complete(server, uri, -1, 0)["error"]["code"] == -32602
    assert complete(server, uri, 0, -5)["error"]["code"] == -32602
    assert complete(server, uri, 2**40, 0)["error"]["code"] == -32602  # beyond a uinteger
    # Edits with ranges past the end or backwards: rejected or clamped, never a crash; the store stays sane.
    for change in [
        {"range": {"start": {"line": 99, "character": 0}, "end": {"line": 99, "character": 0}}, "text": "tail\n"},
        {"range": {"start": {"line": 1, "character": 3}, "end": {"line": 0, "character": 1}}, "text": "?"},
        {"range": {"start": {"line": 0, "character": 10}, "end": {"line": 0, "character": 10}}, "text": "!"},
    ]:
        server.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": 5}, "contentChanges": [change]}
        )
        assert answered(server.request("slipstream/getStatus", {"uri": uri}))
    complete_ok(server, "positions")


def test_five_megabyte_file(server):
    uri = "file:///robust/huge.py"
    block = "".join(f"def function_{i}(a, b):\n    return a * {i} + b\n\n\n" for i in range(2000))
    text = block * (5_000_000 // len(block) + 1)
    assert len(text) >= 5_000_000
    open_doc(server, uri, text + "def last(a, b):\n    return ")
    lines = text.count("\n")
    resp = complete(server, uri, lines + 1, 11, timeout=60)
    assert answered(resp) and "error" not in resp, resp
    status = server.request("slipstream/getStatus", {"uri": uri})["result"]
    assert status["document"]["version"] == 1
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    complete_ok(server, "huge")


@pytest.mark.parametrize(
    ("name", "text", "line", "character"),
    [
        ("nul", "x = 1\x00\x00\ny = \x00", 1, 4),
        ("lone-surrogates", "s = '\ud800\udfff\udc80'\nt = ", 1, 4),
        ("crlf", "def f(a):\r\n    return a\r\n\r\ny = f(", 3, 6),
        ("mixed-endings", "a = 1\rb = 2\r\nc = 3\nd = ", 3, 4),
        ("tabs-and-spaces", "def f():\n\tif True:\n        \treturn 1\n\t", 3, 1),
        ("syntax-errors", "def (:\n  ]] class = = \nfor in in in:\n    x = [1, 2\n    y = ", 4, 8),
        ("only-whitespace", "   \n\n\t\t\n      ", 3, 6),
        ("empty", "", 0, 0),
        ("binary-ish", "".join(chr(c) for c in range(1, 300)) + "\nz = ", 1, 4),
        ("very-long-line", "x = [" + "1, " * 100_000 + "\ny = x", 1, 5),
    ],
)
def test_awkward_contents(server, name, text, line, character):
    uri = f"file:///robust/{name}.py"
    open_doc(server, uri, text)
    everything_at(server, uri, line, character)
    resp = complete(server, uri, line, character)
    assert answered(resp), resp
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    complete_ok(server, name)


def test_notebook_cell_and_untitled_uris(server):
    for uri in [
        "vscode-notebook-cell:/home/me/analysis.ipynb#W0sZmlsZQ%3D%3D",
        "untitled:Untitled-1",
        "file:///robust/with%20space%20%C3%A9.py",
    ]:
        open_doc(server, uri, "values = [3, 1, 2]\nordered = sorted(")
        resp = complete(server, uri, 1, 17)
        assert "error" not in resp, (uri, resp)
        everything_at(server, uri, 1, 17)
    # The optimizer needs a saved file on disk: a clear error for a notebook cell.
    resp = server.request(
        "workspace/executeCommand",
        {"command": "slipstream.optimizeFunction", "arguments": ["vscode-notebook-cell:/x.ipynb#a", 0]},
    )
    assert resp["error"]["code"] == -32602 and "file" in resp["error"]["message"]
    complete_ok(server, "cells")


def test_reopen_and_version_going_backwards(server):
    uri = "file:///robust/versions.py"
    open_doc(server, uri, "a = 1\n", version=5)
    open_doc(server, uri, "b = 2\n", version=1)  # opened twice: the newer open wins
    server.notify(
        "textDocument/didChange", {"textDocument": {"uri": uri, "version": 0}, "contentChanges": [{"text": "c = 3\n"}]}
    )
    status = server.request("slipstream/getStatus", {"uri": uri})["result"]
    assert status["document"] is not None
    complete_ok(server, "versions")
