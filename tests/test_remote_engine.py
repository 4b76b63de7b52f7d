"""engine = "openai": the real server over stdio against a real OpenAI-compatible server (llama-cpp-python's own,
``python -m llama_cpp.server`` with the default model on a loopback port; see conftest's ``llama_server``).

Streaming partials, newest request wins (the superseded stream is closed: the server logs the disconnect),
and the faults: a wrong port, an unknown model, a 404, a rejected key, the server killed mid-stream and
restarted. Each fault episode gives one message, the state shows it, and the next request that works
returns the state to ready, without restarting Slipstream.
"""

from __future__ import annotations

import queue
import re
import time
from typing import Any

import pytest

from tests.conftest import LLAMA_API_KEY, LlamaServer, free_port
from tests.rawlsp import RawServer

KEY_ENV = "SLIPSTREAM_TEST_REMOTE_KEY"
WRONG_KEY_ENV = "SLIPSTREAM_TEST_WRONG_KEY"
WRONG_KEY = "sk-wrong-0123456789abcdef"
URI = "file:///work/sample/shop.py"
DOC = (
    "from dataclasses import dataclass\n"
    "\n"
    "\n"
    "@dataclass\n"
    "class Item:\n"
    "    name: str\n"
    "    price: float\n"
    "    quantity: int\n"
    "\n"
    "    def total(self) -> float:\n"
    "        return self.price * self.quantity\n"
    "\n"
    "\n"
    "def total_value(items: list[Item]) -> float:\n"
    "    return sum(item.)\n"
)
ROW = 14  # "    return sum(item.)"
COL = len("    return sum(item.")
# A list the model goes on writing for many tokens on one line: a stream that is still running when the test acts.
LIST = "COUNTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
LIST_ROW, LIST_COL = 0, len(LIST)


def start(monkeypatch, tmp_path, endpoint: str, **options: Any) -> RawServer:
    monkeypatch.setenv(KEY_ENV, LLAMA_API_KEY)
    monkeypatch.setenv(WRONG_KEY_ENV, WRONG_KEY)
    settings = {
        "engine": "openai",
        "endpoint": endpoint,
        "model": LlamaServer.ALIAS,
        "apiKeyEnv": KEY_ENV,
        "requestTimeoutMs": 60000,
        "storagePath": str(tmp_path / "storage"),
        "speculate": False,
        "maxLines": 6,
        "maxTokens": 48,
        **options,
    }
    server = RawServer()
    server.initialize(settings)
    return server


def params(line: int, character: int, kind: int = 2) -> dict:
    return {
        "textDocument": {"uri": URI},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": kind},
    }


def open_doc(server: RawServer, text: str, version: int = 1) -> None:
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": version, "text": text}}
    )


def insert(server: RawServer, version: int, line: int, col: int, text: str) -> None:
    rng = {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"range": rng, "text": text}]},
    )


def status(server: RawServer) -> dict:
    return server.request("slipstream/getStatus", {})["result"]


def wait_state(server: RawServer, states: tuple[str, ...], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = status(server)
        if st["state"] in states:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"state {st['state']!r} ({st['detail']}), expected one of {states}")
        time.sleep(0.05)


def pump(server: RawServer, until: Any, timeout: float = 60.0) -> None:
    """Read the server's messages (as RawServer.wait_response does) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("condition not met")
        try:
            msg = server.messages.get(timeout=min(left, 0.05))
        except queue.Empty:
            continue
        if "method" in msg and "id" in msg:
            server.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        elif "method" in msg:
            server.notifications.append(msg)
        else:
            server.responses[msg.get("id")] = msg


def retry_until_text(server: RawServer, at: dict, timeout: float = 30.0) -> dict:
    """Ask again (as the next keystrokes would) until ghost text comes: after a fault the engine keeps
    requests off the network for its backoff window (up to BACKOFF_MAX_S), however fast the server is back."""
    deadline = time.monotonic() + timeout
    while True:
        resp = server.request("textDocument/inlineCompletion", at, timeout=60)
        if texts(resp) or time.monotonic() > deadline:
            return resp
        time.sleep(0.25)


def partials(server: RawServer, request_id: Any) -> list[dict]:
    return [
        n["params"]
        for n in server.notifications
        if n["method"] == "slipstream/inlineCompletionPartial" and n["params"]["requestId"] == request_id
    ]


def errors(server: RawServer) -> list[str]:
    return [n["params"]["message"] for n in server.notifications if n["method"] == "window/showMessage"]


def texts(resp: dict) -> list[str]:
    return [i["insertText"] for i in resp["result"]["items"]]


def everything_said(server: RawServer) -> str:
    """Every notification (messages, logs, status) and the server's stderr: where a key must never appear."""
    import json

    return json.dumps(server.notifications) + server.stderr_text()


