"""The optimizer over LSP: codeAction → executeCommand → verified, measured variants → apply → tests pass."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.rawlsp import RawServer

MODULE = textwrap.dedent("""
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)


    def stamp(n):
        import time
        return (n, time.time())
""").lstrip()
TESTS = "from shop import fib\n\n\ndef test_fib():\n    assert [fib(n) for n in (10, 18, 20)] == [55, 2584, 6765]\n"


def digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def apply(text: str, edit: dict, uri: str) -> str:
    lines = text.splitlines(keepends=True)
    for e in sorted(edit["changes"][uri], key=lambda e: -e["range"]["start"]["line"]):
        a, b = e["range"]["start"]["line"], e["range"]["end"]["line"]
        lines[a:b] = [e["newText"]]
    return "".join(lines)


def test_optimize_this_function_end_to_end(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shop.py").write_text(MODULE)
    (ws / "test_shop.py").write_text(TESTS)
    uri = (ws / "shop.py").as_uri()
    server = RawServer()
    try:
        caps = server.initialize({"storagePath": str(tmp_path / "storage")})["result"]["capabilities"]
        assert "slipstream.optimizeFunction" in caps["executeCommandProvider"]["commands"]
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": MODULE}}
        )
        where = {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}},
            "context": {"diagnostics": []},
        }
        actions = server.request("textDocument/codeAction", where)["result"]
        assert [a["title"] for a in actions] == ["Optimize this function"]
        assert actions[0]["kind"] == "refactor.rewrite"
        command = actions[0]["command"]
        before = digest(ws)
        result = server.request(
            "workspace/executeCommand", {"command": command["command"], "arguments": command["arguments"]}, timeout=300
        )["result"]
        assert result["function"] == "fib" and result["inputs"] > 0, result
        (variant,) = result["variants"]
        assert variant["rule_or_model"] == "cache-pure-recursion"
        assert variant["speedup"] > 1.1 and variant["speedup_ci"][0] >= 1.1
        assert variant["inputs_verified"] == result["inputs"]
        assert digest(ws) == before, "the server wrote nothing"
        assert any(n["method"] == "$/progress" for n in server.notifications)
        # The code action now offers the variant, with the measured numbers in its title.
        actions = server.request("textDocument/codeAction", where)["result"]
        offered = [a for a in actions if a["title"].startswith("Apply faster variant")]
        assert len(offered) == 1 and f"verified on {result['inputs']} inputs" in offered[0]["title"]
        # Applying the minimal edit to a copy: its tests still pass.
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / "shop.py").write_text(apply(MODULE, offered[0]["edit"], uri))
        (copy / "test_shop.py").write_text(TESTS)
        assert "@functools.cache" in (copy / "shop.py").read_text()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy)],
            capture_output=True,
            text=True,
            cwd=copy,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        # A function that depends on the clock gets no variant, with the reason.
        clock = server.request(
            "workspace/executeCommand", {"command": "slipstream.optimizeFunction", "arguments": [uri, 5]}, timeout=300
        )["result"]
        assert clock["variants"] == [] and clock["error"], clock
    finally:
        assert server.close() == 0
