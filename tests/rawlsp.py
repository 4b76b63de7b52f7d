"""A minimal JSON-RPC-over-stdio client that can also send what a typed client never would."""

from __future__ import annotations

import itertools
import json
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import SERVER_CMD, server_env


class RawServer:
    def __init__(self, args: list[str] | None = None) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            args or SERVER_CMD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=server_env()
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.responses: dict[Any, dict[str, Any]] = {}  # read while waiting for another one
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            body = out.read(length)
            self.messages.put(json.loads(body))

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30.0) -> dict[str, Any]:
        msg_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_response(msg_id, timeout)

    def wait_response(self, msg_id: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if msg_id in self.responses:
                return self.responses.pop(msg_id)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response to request {msg_id!r}")
            msg = self.messages.get(timeout=left)
            if "method" not in msg and msg.get("id") == msg_id:
                return msg
            self._keep(msg)

    def _keep(self, msg: dict[str, Any]) -> None:
        """A message nobody is waiting for: a server request is answered, the rest kept for later."""
        if "method" in msg and "id" in msg:
            self.server_requests.append(msg)
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        elif "method" in msg:
            self.notifications.append(msg)
        else:
            self.responses[msg.get("id")] = msg

    def next_notification(self, method: str, match: Callable[[Any], bool], timeout: float = 30.0) -> Any:
        """The params of the next ``method`` notification that ``match``es, read as it arrives (every message
        read on the way is kept as ``wait_response`` keeps it)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} notification")
            msg = self.messages.get(timeout=left)
            self._keep(msg)
            if msg.get("method") == method and "id" not in msg and match(msg.get("params")):
                return msg["params"]

    def initialize(self, options: dict[str, Any] | None = None, caps: dict[str, Any] | None = None) -> dict[str, Any]:
        caps = caps or {"window": {"workDoneProgress": True}}
        resp = self.request(
            "initialize",
            {"processId": None, "rootUri": None, "capabilities": caps, "initializationOptions": options or {}},
        )
        self.notify("initialized", {})
        return resp

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.request("slipstream/getStatus", {})["result"]
            if status["state"] in ("ready", "error") or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def close(self) -> int:
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
            return self.proc.wait(timeout=10)
        except Exception:
            # Shown by pytest with a failing test: where each of the server's threads was (faulthandler,
            # registered for SIGUSR1 by server/__main__.py), its stderr, and its last log messages.
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.proc.kill()
            code = self.proc.wait()
            logs = [n["params"].get("message", "") for n in self.notifications if n["method"] == "window/logMessage"]
            err = self.stderr_text()  # the first error's story at the head; the threads' dump at the end
            err = err if len(err) <= 8000 else f"{err[:3000]}\n…\n{err[-5000:]}"
            print(f"the server did not exit; stderr:\n{err}\nlog:\n" + "\n".join(logs[-30:]))
            return code
        finally:
            self.stderr.close()

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")
