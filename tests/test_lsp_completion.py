"""The real server over stdio with the real default model, driven as an editor would."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import (
    ROOT,
    SERVER_CMD,
    Partials,
    capabilities,
    change,
    get_status,
    inline_params,
    open_doc,
    plain,
    server_env,
    sha,
    wait_ready,
)
from tests.rawlsp import RawServer

SAMPLE = (ROOT / "examples" / "inventory.py").read_text()
URI = "file:///work/sample/inventory.py"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_CMD, server_env={**server_env(), "SLIPSTREAM_RETENTION_SCALE": "0.01"}
    )
)
async def client(lsp_client: LanguageClient, tmp_path):
    lsp_client.init_result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            initialization_options={
                "slipstream": {"maxLines": 6, "maxTokens": 64, "storagePath": str(tmp_path / "storage")}
            },
        )
    )
    status = await wait_ready(lsp_client)
    assert status["state"] == "ready", status
    yield
    await lsp_client.shutdown_session()


def line_index(text: str, startswith: str) -> int:
    for i, line in enumerate(text.split("\n")):
        if line.startswith(startswith):
            return i
    raise AssertionError(startswith)


async def test_capabilities_and_mid_line_completion(client: LanguageClient):
    caps = client.init_result.capabilities
    assert caps is not None and caps.inline_completion_provider is not None
    # The cursor sits inside "sum(|)": the closing paren already follows it.
    row = line_index(SAMPLE, "        return sum(item.total_value()")
    lines = SAMPLE.split("\n")
    lines[row] = "        return sum(item.)"
    text = "\n".join(lines)
    open_doc(client, URI, text)
    col = len("        return sum(item.")
    result = await client.text_document_inline_completion_async(inline_params(URI, row, col))
    assert isinstance(result, types.InlineCompletionList)
    assert len(result.items) == 1
    item = result.items[0]
    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    assert insert.strip(), "the model wrote nothing"
    assert "\n" not in insert, "a mid-line completion finishes the line"
    assert not insert.rstrip().endswith(")"), f"repeats the ')' after the cursor: {insert!r}"
    assert item.range is not None
    assert (item.range.start.line, item.range.start.character) == (row, col)


async def test_partials_stream_before_the_final_answer(client: LanguageClient):
    partials = Partials(client)
    row = line_index(SAMPLE, "    def in_stock(self)")
    lines = SAMPLE.split("\n")
    lines[row + 1] = "        "
    open_doc(client, URI, "\n".join(lines))
    result = await client.text_document_inline_completion_async(inline_params(URI, row + 1, 8, invoked=True))
    assert result is not None and result.items, "exploration after a def must write a body"
    final = result.items[0].insert_text
    mine = [p for _, p in partials.items if p["uri"] == URI]
    assert len(mine) >= 2, f"expected streamed partials, got {mine}"
    assert all(p["version"] == 1 for p in mine)
    assert not any(p["done"] for p in mine[:-1])
    assert mine[-1]["done"] and mine[-1]["text"] == final
    # Streamed texts grow: each shown text is a prefix of the final one, except post-processing trims.
    assert any(len(p["text"]) < len(final) for p in mine[:-1])


def test_cancel_request_answers_request_cancelled_and_stops_the_model():
    server = RawServer()
    try:
        server.initialize({"maxLines": 6, "maxTokens": 64, "cache": False, "speculate": False})
        assert server.wait_ready()["state"] == "ready"
        row = line_index(SAMPLE, "    def in_stock(self)")
        lines = SAMPLE.split("\n")
        lines[row + 1] = "        "
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "\n".join(lines)}},
        )
        params = {
            "textDocument": {"uri": URI},
            "position": {"line": row + 1, "character": 8},
            "context": {"triggerKind": 1},
        }
        # The first prompt is cold (hundreds of tokens to evaluate): the cancel lands while it runs.
        server.send({"jsonrpc": "2.0", "id": "c1", "method": "textDocument/inlineCompletion", "params": params})
        server.notify("$/cancelRequest", {"id": "c1"})
        resp = server.wait_response("c1", timeout=30)
        assert resp.get("error", {}).get("code") == types.LSPErrorCodes.RequestCancelled, resp
        for _ in range(100):
            status = server.request("slipstream/getStatus", {})["result"]
            if status["recent"] and not status["busy"]:
                break
            time.sleep(0.05)
        last = status["recent"][-1]
        assert last["stop"] == "cancelled" and last["tokens"] < last["max_tokens"], last
        ok = server.request("textDocument/inlineCompletion", params, timeout=60)
        assert ok["result"]["items"], ok
        assert not any(
            n["method"] == "slipstream/inlineCompletionPartial"
            and n["params"]["requestId"] == "c1"
            and n["params"]["done"]
            for n in server.notifications
        )
    finally:
        assert server.close() == 0


async def test_burst_of_edits_answers_only_the_newest_version(client: LanguageClient):
    row = line_index(SAMPLE, "    def cheapest(self)")
    lines = SAMPLE.split("\n")
    base = "        if not self."
    lines[row + 1] = base
    text = "\n".join(lines)
    open_doc(client, URI, text)
    partials = Partials(client)
    typed = "items or len(self.items) == 0"[:20]
    tasks = []
    col = len(base)
    for i, ch in enumerate(typed):
        version = 2 + i
        change(client, URI, version, (row + 1, col), (row + 1, col), ch)
        col += 1
        request = client.text_document_inline_completion_async(inline_params(URI, row + 1, col))
        tasks.append(asyncio.ensure_future(request))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    newest = 1 + len(typed)
    for r in results[:-1]:
        assert isinstance(r, JsonRpcException), f"a stale request was answered: {r!r}"
        assert r.code == types.LSPErrorCodes.ContentModified
    assert isinstance(results[-1], types.InlineCompletionList), results[-1]
    assert all(p["version"] == newest for _, p in partials.items if p.get("done")), partials.items
    # The server's copy of the document equals ours after 20 incremental edits.
    lines[row + 1] = base + typed
    status = await get_status(client, URI)
    assert status["document"]["version"] == newest
    assert status["document"]["sha256"] == sha("\n".join(lines))
    # The engine never generated for most of the stale requests: they were dropped from the queue.
    generated = [r for r in status["recent"] if r["stop"] not in ("superseded",)]
    assert len(generated) < len(typed)
    result = await client.text_document_inline_completion_async(inline_params(URI, row + 1, col))
    assert isinstance(result, types.InlineCompletionList)


async def test_utf16_positions_with_emoji(client: LanguageClient):
    text = 'greeting = "héllo 😀 wörld"\nname = "🐍"\n'
    open_doc(client, URI, text)
    # Insert after the emoji on line 0: "😀" is 2 UTF-16 code units, so column 19 is right after it.
    col = len('greeting = "héllo ') + 2
    change(client, URI, 2, (0, col), (0, col), "!")
    # Replace the snake (2 code units) on line 1 by a word.
    change(client, URI, 3, (1, 8), (1, 10), "python")
    status = await get_status(client, URI)
    assert status["document"]["sha256"] == sha('greeting = "héllo 😀! wörld"\nname = "python"\n')
    # A completion at a UTF-16 position after the emoji is answered at that position.
    result = await client.text_document_inline_completion_async(inline_params(URI, 0, col + 1))
    assert isinstance(result, types.InlineCompletionList)
    for item in result.items:
        assert item.range.start == types.Position(line=0, character=col + 1)


async def test_unopened_document_and_bad_position_get_errors(client: LanguageClient):
    with pytest.raises(JsonRpcException) as exc:
        await client.text_document_inline_completion_async(inline_params("file:///nope.py", 0, 0))
    assert exc.value.code == types.ErrorCodes.InvalidParams
    status = await get_status(client)
    assert status["state"] == "ready"


def test_requests_that_fail_to_deserialize_are_answered():
    """pygls alone never answers a request whose params do not deserialize; ours gets an error."""
    server = RawServer()
    try:
        server.initialize()
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "x = 1\n"}},
        )
        bad_params = [
            {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}, "context": {"triggerKind": 1}},
            {"textDocument": {"uri": URI}, "position": {"line": "zero", "character": 0}, "context": {"triggerKind": 1}},
            {"textDocument": URI, "position": None},
            [],
        ]
        for params in bad_params:
            resp = server.request("textDocument/inlineCompletion", params, timeout=10)
            assert resp["error"]["code"] == types.ErrorCodes.InvalidParams, resp
        resp = server.request("slipstream/noSuchMethod", {}, timeout=10)
        assert resp["error"]["code"] == types.ErrorCodes.MethodNotFound
        assert server.wait_ready()["state"] == "ready"
        ok = server.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": URI}, "position": {"line": 1, "character": 0}, "context": {"triggerKind": 1}},
            timeout=60,
        )
        assert "result" in ok, ok
    finally:
        assert server.close() == 0


IF_BODY = "\n".join(
    [
        "def parse(line):",
        '    if line.startswith("#"):',
        "        comment = line[1:].strip()",
        "        ",  # the cursor: an empty line at the end of the if body
        "    else:",
        "        comment = None",
        "    return line",
        "",
    ]
)


async def test_completion_inside_an_if_body_never_writes_the_else(client: LanguageClient):
    open_doc(client, URI, IF_BODY)
    # No edit since opening: the user is waiting (a pause), so this is exploration, with alternatives.
    result = await client.text_document_inline_completion_async(inline_params(URI, 3, 8, invoked=True))
    assert isinstance(result, types.InlineCompletionList)
    assert result.items, "the model wrote nothing for the body"
    for item in result.items:
        for line in item.insert_text.split("\n"):
            assert not line.strip().startswith(("else", "elif")), item.insert_text
        for line in item.insert_text.split("\n")[1:]:
            assert not line.strip() or line.startswith("        "), f"left the if body: {item.insert_text!r}"
    texts = [i.insert_text for i in result.items]
    assert len(texts) == len(set(texts)) <= 3


async def test_accepting_a_suggestion_is_counted_locally_with_retention(client: LanguageClient):
    row = line_index(SAMPLE, "    def in_stock(self)")
    lines = SAMPLE.split("\n")
    lines[row + 1] = "        "
    open_doc(client, URI, "\n".join(lines))
    result = await client.text_document_inline_completion_async(inline_params(URI, row + 1, 8))
    assert result.items
    item = result.items[0]
    assert item.command is not None and item.command.command == "slipstream.accepted"
    # The editor inserts the text (as on Tab), then runs the item's command.
    change(client, URI, 2, (row + 1, 8), (row + 1, 8), item.insert_text)
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    stats = plain(await client.protocol.send_request_async("slipstream/stats", {}))
    assert stats["enabled"] is True
    (cls,) = [c for c, row_ in stats["classes"].items() if row_["accepted"]]
    assert stats["classes"][cls]["shown"] >= 1 and stats["classes"][cls]["accepted"] == 1
    # Retention checks run (scaled down to fractions of a second here): the text is still there.
    for _ in range(100):
        stats = plain(await client.protocol.send_request_async("slipstream/stats", {}))
        if stats["classes"][cls]["checked_120s"]:
            break
        await asyncio.sleep(0.1)
    assert stats["classes"][cls]["retained_30s"] == 1 and stats["classes"][cls]["retained_120s"] == 1


@pytest.mark.parametrize(
    "start",
    [
        "    def in_stock(self)",  # a block header: the body's first lines, one level deeper
        "        data = [vars(item)",  # a complete statement: the next line, at its indentation
    ],
)
async def test_at_a_finished_line_the_suggestion_starts_on_the_next_line(client: LanguageClient, start: str):
    # The line's last key (a header's ':', a statement's last character): the model's first two tokens would
    # be the line break and the indentation (two decodes before any text; finishing the line showed nothing).
    # The policy writes them and asks from the new line: the answer and every partial start with them.
    partials = Partials(client)
    row = line_index(SAMPLE, start)
    lines = SAMPLE.split("\n")
    del lines[row + 1]  # the body, or the rest of it
    open_doc(client, URI, "\n".join(lines))
    col = len(lines[row])
    result = await client.text_document_inline_completion_async(inline_params(URI, row, col))
    assert isinstance(result, types.InlineCompletionList) and result.items, "nothing at the line's end"
    insert = result.items[0].insert_text
    assert insert.startswith("\n        ") and insert[9:10].strip(), repr(insert)
    assert all(not x.strip() or x.startswith("        ") for x in insert.split("\n")[1:]), "left the block"
    assert (result.items[0].range.start.line, result.items[0].range.start.character) == (row, col)
    shown = [p["text"] for _, p in partials.items if p["uri"] == URI and p["text"]]
    assert shown and all(t.startswith("\n        ") for t in shown), shown
    # Enter (the editor indents the new line) and the suggestion's first letter: the rest, without the model.
    before = (await get_status(client))["stats"]
    change(client, URI, 2, (row, col), (row, col), insert[:10])
    answer = await client.text_document_inline_completion_async(inline_params(URI, row + 1, 9))
    assert answer is not None and answer.items and answer.items[0].insert_text == insert[10:], answer
    after = (await get_status(client))["stats"]
    assert after["typed_through"] == before["typed_through"] + 1
    assert after["answered"] == before["answered"], "the model was not asked"
