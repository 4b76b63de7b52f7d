"""engine = "llamacpp": the real server over stdio against llama.cpp's own ``llama-server`` on a loopback port.

With the default model (no FIM tokens) completions go to ``/completion`` with the prefix; with the tiny FIM
model to ``/infill`` (input_prefix / prompt / input_suffix). A superseded stream is closed and the server's
slot stops (``/slots``); a rejected key is one message; the server killed mid-stream and restarted is used
again without restarting Slipstream. Skipped where no llama-server binary exists (conftest's
``llama_server_binary``: CI does not build it).
"""

from __future__ import annotations

import time

from tests.conftest import LLAMA_API_KEY, LlamaCppServer
from tests.test_remote_engine import (
    COL,
    DOC,
    KEY_ENV,
    LIST,
    LIST_COL,
    LIST_ROW,
    ROW,
    WRONG_KEY,
    WRONG_KEY_ENV,
    close,
    errors,
    insert,
    open_doc,
    params,
    partials,
    pump,
    retry_until_text,
    start,
    status,
    texts,
    wait_state,
)


def start_llamacpp(monkeypatch, tmp_path, url: str, **options):
    return start(monkeypatch, tmp_path, url, engine="llamacpp", model="", **options)


def test_prefix_model_streams_through_completion(monkeypatch, tmp_path, llamacpp_server):
    server = start_llamacpp(monkeypatch, tmp_path, llamacpp_server.url, timeBudgetMs=30000)
    try:
        st = wait_state(server, ("ready", "error"))
        assert st["state"] == "ready", st
        model = st["model"]
        assert (model["engine"], model["endpoint"], model["model"], model["fim"]) == (
            "llamacpp",
            f"127.0.0.1:{llamacpp_server.port}",
            "gemma3",  # from /props
            False,  # /infill refused: "Infill is not supported by this model"
        )
        open_doc(server, DOC)
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL), timeout=60)
        (final,) = texts(resp)
        assert final.strip() and "\n" not in final, final
        mine = partials(server, resp["id"])
        assert len(mine) >= 2 and mine[-1]["done"] and mine[-1]["text"] == final
        assert any(len(p["text"]) < len(final) for p in mine[:-1])
        recent = status(server)["recent"]
        assert recent and recent[-1]["prompt"] == "prefix", recent
        assert not errors(server)
    finally:
        said = close(server)
    assert LLAMA_API_KEY not in said


def test_fim_model_goes_through_infill(monkeypatch, tmp_path, llamacpp_fim_server):
    server = start_llamacpp(monkeypatch, tmp_path, llamacpp_fim_server.url, apiKeyEnv="", maxTokens=8)
    try:
        st = wait_state(server, ("ready", "error"))
        assert st["state"] == "ready" and st["model"]["fim"] is True and st["model"]["model"] == "tiny-fim", st
        open_doc(server, DOC)
        before = llamacpp_fim_server.log()
        resp = server.request("textDocument/inlineCompletion", params(ROW, COL, kind=1), timeout=60)
        assert "result" in resp, resp
        recent = status(server)["recent"]
        assert recent and recent[-1]["prompt"] == "fim" and recent[-1]["tokens"] > 0, recent
        # The server evaluated an infill prompt: its slot processed the FIM layout's tokens and generated.
        assert "stop processing" in llamacpp_fim_server.log()[len(before) :]
        assert not errors(server)
    finally:
        close(server)


def test_superseded_stream_stops_the_servers_slot(monkeypatch, tmp_path, llamacpp_server):
    server = start_llamacpp(
        monkeypatch, tmp_path, llamacpp_server.url, maxLines=60, maxTokens=300, timeBudgetMs=60000, cache=False
    )
    try:
        assert wait_state(server, ("ready", "error"))["state"] == "ready"
        open_doc(server, LIST)
        server.send(
            {
                "jsonrpc": "2.0",
                "id": "long",
                "method": "textDocument/inlineCompletion",
                "params": params(LIST_ROW, LIST_COL),
            }
        )
        pump(server, lambda: any(p["text"] and not p["done"] for p in partials(server, "long")))
        assert any(s["is_processing"] for s in llamacpp_server.slots())
        insert(server, 2, LIST_ROW, LIST_COL, "9")  # typed over the suggestion: the stream is stale
        resp = server.wait_response("long", timeout=30)
        assert resp.get("error", {}).get("code") == -32801, resp
        # 300 tokens would take seconds more; the closed stream stops the slot at its next token.
        deadline = time.monotonic() + 5
        while any(s["is_processing"] for s in llamacpp_server.slots()):
            assert time.monotonic() < deadline, "llama-server went on generating for a closed stream"
            time.sleep(0.02)
        assert "stop processing" in llamacpp_server.log()
    finally:
        close(server)


def test_a_rejected_key_is_one_message_and_never_echoed(monkeypatch, tmp_path, llamacpp_server):
    server = start_llamacpp(monkeypatch, tmp_path, llamacpp_server.url, apiKeyEnv=WRONG_KEY_ENV)
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
    assert KEY_ENV  # the right key's variable was set too, and never echoed (LLAMA_API_KEY above)


def test_killed_mid_stream_then_restarted_recovers(monkeypatch, tmp_path, llamacpp_binary, default_model_path):
    llama = LlamaCppServer(llamacpp_binary, default_model_path, tmp_path / "llama.log", "gemma3").start()
    server = start_llamacpp(
        monkeypatch, tmp_path, llama.url, apiKeyEnv="", maxLines=60, maxTokens=300, timeBudgetMs=30000
    )
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
        llama.stop(kill=True)
        resp = server.wait_response("cut", timeout=30)
        assert resp["result"]["items"] == [], resp
        assert partials(server, "cut")[-1]["text"] == ""  # the streamed ghost text is taken back
        st = wait_state(server, ("error",))
        assert f"127.0.0.1:{llama.port}" in st["detail"], st
        insert(server, 2, LIST_ROW, LIST_COL, "9")
        assert (
            server.request("textDocument/inlineCompletion", params(LIST_ROW, LIST_COL + 1), timeout=30)["result"][
                "items"
            ]
            == []
        )
        llama.start()
        insert(server, 3, LIST_ROW, LIST_COL + 1, "9")
        resp = retry_until_text(server, params(LIST_ROW, LIST_COL + 2))
        assert texts(resp), resp
        assert status(server)["state"] == "ready"
        assert len(errors(server)) == 1, errors(server)
    finally:
        close(server)
        llama.stop()