def close(server: RawServer) -> str:
    """Shut the server down; what it said (see ``everything_said``)."""
    server.request("shutdown", None, timeout=10)
    said = everything_said(server)
    assert server.close() == 0
    return said


def test_completion_streams_partials_like_the_local_engine(monkeypatch, tmp_path, llama_server):
    log_start = len(llama_server.log())
    server = start(monkeypatch, tmp_path, llama_server.url, timeBudgetMs=30000)
    try:
        st = wait_state(server, ("ready", "error"))
        assert st["state"] == "ready", st
        model = st["model"]
        assert (model["engine"], model["endpoint"], model["model"]) == (
            "openai",
            f"127.0.0.1:{llama_server.port}",
            LlamaServer.ALIAS,
        )
        # Mid-line, inside "sum(item.|)": one line, finished at the line's end, streamed in growing partials.
        open_doc(server, DOC)
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL), timeout=60)
        (final,) = texts(resp)
        assert final.strip() and "\n" not in final, final
        mine = partials(server, resp["id"])
        assert len(mine) >= 2 and not any(p["done"] for p in mine[:-1]), mine
        assert mine[-1]["done"] and mine[-1]["text"] == final
        assert any(len(p["text"]) < len(final) for p in mine[:-1])
        # The next keystroke's request goes over the same (kept-alive) connection: the answer ended normally.
        insert(server, 2, ROW, COL, "x")
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL + 1), timeout=60)
        assert "result" in resp, resp
        ports = re.findall(r'127\.0\.0\.1:(\d+) - "POST /v1/completions', llama_server.log()[log_start:])
        assert len(ports) >= 2 and ports[-1] == ports[-2], ports
        recent = status(server)["recent"]
        assert recent and recent[-1]["prompt"] == "fim" and recent[-1]["tokens"] > 0
        assert not errors(server)
    finally:
        said = close(server)
    assert LLAMA_API_KEY not in said
    # The server saw the model check and completions, with the key (else it would have answered 401).
    assert re.search(r'"POST /v1/completions HTTP/1.1" 200', llama_server.log())


def test_burst_answers_only_the_newest_and_closes_the_superseded_stream(monkeypatch, tmp_path, llama_server):
    server = start(monkeypatch, tmp_path, llama_server.url, maxLines=60, maxTokens=300, timeBudgetMs=30000, cache=False)
    try:
        assert wait_state(server, ("ready", "error"))["state"] == "ready"
        open_doc(server, LIST)
        # A long suggestion is being written (its first text is on screen) when the user goes on typing.
        server.send(
            {
                "jsonrpc": "2.0",
                "id": "long",
                "method": "textDocument/inlineCompletion",
                "params": params(LIST_ROW, LIST_COL),
            }
        )
        pump(server, lambda: any(p["text"] and not p["done"] for p in partials(server, "long")))
        log_before = llama_server.log()
        typed = "99, 98, 97, "  # not what the model writes: the running suggestion is stale at the first key
        ids = []
        for i, ch in enumerate(typed):
            insert(server, 2 + i, LIST_ROW, LIST_COL + i, ch)
            ids.append(f"burst-{i}")
            server.send(
                {
                    "jsonrpc": "2.0",
                    "id": ids[-1],
                    "method": "textDocument/inlineCompletion",
                    "params": params(LIST_ROW, LIST_COL + i + 1),
                }
            )
        responses = [server.wait_response(i, timeout=60) for i in ["long", *ids]]
        for resp in responses[:-1]:
            assert resp.get("error", {}).get("code") == -32801, resp  # ContentModified: never a stale answer
        assert "result" in responses[-1], responses[-1]
        newest = 1 + len(typed)
        assert all(p["version"] == newest for n in ["long", *ids] for p in partials(server, n) if p["done"])
        # On the server's side: the running stream was closed by the client (llama-cpp-python logs the
        # disconnect and stops generating), and most of the stale requests never reached it.
        pump(server, lambda: "Disconnected from client" in llama_server.log()[len(log_before) :], timeout=30)
        during = llama_server.log()[len(log_before) :]
        posts = len(re.findall(r'"POST /v1/completions', during))
        assert 1 <= posts < len(typed), during
        assert wait_state(server, ("ready",))["busy"] is False
    finally:
        close(server)


