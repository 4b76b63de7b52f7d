"""Remote engines against a server that misbehaves on purpose, at the wire level.

llama-cpp-python's and llama.cpp's servers (tests/test_remote_engine.py, tests/test_remote_llamacpp.py) are
well behaved: they cannot be made to answer 5xx, 429 with Retry-After, a malformed or cut stream, or to
stall. ``FaultServer`` is a real HTTP server on a loopback port that answers each completion request with
the next scripted reply, byte for byte; the engines under test are the real ones, over a real socket. Each
fault must end the request with no text and a clear message naming it; the well-formed replies of both
dialects must be read back exactly (the accepting side of the same parser). After a fault the engine backs
off: requests inside the window never reach the server, the first one after it does.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from slipstream.inference.api import FAILED
from slipstream.inference.engine import GenerationRequest
from slipstream.inference.host import open_remote
from slipstream.inference.model import ModelLoadError
from slipstream.inference.prompt import build_prompt
from slipstream.inference.remote import (
    BACKOFF_FIRST_S,
    FIM_MARKERS,
    RemoteConfig,
    _retry_after,
    pseudo_tokenize,
)
from slipstream.inference.stops import StopRules


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stall_s: float = 0.0  # after the headers, wait this long before the body (a server that hangs)
    close: bool = False  # close the connection after the body (a stream cut mid-way)
    drop: bool = False  # close the connection without answering at all


def sse(*events: object, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


SSE = {"content-type": "text/event-stream"}


class FaultServer:
    """Answers /v1/models, /health, /props and the /infill probe like a healthy server; every completion
    request (POST /v1/completions, /completion, /infill with a real body) gets the next scripted ``Reply``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.script: list[Reply] = []
        self.seen: list[tuple[str, float]] = []  # (path, time.monotonic()) of every completion request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, reply: Reply) -> None:
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.close or reply.stall_s:
                    self.send_header("connection", "close")
                else:
                    self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.flush()
                if reply.stall_s:
                    time.sleep(reply.stall_s)
                try:
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                except OSError:
                    pass
                if reply.close or reply.stall_s:
                    self.close_connection = True

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    body = json.dumps({"object": "list", "data": [{"id": "m"}]}).encode()
                elif self.path == "/health":
                    body = b'{"status": "ok"}'
                elif self.path == "/props":
                    body = json.dumps({"model_alias": "m", "default_generation_settings": {"n_ctx": 4096}}).encode()
                else:
                    self._send(Reply(404, body=b"not found"))
                    return
                self._send(Reply(200, {"content-type": "application/json"}, body))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                if self.path == "/infill" and body.get("input_extra") == "probe":
                    self._send(Reply(400, body=b'{"error": {"message": "input_extra must be an array"}}'))
                    return
                outer.seen.append((self.path, time.monotonic()))
                reply = outer.script.pop(0) if outer.script else Reply(500, body=b"no reply scripted")
                self._send(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fault_server():
    server = FaultServer()
    yield server
    server.stop()


def engine_for(url: str, dialect: str = "openai", **kw: object):
    health: list[str | None] = []
    config = RemoteConfig(url, model="m", timeout_ms=kw.pop("timeout_ms", 5000), engine=dialect, **kw)  # type: ignore[arg-type]
    return open_remote(config, health.append), health


def complete(engine, prefix: str = "def f(x):\n    return x", suffix: str = "\n", max_tokens: int = 16):
    prompt = build_prompt(prefix, suffix, pseudo_tokenize, FIM_MARKERS, None)
    req = GenerationRequest(prompt, StopRules(max_tokens=max_tokens, max_lines=4, time_budget_s=30))
    return engine.submit(req).result(timeout=30)


OPENAI_OK = sse(
    {"choices": [{"text": " + 1", "finish_reason": None}]}, {"choices": [{"text": "", "finish_reason": "stop"}]}
)
LLAMA_OK = sse({"content": " + 1", "stop": False}, {"content": "", "stop": True, "stop_type": "eos"}, done=False)

FAULTS = [
    # (dialect, reply, what the message must say)
    (
        "openai",
        Reply(500, body=b'{"error": {"message": "CUDA out of memory"}}'),
        "failed: 500 Internal Server Error (CUDA out of memory)",
    ),
    ("openai", Reply(502, body=b"<html>bad gateway</html>"), "failed: 502 Bad Gateway (<html>bad gateway</html>)"),
    (
        "openai",
        Reply(429, {"retry-after": "3"}, b'{"error": "slow down"}'),
        "rate-limiting requests: 429 Too Many Requests (slow down); retrying after 3 s",
    ),
    ("openai", Reply(200, SSE, b"data: {not json\n\n"), "malformed completion stream (an event is not JSON)"),
    ("openai", Reply(200, SSE, b"<html>\n\n"), "malformed completion stream (not server-sent events)"),
    ("openai", Reply(200, SSE, b'data: {"choices": 3}\n\n'), "malformed completion stream (an event without choices)"),
    ("openai", Reply(200, SSE, sse({"choices": [{"text": "x"}]}, done=False), close=True), "broke off mid-stream"),
    (
        "openai",
        Reply(200, SSE, b'data: {"error": {"message": "context overflow"}}\n\n'),
        "reported an error: context overflow",
    ),
    ("openai", Reply(200, SSE, b"", stall_s=3.0), "did not answer within 500 ms"),
    (
        "llamacpp",
        Reply(200, SSE, b'data: {"content": 5}\n\n'),
        "malformed completion stream (an event without content)",
    ),
    ("llamacpp", Reply(200, SSE, sse({"content": "x", "stop": False}, done=False), close=True), "broke off mid-stream"),
    ("llamacpp", Reply(200, SSE, b'error: {"message": "slot unavailable"}\n\n'), "reported an error: slot unavailable"),
    (
        "llamacpp",
        Reply(503, {"retry-after": "2"}, b'{"error": {"message": "Loading model"}}'),
        "failed: 503 Service Unavailable (Loading model)",
    ),
]


@pytest.mark.parametrize(("dialect", "reply", "says"), FAULTS, ids=[f"{d}-{s[:28]}" for d, _, s in FAULTS])
def test_each_fault_ends_the_request_with_one_clear_message(fault_server, dialect, reply, says):
    engine, health = engine_for(fault_server.url(), dialect, timeout_ms=500)
    try:
        fault_server.script = [reply]
        result = complete(engine)
        assert (result.text, result.stop_reason) == ("", FAILED)
        assert len(health) == 1 and health[0] is not None and says in health[0], health
        assert f"127.0.0.1:{fault_server.port}" in health[0]
        assert len(fault_server.seen) == 1
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("dialect", "reply", "path"), [("openai", OPENAI_OK, "/v1/completions"), ("llamacpp", LLAMA_OK, "/infill")]
)
def test_well_formed_streams_are_read_exactly(fault_server, dialect, reply, path):
    engine, health = engine_for(fault_server.url(), dialect)
    try:
        fault_server.script = [Reply(200, SSE, reply)]
        result = complete(engine)
        assert (result.text, result.stop_reason) == (" + 1", "eog")
        assert health == [None] and [p for p, _ in fault_server.seen] == [path]
    finally:
        engine.close()


