"""Start-up, settings, model errors and the command line, through real processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from tests.conftest import ROOT, server_env
from tests.rawlsp import RawServer

URI = "file:///work/sample/a.py"
PARAMS = {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 1}}


def open_a(server: RawServer, text: str = "x = \n") -> None:
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
    )


def messages(server: RawServer, method: str) -> list[dict]:
    return [n["params"] for n in server.notifications if n["method"] == method]


def test_missing_model_is_a_clear_error_and_switching_models_recovers(tmp_path, default_model_path):
    server = RawServer([sys.executable, "-m", "slipstream.server", "--stdio"])
    try:
        missing = tmp_path / "nope.gguf"
        resp = server.initialize({"slipstream": {"modelPath": str(missing)}})
        assert resp["result"]["capabilities"]["inlineCompletionProvider"] is not None
        status = server.wait_ready()
        assert status["state"] == "error" and "not found" in status["detail"], status
        open_a(server)
        # Not ready: an empty answer, not an error.
        assert server.request("textDocument/inlineCompletion", PARAMS)["result"] == {"items": []}
        shown = messages(server, "window/showMessage")
        assert any("model file not found" in m["message"] and m["type"] == 1 for m in shown), shown
        # A file that is not a GGUF.
        bogus = tmp_path / "bogus.gguf"
        bogus.write_bytes(b"not a model at all" * 100)
        server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": {"modelPath": str(bogus)}}})
        for _ in range(100):
            status = server.request("slipstream/getStatus", {})["result"]
            if "GGUF" in status["detail"]:
                break
            time.sleep(0.05)
        assert status["state"] == "error" and "not a GGUF" in status["detail"], status
        # Switch to the real model at run time: the server recovers.
        server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": {"modelPath": ""}}})
        for _ in range(600):
            status = server.request("slipstream/getStatus", {})["result"]
            if status["state"] == "ready":
                break
            time.sleep(0.1)
        assert status["state"] == "ready", status
        assert status["model"]["path"] == default_model_path
        resp = server.request("textDocument/inlineCompletion", PARAMS, timeout=60)
        assert "result" in resp
        assert any(n["method"] == "$/progress" for n in server.notifications), "model load reports progress"
    finally:
        assert server.close() == 0


def test_invalid_settings_are_reported_and_keep_their_value():
    server = RawServer()
    try:
        server.initialize({"slipstream": {"maxLines": "many", "mode": "turbo", "threads": 0, "maxTokens": 32}})
        server.wait_ready()
        shown = [m["message"] for m in messages(server, "window/showMessage")]
        assert any("slipstream.maxLines must be an integer" in m for m in shown), shown
        assert any("slipstream.mode must be one of" in m for m in shown), shown
        assert any("slipstream.threads must be between" in m for m in shown), shown
        # enable=false: requests are answered with nothing and the model stays loaded.
        server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": {"enable": False}}})
        open_a(server)
        assert server.request("textDocument/inlineCompletion", PARAMS)["result"] == {"items": []}
        assert server.request("slipstream/getStatus", {})["result"]["state"] == "disabled"
    finally:
        assert server.close() == 0


def test_tcp_transport_on_loopback():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "slipstream.server", "--tcp", f"127.0.0.1:{port}"],
        env=server_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}}
        ).encode()
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while b"inlineCompletionProvider" not in data:
            chunk = conn.recv(65536)
            assert chunk, "connection closed"
            data += chunk
        conn.close()
    finally:
        proc.kill()
        proc.wait()


def test_complete_command_streams_one_completion():
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "slipstream"), "complete", str(ROOT / "examples" / "inventory.py"), "41:28"],
        capture_output=True,
        text=True,
        timeout=120,
        env=server_env(),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("        return sum(item.tot"), out.stdout
    assert len(out.stdout.strip()) > len("return sum(item.tot"), "no completion was printed"
    assert "prefix prompt" in out.stderr and "first token" in out.stderr


def test_complete_command_rejects_bad_input(tmp_path):
    cli = str(ROOT / ".venv" / "bin" / "slipstream")
    bad = subprocess.run([cli, "complete", str(tmp_path / "none.py"), "1:1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "cannot read" in bad.stderr
    bad = subprocess.run([cli, "complete", "x.py", "0:x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "LINE:COL" in bad.stderr


def test_demo_runs_end_to_end():
    """Command 1's main job: the demo drives the real server and shows streamed suggestions."""
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "slipstream"), "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env=server_env(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ready in" in out.stdout
    assert out.stdout.count("first ghost text ") == 6, "5 suggestions and the summary"
    assert "suggestions · first ghost text median" in out.stdout