def test_wrong_port_no_ghost_text_one_message_state_error(monkeypatch, tmp_path):
    port = free_port()  # nothing listens there
    server = start(monkeypatch, tmp_path, f"http://127.0.0.1:{port}")
    try:
        st = wait_state(server, ("ready", "error"))
        assert st["state"] == "error" and f"127.0.0.1:{port}" in st["detail"], st
        assert "cannot connect" in st["detail"] and "refused" in st["detail"], st
        open_doc(server, DOC)
        for i in range(4):  # keystrokes during the outage: each answered empty, no new message
            insert(server, 2 + i, ROW, COL + i, "x")
            resp = server.request("textDocument/inlineCompletion", params(ROW, COL + i + 1), timeout=30)
            assert resp["result"]["items"] == [], resp
            assert not any(p["text"] for p in partials(server, resp["id"]))
        status(server)
        (message,) = errors(server)
        assert message.startswith("Slipstream: cannot connect to 127.0.0.1:") and str(port) in message
        assert status(server)["state"] == "error"
    finally:
        close(server)


def test_unknown_model_and_404_are_clear_messages(monkeypatch, tmp_path, llama_server):
    server = start(monkeypatch, tmp_path, llama_server.url, model="no-such-model")
    try:
        st = wait_state(server, ("ready", "error"))
        assert st["state"] == "error", st
        open_doc(server, DOC)
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL), timeout=30)
        assert resp["result"]["items"] == []
        (message,) = errors(server)
        assert "model 'no-such-model' not found" in message and LlamaServer.ALIAS in message, message
        assert "slipstream.model" in message
        # A wrong path on the right host: the server's own 404, a new load (new settings), a new message.
        server.notify(
            "workspace/didChangeConfiguration",
            {"settings": {"slipstream": {"model": LlamaServer.ALIAS, "endpoint": llama_server.url + "/nope"}}},
        )
        wait_state(server, ("ready",))  # no model list there: the completion itself tells
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL), timeout=30)
        assert resp["result"]["items"] == []
        st = status(server)
        assert st["state"] == "error" and "404" in st["detail"], st
        assert len(errors(server)) == 2 and "404 Not Found" in errors(server)[1], errors(server)
        # Fixed: ready again, and the completion works.
        server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": {"endpoint": llama_server.url}}})
        wait_state(server, ("ready",))
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL, kind=1), timeout=60)
        assert texts(resp), resp
        assert len(errors(server)) == 2
    finally:
        close(server)


def test_a_rejected_key_is_one_message_and_never_echoed(monkeypatch, tmp_path, llama_server):
    server = start(monkeypatch, tmp_path, llama_server.url, apiKeyEnv=WRONG_KEY_ENV)
    try:
        st = wait_state(server, ("ready", "error"))
        assert st["state"] == "error" and "401" in st["detail"], st
        open_doc(server, DOC)
        for _ in range(2):
            assert (
                server.request("textDocument/inlineCompletion", params(ROW, COL), timeout=30)["result"]["items"] == []
            )
        (message,) = errors(server)
        assert "refused the request: 401" in message and "slipstream.apiKeyEnv" in message, message
    finally:
        said = close(server)
    assert WRONG_KEY not in said and LLAMA_API_KEY not in said


