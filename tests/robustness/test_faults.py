"""Faults around the server: broken models, a context that does not fit, unwritable or full storage.
The server keeps running, says what is wrong, the optimizer's rules still work, and it recovers."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

from tests.rawlsp import RawServer
from tests.robustness.common import complete_ok, open_and_complete

FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
FIB_TEST = "from shop import fib\n\n\ndef test_fib():\n    assert fib(18) == 2584\n"


def wait_state(server: RawServer, pred, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = server.request("slipstream/getStatus", {})["result"]
        if pred(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def shown(server: RawServer) -> list[str]:
    return [n["params"]["message"] for n in server.notifications if n["method"] == "window/showMessage"]


def configure(server: RawServer, **settings) -> None:
    server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": settings}})


def test_broken_models_keep_the_server_and_the_optimizer_running(tmp_path, default_model_path):
    real = Path(default_model_path).read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(real[: len(real) * 2 // 5])
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(real[:64] + hashlib.sha256(b"x").digest() * ((len(real) - 64) // 32))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shop.py").write_text(FIB)
    (ws / "test_shop.py").write_text(FIB_TEST)
    server = RawServer()
    try:
        server.initialize({"storagePath": str(tmp_path / "storage"), "modelPath": str(truncated)})
        status = wait_state(server, lambda s: s["state"] in ("error", "ready"))
        assert status["state"] == "error" and "truncated" in status["detail"], status
        complete_ok_or_empty(server)
        configure(server, modelPath=str(corrupt))
        status = wait_state(server, lambda s: s["state"] == "error" and "corrupt.gguf" in s["detail"])
        assert status["state"] == "error", status
        assert any("corrupt.gguf" in m for m in shown(server)), shown(server)
        # The optimizer's rule-based path does not need the model.
        uri = (ws / "shop.py").as_uri()
        res = server.request(
            "workspace/executeCommand", {"command": "slipstream.optimizeFunction", "arguments": [uri, 0]}, timeout=300
        )["result"]
        assert [v["rule_or_model"] for v in res["variants"]] == ["cache-pure-recursion"], res
        # Back to a valid model at run time: completions work again.
        configure(server, modelPath="")
        status = wait_state(server, lambda s: s["state"] == "ready")
        assert status["state"] == "ready", status
        complete_ok(server, "recovered")
    finally:
        assert server.close() == 0


def complete_ok_or_empty(server: RawServer) -> None:
    """Without a model, a completion request is answered with nothing (not an error, not silence)."""
    resp = open_and_complete(server, "file:///robust/no-model.py", "x = ", 0, 4)
    assert resp["result"] == {"items": []}, resp


def test_a_context_that_does_not_fit_in_memory(tmp_path):
    # 1.6 GB of address space: the model fits, a 131,072-token cache (about 2.2 GiB) does not.
    args = ["prlimit", f"--as={1_600_000_000}", sys.executable, "-m", "slipstream.server"]
    server = RawServer(args)
    try:
        server.initialize({"storagePath": str(tmp_path / "storage"), "contextSize": 131072})
        status = wait_state(server, lambda s: s["state"] in ("error", "ready"))
        assert status["state"] == "error" and "lower slipstream.contextSize" in status["detail"], status
        assert any("slipstream.contextSize" in m for m in shown(server))
        configure(server, contextSize=2048)
        status = wait_state(server, lambda s: s["state"] == "ready")
        assert status["state"] == "ready", status
        complete_ok(server, "small-context")
    finally:
        assert server.close() == 0


def test_unwritable_storage_disables_caching_with_a_warning(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    server = RawServer()
    try:
        server.initialize({"storagePath": str(blocker / "storage")})
        assert wait_state(server, lambda s: s["state"] == "ready")["state"] == "ready"
        for i in range(3):
            complete_ok(server, f"unwritable-{i}")
        warnings = [
            n["params"]["message"]
            for n in server.notifications
            if n["method"] in ("window/showMessage", "window/logMessage") and n["params"]["type"] <= 2
        ]
        assert any("storage" in m.lower() or "cache" in m.lower() for m in warnings), warnings
    finally:
        assert server.close() == 0


def test_full_disk_disables_caching_and_completions_continue(tmp_path):
    storage = tmp_path / "storage"
    server = RawServer()
    try:
        server.initialize({"storagePath": str(storage)})
        assert wait_state(server, lambda s: s["state"] == "ready")["state"] == "ready"
        complete_ok(server, "before-full")
        # The disk fills up while the server runs: from now on no file of its may grow (RLIMIT_FSIZE makes
        # those writes fail with EFBIG, as a full disk fails them with ENOSPC).
        subprocess.run(["prlimit", f"--pid={server.proc.pid}", "--fsize=4096"], check=True)
        for i in range(30):  # distinct contexts: new cache entries and telemetry rows to write
            text = f"values_{i} = [{i}, {i + 1}]\nresult_{i} = sum("
            resp = open_and_complete(server, f"file:///robust/full-{i}.py", text, 1, len(f"result_{i} = sum("))
            assert "result" in resp and resp["result"]["items"], resp
        errors = server.stderr_text()
        assert "disabled" in errors, errors[-2000:]  # the failed writes were noticed and handled
        complete_ok(server, "after-full")
    finally:
        assert server.close() == 0
