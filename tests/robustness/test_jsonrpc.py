"""Malformed JSON-RPC against the real server: bad framing, bad JSON, wrong types, wrong order. After each
case the server is alive and answers a normal completion request correctly."""

from __future__ import annotations

import json

import pytest

from tests.rawlsp import RawServer
from tests.robustness.common import complete_ok, healthy_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = healthy_server(tmp_path_factory.mktemp("jsonrpc"))
    yield s
    assert s.close() == 0


def frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def errors_for(server: RawServer, msg_id, timeout: float = 10.0) -> dict:
    return server.wait_response(msg_id, timeout)["error"]


def test_invalid_json_gets_a_parse_error(server):
    server.send_bytes(frame(b'{"jsonrpc": "2.0", "id": 1001, "method": '))
    assert errors_for(server, None)["code"] == -32700
    complete_ok(server, "invalid-json")


def test_body_that_is_not_utf8(server):
    server.send_bytes(frame(b'{"jsonrpc": "2.0", "id": 1002, "method": "x\xff\xfe"}'))
    assert errors_for(server, None)["code"] == -32700
    complete_ok(server, "not-utf8")


def test_content_length_too_small_resynchronises(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 1003, "method": "slipstream/getStatus", "params": {}}).encode()
    server.send_bytes(frame(body, len(body) - 10))
    assert errors_for(server, None)["code"] == -32700  # the cut body is not JSON
    complete_ok(server, "short-length")  # the leftover bytes did not swallow the next message


def test_huge_content_length_is_refused_without_waiting_for_it(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 1004, "method": "slipstream/getStatus", "params": {}}).encode()
    server.send_bytes(frame(body, 10**12))
    complete_ok(server, "huge-length")


def test_zero_length_and_missing_headers(server):
    server.send_bytes(b"Content-Length: 0\r\n\r\n")
    assert errors_for(server, None)["code"] == -32700
    server.send_bytes(b"Content-Type: application/json\r\n\r\n{}\r\n")  # no length: skipped
    server.send_bytes(b"garbage line\r\n\r\n")
    complete_ok(server, "no-length")


def test_extra_headers_and_lowercase_name(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 1005, "method": "slipstream/getStatus", "params": {}}).encode()
    server.send_bytes(
        b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(body) + body
    )
    assert "state" in server.wait_response(1005)["result"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ([{"jsonrpc": "2.0", "id": 1, "method": "slipstream/getStatus"}], -32600),  # a batch: LSP has none
        (42, -32600),
        ({"jsonrpc": "1.0", "id": 1010, "method": "slipstream/getStatus"}, -32600),
        ({"jsonrpc": "2.0", "id": 1011, "method": 7}, -32600),
        ({"jsonrpc": "2.0", "id": {"x": 1}, "method": "slipstream/getStatus"}, -32600),
    ],
)
def test_invalid_requests(server, message, code):
    assert None not in server.responses  # no unclaimed error from an earlier case
    server.send_bytes(frame(json.dumps(message).encode()))
    msg_id = message.get("id") if isinstance(message, dict) and isinstance(message.get("id"), int) else None
    assert errors_for(server, msg_id)["code"] == code
    complete_ok(server, f"invalid-{code}-{msg_id}")


def test_wrong_param_types_and_unknown_methods(server):
    uri = "file:///robust/types.py"
    bad = [
        ("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": "1:2"}),
        ("textDocument/inlineCompletion", {"textDocument": {"uri": 5}, "position": {"line": 0, "character": 0}}),
        ("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": {"line": -1, "character": 0}}),
        ("textDocument/codeAction", None),
        ("workspace/executeCommand", {"command": "slipstream.optimizeFunction", "arguments": [None, "x"]}),
        ("workspace/executeCommand", {"command": "slipstream.profile", "arguments": [42]}),
        ("textDocument/inlayHint", {"textDocument": {"uri": uri}}),
    ]
    for method, params in bad:
        resp = server.request(method, params, timeout=20)
        assert resp.get("error"), (method, params, resp)
        assert resp["error"]["code"] in (-32602, -32600, -32603), resp
    assert server.request("no/suchMethod", {})["error"]["code"] == -32601
    server.notify("no/suchNotification", {"x": 1})
    server.notify("textDocument/didChange", {"textDocument": {"uri": 3}})  # a bad notification: no answer
    server.notify("$/setTrace", {"value": "verbose"})
    complete_ok(server, "types")


def test_requests_before_initialize_and_after_shutdown(tmp_path):
    s = RawServer()
    try:
        early = s.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0}},
        )
        assert early["error"]["code"] == -32002  # ServerNotInitialized
        s.initialize({"storagePath": str(tmp_path)})
        assert s.request("shutdown", None)["result"] is None
        late = s.request("slipstream/getStatus", {})
        assert late["error"]["code"] == -32600  # InvalidRequest after shutdown
        s.notify("exit", None)
        assert s.proc.wait(timeout=10) == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