def test_server_killed_mid_stream_then_restarted_recovers(monkeypatch, tmp_path, default_model_path):
    llama = LlamaServer(default_model_path, tmp_path / "llama.log").start()
    server = start(monkeypatch, tmp_path, llama.url, apiKeyEnv="", maxLines=60, maxTokens=300, timeBudgetMs=30000)
    try:
        assert wait_state(server, ("ready", "error"))["state"] == "ready"
        open_doc(server, LIST)
        server.send(
            {
                "jsonrpc": "2.0",
                "id": "cut",
                "method": "textDocument/inlineCompletion",
                "params": params(LIST_ROW, LIST_COL),
            }
        )
        pump(server, lambda: any(p["text"] and not p["done"] for p in partials(server, "cut")))
        llama.stop(kill=True)  # mid-stream
        resp = server.wait_response("cut", timeout=30)
        assert resp["result"]["items"] == [], resp
        last = partials(server, "cut")[-1]
        assert last["done"] and last["text"] == "", last  # the streamed ghost text is taken back
        st = wait_state(server, ("error",))
        assert "127.0.0.1:" in st["detail"], st
        for i, ch in enumerate("99,"):  # the outage goes on: empty answers, no new message
            insert(server, 2 + i, LIST_ROW, LIST_COL + i, ch)
            resp = server.request("textDocument/inlineCompletion", params(LIST_ROW, LIST_COL + i + 1), timeout=30)
            assert resp["result"]["items"] == []
        status(server)
        (message,) = errors(server)
        assert "mid-stream" in message or "cannot connect" in message, message
        llama.start()  # back, same port: typing on, a request after the backoff window works, state ready again
        insert(server, 5, LIST_ROW, LIST_COL + 3, " ")
        resp = retry_until_text(server, params(LIST_ROW, LIST_COL + 4))
        assert texts(resp), resp
        assert status(server)["state"] == "ready"
        assert len(errors(server)) == 1
    finally:
        close(server)
        llama.stop()


def test_local_engine_is_the_default_and_sends_nothing(tmp_path):
    """engine=local (the default) never constructs the remote engine (tests/robustness/test_privacy.py
    checks the whole server for network sockets)."""
    from slipstream.inference.model import ModelConfig
    from slipstream.server.settings import Settings, model_changed, parse_settings

    s = Settings()
    assert s.engine == "local" and isinstance(s.engine_config(), ModelConfig)
    remote, problems = parse_settings({"engine": "openai", "endpoint": "https://example.invalid/v1"}, s)
    assert not problems and model_changed(s, remote)
    assert not model_changed(remote, parse_settings({"maxLines": 3}, remote)[0])
    assert model_changed(remote, parse_settings({"model": "m"}, remote)[0])
    _, problems = parse_settings({"engine": "cloud", "fimTemplate": "gpt"})
    assert len(problems) == 2


@pytest.mark.parametrize(
    ("lines", "expect"),
    [
        (["data: [DONE]", ""], ["[DONE]"]),
        ([": ping", "event: completion", 'data: {"a":', "data: 1}", "", "data: x"], ['{"a":\n1}', "x"]),
    ],
)
async def test_sse_parsing(lines, expect):
    from slipstream.inference.remote import _sse_data

    async def feed():
        for line in lines:
            yield line

    assert [d async for d in _sse_data(feed(), "h")] == expect


async def test_malformed_streams_are_faults():
    from slipstream.inference.remote import RemoteConfig, RemoteFault, _sse_data
    from slipstream.inference.remote_openai import OpenAIEngine

    async def feed():
        yield "<html>"

    with pytest.raises(RemoteFault, match="malformed"):
        _ = [d async for d in _sse_data(feed(), "h")]
    engine = OpenAIEngine(RemoteConfig("http://127.0.0.1:9"))
    try:
        for bad in ("{not json", '{"choices": 3}', '{"choices": [{"text": 5}]}'):
            with pytest.raises(RemoteFault, match="malformed"):
                engine._chunk(bad)
        with pytest.raises(RemoteFault, match="reported an error: boom"):
            engine._chunk('{"error": {"message": "boom"}}')
        assert engine._chunk('{"choices": [{"text": "x", "finish_reason": "length"}]}') == ("x", "length")
    finally:
        engine.close()


