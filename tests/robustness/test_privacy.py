"""Nothing leaves the machine: an audit hook inside the real server process records every socket event
while it completes, profiles and optimizes; none may be a network socket."""

from __future__ import annotations

import json
import sys
import textwrap

from tests.rawlsp import RawServer
from tests.robustness.common import complete_ok

HOOK = textwrap.dedent("""
    import json, runpy, sys
    log = open(sys.argv[1], "a", buffering=1)

    def hook(event, args):
        if event.startswith(("socket.", "urllib.", "http.", "ftplib.", "smtplib.", "webbrowser.")):
            log.write(json.dumps([event, [a if isinstance(a, (int, str)) else repr(a) for a in args]]) + "\\n")

    sys.addaudithook(hook)
    sys.argv = ["server"]
    runpy.run_module("server", run_name="__main__", alter_sys=True)
""")

SHOP = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
SHOP_TEST = "from shop import fib\n\n\ndef test_fib():\n    assert fib(18) == 2584\n"


def test_no_network_socket_during_completion_profiling_and_optimization(tmp_path):
    events = tmp_path / "socket-events.jsonl"
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shop.py").write_text(SHOP)
    (ws / "test_shop.py").write_text(SHOP_TEST)
    uri = (ws / "shop.py").as_uri()
    server = RawServer([sys.executable, "-c", HOOK, str(events)])
    try:
        server.initialize({"storagePath": str(tmp_path / "storage"), "telemetry": True})
        assert server.wait_ready()["state"] == "ready"
        for i in range(3):
            complete_ok(server, f"privacy-{i}")
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": SHOP}}
        )
        prof = server.request(
            "workspace/executeCommand", {"command": "slipstream.profile", "arguments": [uri]}, timeout=300
        )
        assert "result" in prof and not prof["result"]["error"], prof
        opt = server.request(
            "workspace/executeCommand", {"command": "slipstream.optimizeFunction", "arguments": [uri, 0]}, timeout=300
        )
        assert opt["result"]["variants"], opt
    finally:
        assert server.close() == 0
    seen = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    network = [
        e
        for e in seen
        if e[0] in ("socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto", "socket.gethostbyname")
        or (e[0] == "socket.__new__" and e[1][1] not in (1, "AddressFamily.AF_UNIX"))  # 1: AF_UNIX
        or not e[0].startswith("socket.")
    ]
    assert not network, network
    assert events.exists(), "the hook ran (asyncio's own AF_UNIX socket pair at least)"


def test_a_remote_engine_contacts_only_the_configured_host(tmp_path, monkeypatch, llama_server):
    """engine openai: every connection and name lookup of the server process goes to the endpoint's host and
    port, and nowhere else (no proxy, no telemetry, no model download)."""
    from tests.conftest import LLAMA_API_KEY

    events = tmp_path / "socket-events.jsonl"
    monkeypatch.setenv("SLIPSTREAM_TEST_PRIVACY_KEY", LLAMA_API_KEY)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # never read: the client ignores the environment
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    server = RawServer([sys.executable, "-c", HOOK, str(events)])
    try:
        server.initialize(
            {
                "storagePath": str(tmp_path / "storage"),
                "engine": "openai",
                "endpoint": llama_server.url,
                "apiKeyEnv": "SLIPSTREAM_TEST_PRIVACY_KEY",
                "speculate": False,
            }
        )
        assert server.wait_ready()["state"] == "ready"
        for i in range(2):
            complete_ok(server, f"remote-privacy-{i}")
    finally:
        assert server.close() == 0
    seen = [json.loads(line) for line in events.read_text().splitlines()]
    connects = [e for e in seen if e[0] == "socket.connect"]
    lookups = [e for e in seen if e[0] in ("socket.getaddrinfo", "socket.gethostbyname")]
    assert connects, "the hook saw the connection to the server"
    target = f"('127.0.0.1', {llama_server.port})"
    assert all(e[1][1] == target for e in connects), connects
    assert all(e[1][0] == "127.0.0.1" and e[1][1] == llama_server.port for e in lookups), lookups
    assert not [e for e in seen if e[0] in ("socket.bind", "socket.sendto")], seen