def test_a_dropped_kept_alive_connection_is_retried_once(fault_server):
    """llama-server drops a kept-alive connection as a request goes out about once in six requests here
    ("Server disconnected without sending a response"): nothing ran, so the request goes once more."""
    engine, health = engine_for(fault_server.url())
    try:
        fault_server.script = [Reply(drop=True), Reply(200, SSE, OPENAI_OK)]
        assert complete(engine).text == " + 1" and health == [None] and len(fault_server.seen) == 2
        fault_server.script = [Reply(drop=True), Reply(drop=True), Reply(200, SSE, OPENAI_OK)]
        assert complete(engine).stop_reason == FAILED and len(fault_server.seen) == 4  # once more, not forever
        assert health[-1] and "closed the connection without answering" in health[-1], health
    finally:
        engine.close()


def test_backoff_keeps_requests_off_the_network_then_tries_again(fault_server):
    engine, health = engine_for(fault_server.url())
    try:
        fault_server.script = [Reply(500, body=b"down"), Reply(500, body=b"still down"), Reply(200, SSE, OPENAI_OK)]
        assert complete(engine).stop_reason == FAILED  # 1st fault: 0.5 s
        assert 0 < engine.backing_off() <= BACKOFF_FIRST_S
        for _ in range(5):  # typing on inside the window: nothing reaches the server, no new message
            assert complete(engine).stop_reason == FAILED
        assert len(fault_server.seen) == 1 and len(health) == 1
        time.sleep(engine.backing_off() + 0.05)
        assert complete(engine).stop_reason == FAILED  # tried again, failed again: the window doubles
        assert len(fault_server.seen) == 2 and BACKOFF_FIRST_S < engine.backing_off() <= 2 * BACKOFF_FIRST_S
        time.sleep(engine.backing_off() + 0.05)
        result = complete(engine)  # the server is back: the text, the window gone
        assert (result.text, engine.backing_off(), health[-1]) == (" + 1", 0.0, None)
    finally:
        engine.close()


def test_retry_after_is_obeyed(fault_server):
    engine, _ = engine_for(fault_server.url())
    try:
        fault_server.script = [Reply(429, {"retry-after": "4"}, b"")]
        complete(engine)
        assert 3.5 < engine.backing_off() <= 4.0
    finally:
        engine.close()


def test_retry_after_forms():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < (_retry_after(date) or 0) <= 30


def test_connection_refused_and_dns_failure_are_named():
    for url, says in (
        ("http://127.0.0.1:9", "cannot connect to 127.0.0.1:9: connection refused"),
        ("http://nonexistent.invalid:8080", "cannot connect to nonexistent.invalid:8080"),
    ):
        engine, health = engine_for(url)
        try:
            assert complete(engine).stop_reason == FAILED
            assert health and health[0] and health[0].startswith(says), health
        finally:
            engine.close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_is_verified_and_a_company_ca_can_be_trusted(self_signed, tmp_path):
    cert, key = self_signed
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = FaultServer(ctx)
    try:
        # Not trusted: refused, and the message says what to do.
        engine, health = engine_for(server.url("https"))
        try:
            assert complete(engine).stop_reason == FAILED
            assert health[0] and "TLS verification failed" in health[0] and "slipstream.caBundle" in health[0]
            assert server.seen == []
        finally:
            engine.close()
        # Trusted through caBundle: the same server answers.
        server.script = [Reply(200, SSE, OPENAI_OK)]
        engine, health = engine_for(server.url("https"), ca_bundle=str(cert))
        try:
            assert complete(engine).text == " + 1" and health == [None]
        finally:
            engine.close()
    finally:
        server.stop()
    missing = tmp_path / "nope.pem"
    with pytest.raises(ModelLoadError, match="caBundle: cannot load CA certificates"):
        engine_for("https://127.0.0.1:9", ca_bundle=str(missing))
    os.environ.pop("SSL_CERT_FILE", None)  # (never read: trust_env=False)