def test_pseudo_tokens_and_fim_layouts():
    from slipstream.inference.prompt import build_prompt
    from slipstream.inference.remote import (
        BYTES_PER_TOKEN,
        FIM_MARKERS,
        fim_prompt,
        pseudo_text,
        pseudo_tokenize,
        split_prompt,
    )

    text = 'name = "héllo 😀"\n'
    ids = pseudo_tokenize(text)
    assert len(ids) == -(-len(text.encode()) // BYTES_PER_TOKEN) and pseudo_text(ids) == text
    assert pseudo_tokenize("abc") != pseudo_tokenize("abd")
    prompt = build_prompt("def f(x):\n    return x.", ")\n", pseudo_tokenize, FIM_MARKERS, None)
    assert split_prompt(prompt.tokens) == ("def f(x):\n    return x.", ")\n")
    assert fim_prompt("qwen", "a", "b") == "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    assert fim_prompt("codellama", "a", "b") == "<PRE> a <SUF>b <MID>"
    forged = fim_prompt("starcoder", "x = '<fim_middle>'", "")
    assert forged.count("<fim_middle>") == 1  # the user's marker text cannot forge the layout


def test_complete_command_over_a_remote_engine(monkeypatch, llama_server):
    """``slipstream complete`` with --engine: the same one-shot completion, written by the server."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    cli = [sys.executable, "-m", "slipstream.cli.main", "complete", str(root / "examples" / "inventory.py"), "41:28"]
    env = {**__import__("os").environ, KEY_ENV: LLAMA_API_KEY}
    remote = ["--engine", "openai", "--endpoint", llama_server.url, "--api-key-env", KEY_ENV]
    ok = subprocess.run([*cli, *remote, "--remote-model", LlamaServer.ALIAS], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert f"[{LlamaServer.ALIAS}, fim prompt" in ok.stderr and "stop: error" not in ok.stderr, ok.stderr
    assert LLAMA_API_KEY not in ok.stdout + ok.stderr
    wrong = subprocess.run(
        [*cli, "--engine", "openai", "--endpoint", f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "slipstream: cannot connect to 127.0.0.1:" in wrong.stderr, wrong.stderr
    unknown = subprocess.run([*cli, *remote, "--remote-model", "nope"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 2 and "model 'nope' not found" in unknown.stderr, unknown.stderr


def test_fallback_to_local_while_the_server_is_down(monkeypatch, tmp_path, default_model_path):
    """fallbackToLocal: during an outage the local model answers (loaded at the first fault), one message says
    so, and when the server is back (a try after each backoff window) the remote engine answers again."""
    llama = LlamaServer(default_model_path, tmp_path / "llama.log").start()
    server = start(monkeypatch, tmp_path, llama.url, apiKeyEnv="", fallbackToLocal=True, cache=False, threads=2)
    typed = iter("quantity * item.price" * 4)
    version, col = [1], [COL]

    def keystroke() -> tuple[dict, dict]:
        version[0] += 1
        insert(server, version[0], ROW, col[0], next(typed))
        col[0] += 1
        resp = server.request("textDocument/inlineCompletion", params(ROW, col[0]), timeout=60)
        return resp, status(server)

    def type_until(ok, timeout: float = 60.0) -> tuple[dict, dict]:
        deadline = time.monotonic() + timeout
        while True:
            resp, st = keystroke()
            if ok(resp, st) or time.monotonic() > deadline:
                return resp, st
            time.sleep(0.2)

    try:
        assert wait_state(server, ("ready", "error"))["state"] == "ready"
        open_doc(server, DOC)
        resp, st = keystroke()
        assert st["recent"][-1]["prompt"] == "fim", st["recent"]  # the remote engine (FIM through suffix)
        llama.stop()
        resp, st = type_until(lambda r, s: texts(r) and s["recent"][-1]["prompt"] == "prefix")
        assert texts(resp) and st["recent"][-1]["prompt"] == "prefix", st  # the local default model: no FIM
        assert st["state"] == "error" and f"127.0.0.1:{llama.port}" in st["detail"], st
        (message,) = errors(server)
        assert "completing with the local model until it answers again" in message, message
        llama.start()
        resp, st = type_until(lambda r, s: s["state"] == "ready" and texts(r))
        assert st["state"] == "ready" and st["recent"][-1]["prompt"] == "fim", st
        assert len(errors(server)) == 1, errors(server)
    finally:
        close(server)
        llama.stop()
