"""Answers without the model, over LSP with the real default model: typed-through, cache, speculation."""

from __future__ import annotations

import time

from tests.conftest import ROOT
from tests.rawlsp import RawServer

SAMPLE = (ROOT / "examples" / "inventory.py").read_text()
URI = "file:///work/sample/inventory.py"


def line_of(text: str, start: str) -> int:
    return next(i for i, ln in enumerate(text.split("\n")) if ln.startswith(start))


def params(line: int, character: int, kind: int = 2) -> dict:
    return {
        "textDocument": {"uri": URI},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": kind},
    }


def insert(server: RawServer, version: int, line: int, col: int, text: str) -> None:
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [
                {
                    "range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}},
                    "text": text,
                }
            ],
        },
    )


def delete(server: RawServer, version: int, line: int, col: int, n: int) -> None:
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [
                {
                    "range": {"start": {"line": line, "character": col - n}, "end": {"line": line, "character": col}},
                    "text": "",
                }
            ],
        },
    )


def status(server: RawServer) -> dict:
    return server.request("slipstream/getStatus", {})["result"]


def start(tmp_path, **options) -> RawServer:
    server = RawServer()
    server.initialize({"maxLines": 4, "maxTokens": 48, "storagePath": str(tmp_path), **options})
    assert server.wait_ready()["state"] == "ready"
    return server


def wait_idle(server: RawServer) -> dict:
    for _ in range(200):
        st = status(server)
        if not st["busy"]:
            return st
        time.sleep(0.05)
    raise AssertionError("the engine never went idle")


def mid_line_doc() -> tuple[str, int, int]:
    row = line_of(SAMPLE, "        return sum(item.total_value()")
    lines = SAMPLE.split("\n")
    lines[row] = "        return sum("
    return "\n".join(lines), row, len("        return sum(")


def test_typing_along_a_suggestion_is_answered_without_the_model(tmp_path):
    server = start(tmp_path, speculate=False)
    try:
        text, row, col = mid_line_doc()
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        first = server.request("textDocument/inlineCompletion", params(row, col), timeout=60)["result"]["items"]
        assert first, "the model suggested nothing"
        suggestion = first[0]["insertText"]
        assert len(suggestion) >= 3, suggestion
        generations = len(wait_idle(server)["recent"])
        # Type the first two characters of the suggestion.
        insert(server, 2, row, col, suggestion[:2])
        resp = server.request("textDocument/inlineCompletion", params(row, col + 2), timeout=10)["result"]
        assert resp["items"][0]["insertText"] == suggestion[2:]
        # Backspace once: the suggestion grows back by one character.
        delete(server, 3, row, col + 2, 1)
        resp = server.request("textDocument/inlineCompletion", params(row, col + 1), timeout=10)["result"]
        assert resp["items"][0]["insertText"] == suggestion[1:]
        st = wait_idle(server)
        assert st["stats"]["typed_through"] == 2
        assert len(st["recent"]) == generations, "no new generation for typed-through answers"
        # Typing something else departs from it: the model runs again.
        insert(server, 4, row, col + 1, "#")
        server.request("textDocument/inlineCompletion", params(row, col + 2), timeout=60)
        assert len(wait_idle(server)["recent"]) > generations
    finally:
        assert server.close() == 0


def test_identical_context_is_served_from_the_disk_cache_after_a_restart(tmp_path):
    text, row, col = mid_line_doc()
    open_msg = {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
    server = start(tmp_path, speculate=False)
    try:
        server.notify("textDocument/didOpen", open_msg)
        first = server.request("textDocument/inlineCompletion", params(row, col), timeout=60)["result"]
    finally:
        assert server.close() == 0
    server = start(tmp_path, speculate=False)
    try:
        server.notify("textDocument/didOpen", open_msg)
        wait_idle(server)  # let the warm-up end
        before = len(status(server)["recent"])
        again = server.request("textDocument/inlineCompletion", params(row, col), timeout=60)["result"]
        st = wait_idle(server)
        assert [i["insertText"] for i in again["items"]] == [i["insertText"] for i in first["items"]]
        assert st["stats"]["cache_hits"] == 1 and st["cache"]["disk_hits"] == 1
        assert len(st["recent"]) == before, "served without a generation"
    finally:
        assert server.close() == 0


def test_the_first_request_near_the_end_of_a_long_file_reuses_the_warm_up(tmp_path):
    """The warm-up fills the KV cache with the window before the file's end; a first keystroke a dozen lines
    above the end keeps that window's start (its own window would start 16 lines higher), so nearly all of
    its prompt is already evaluated."""
    lines = (SAMPLE * 6).split("\n")
    row = len(lines) - 12
    while not lines[row].strip():
        row -= 1
    col = len(lines[row]) // 2
    text = "\n".join(lines)
    server = start(tmp_path, speculate=False, cache=False)
    try:
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        for _ in range(200):
            st = status(server)
            if st["stats"]["warmups"] == 1 and not st["busy"]:
                break
            time.sleep(0.05)
        assert st["stats"]["warmups"] == 1, st["stats"]
        server.request("textDocument/inlineCompletion", params(row, col), timeout=60)
        first = wait_idle(server)["recent"][-1]
        # a window of dozens of lines (the local budget's 64 at most: ~420 tokens here), most of them reused
        assert first["prompt_tokens"] > 300, first
        assert first["reused_tokens"] >= first["prompt_tokens"] - 40, first
    finally:
        assert server.close() == 0


def test_speculation_answers_the_request_after_accepting(tmp_path):
    server = start(tmp_path)
    try:
        row = line_of(SAMPLE, "    def in_stock(self)")
        lines = SAMPLE.split("\n")
        lines[row + 1] = "        return ["
        text = "\n".join(lines)
        col = len(lines[row + 1])
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        items = server.request("textDocument/inlineCompletion", params(row + 1, col), timeout=60)["result"]["items"]
        assert items
        suggestion = items[0]["insertText"]
        wait_guess(server)  # the speculative generation runs while the model is idle
        # Accept (the editor inserts the text), then the editor asks again at the end of it.
        insert(server, 2, row + 1, col, suggestion)
        server.request("textDocument/inlineCompletion", params(row + 1, col + len(suggestion)), timeout=60)
        st = wait_idle(server)
        # The guess here is empty: its answer was cached (a guess with text is kept at the suggestion's end).
        assert st["stats"]["cache_hits"] >= 1, st["stats"]
        assert len(foreground(st)) == 1, "no foreground generation: the speculated answer was used"
    finally:
        assert server.close() == 0


def open_at(server: RawServer, start: str = "        return [") -> tuple[int, int, str]:
    """The document opened with the line starting ``start`` cut after it, and the first suggestion there."""
    row = line_of(SAMPLE, start)
    lines = SAMPLE.split("\n")
    lines[row] = start
    text = "\n".join(lines)
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
    )
    items = server.request("textDocument/inlineCompletion", params(row, len(start)), timeout=60)["result"]
    assert items["items"], "the model suggested nothing"
    suggestion = items["items"][0]["insertText"]
    assert len(suggestion) >= 2 and "\n" not in suggestion, suggestion
    return row, len(start), suggestion


# Here the suggestion ends its line, and the guess after it is the next line (not empty).
SAVE = "        data = [vars(item)"


def wait_guess(server: RawServer) -> dict:
    for _ in range(200):
        st = status(server)
        if st["stats"]["speculations_done"] and not st["busy"]:
            return st
        time.sleep(0.05)
    raise AssertionError(f"no guess ended: {st['stats']}")


def foreground(st: dict) -> list[dict]:
    return [r for r in st["recent"] if not r["label"].startswith(("speculative", "warm-up"))]


def test_typing_a_suggestion_out_follows_the_guess_started_at_once(tmp_path):
    """A typist who types a suggestion out instead of pressing Tab never pauses, so the guess of what comes
    after it starts right after the answer, keeps running while the keys go along the suggestion, and the key
    that completes it is answered from the guess (under way or done): no generation of its own."""
    server = start(tmp_path)
    try:
        row, col, suggestion = open_at(server, SAVE)
        insert(server, 2, row, col, suggestion[:-1])  # at once: no pause for the old wait (60 ms or more)
        insert(server, 3, row, col + len(suggestion) - 1, suggestion[-1])
        answer = server.request("textDocument/inlineCompletion", params(row, col + len(suggestion)), timeout=60)
        st = wait_idle(server)
        assert answer["result"]["items"] and answer["result"]["items"][0]["insertText"].startswith("\n")
        assert len(foreground(st)) == 1, foreground(st)
        assert st["stats"]["guesses_followed"] == 1, st["stats"]  # the guess was still under way
        assert st["stats"]["speculations"] == 2, st["stats"]  # and what follows it is guessed in turn
    finally:
        assert server.close() == 0


def test_an_explicit_request_is_never_answered_from_a_guess(tmp_path):
    """A guess is planned for a keystroke; asked for explicitly (Alt+\\), the same spot gets its own
    generation, with alternatives."""
    server = start(tmp_path)
    try:
        row, col, suggestion = open_at(server, SAVE)
        wait_guess(server)
        insert(server, 2, row, col, suggestion)
        server.request("textDocument/inlineCompletion", params(row, col + len(suggestion), 1), timeout=60)
        st = wait_idle(server)
        assert len(foreground(st)) > 1, st["recent"]
        assert st["stats"]["typed_through"] == 0 and st["stats"]["cache_hits"] == 0, st["stats"]
    finally:
        assert server.close() == 0


def test_typing_off_the_suggestion_stops_the_guess(tmp_path):
    server = start(tmp_path)
    try:
        row, col, suggestion = open_at(server, SAVE)  # a guess of a whole line: ~10 decodes on one thread
        for _ in range(400):
            st = status(server)
            if st["stats"]["speculations"] and st["busy"]:
                break
            time.sleep(0.002)
        assert st["stats"]["speculations"] == 1 and st["busy"], st["stats"]  # the guess is under way
        insert(server, 2, row, col, "#" if suggestion[0] != "#" else "@")
        st = wait_idle(server)
        guesses = [r for r in st["recent"] if r["label"].startswith("speculative")]
        assert st["stats"]["speculations_done"] == 0 and guesses and guesses[-1]["stop"] == "cancelled", guesses
    finally:
        assert server.close() == 0


def first_suggestion(tmp_path, text: str, row: int, col: int, typed: str = "", **options) -> str:
    """What the model suggests at (row, col) of ``text`` (after typing ``typed`` there), from a server of its
    own (with the disk cache in ``tmp_path / "first"`` when ``cache`` is on)."""
    server = start(tmp_path / "first", **{"speculate": False, "cache": False, **options})
    try:
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        if typed:
            insert(server, 2, row, col, typed)
        at = params(row, col + len(typed))
        items = server.request("textDocument/inlineCompletion", at, timeout=60)["result"]["items"]
        assert items, "the model suggested nothing"
        return items[0]["insertText"]
    finally:
        assert server.close() == 0


def type_ahead_of_a_cold_request(tmp_path, typed: str, ask: bool = True, **options) -> tuple[dict | None, dict]:
    """Open the file and ask at once (its prompt still cold: hundreds of ms to evaluate), then type ``typed``
    and (``ask``) ask again before any text came: the second answer, and the server's status."""
    text, row, col = mid_line_doc()
    server = start(tmp_path / options.pop("storage", "typed"), **{"speculate": False, "cache": False, **options})
    try:
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        cold = {"jsonrpc": "2.0", "id": "cold", "method": "textDocument/inlineCompletion", "params": params(row, col)}
        server.send(cold)  # not waited for
        insert(server, 2, row, col, typed)
        answer = None
        if ask:
            answer = server.request("textDocument/inlineCompletion", params(row, col + len(typed)), timeout=60)
        server.wait_response("cold", timeout=60)
        return (answer["result"] if answer else None), wait_idle(server)
    finally:
        assert server.close() == 0


def test_a_key_typed_ahead_of_a_running_generation_waits_for_its_text(tmp_path):
    """A fast typist's next key often comes before the previous key's suggestion has any text (a cold prompt,
    or a 30 ms gap). If the suggestion then starts with what was typed, that key is answered with its rest:
    one generation for both keys instead of the first stopped and the second started again."""
    text, row, col = mid_line_doc()
    suggestion = first_suggestion(tmp_path, text, row, col)
    assert len(suggestion) >= 2, suggestion
    answer, st = type_ahead_of_a_cold_request(tmp_path, suggestion[0])
    generations = foreground(st)
    assert len(generations) == 1 and generations[0]["stop"] not in ("cancelled", "superseded"), generations
    assert answer["items"] and answer["items"][0]["insertText"] == suggestion[1:], (answer, suggestion)
    assert st["stats"]["typed_ahead"] == 1, st["stats"]


def test_a_key_typed_off_a_running_generation_gets_its_own(tmp_path):
    text, row, col = mid_line_doc()
    suggestion = first_suggestion(tmp_path, text, row, col)
    other = "#" if suggestion[0] != "#" else "@"
    _, st = type_ahead_of_a_cold_request(tmp_path, other)
    generations = foreground(st)
    # The key waited (it may have been written next) until the first text departed from it, then asked.
    assert st["stats"]["typed_ahead"] == 1, st["stats"]
    assert [g["label"].rsplit("@", 1)[1] for g in generations] == ["1", "2"], generations
    assert generations[0]["stop"] in ("cancelled", "superseded"), generations


def test_a_key_typed_ahead_that_the_cache_answers_does_not_wait(tmp_path):
    """Retyping what was typed before: the cache answers at once, and the generation it was typed ahead of
    stops, instead of the key waiting for that generation's text."""
    text, row, col = mid_line_doc()
    suggestion = first_suggestion(tmp_path, text, row, col)
    cached = first_suggestion(tmp_path, text, row, col, typed=suggestion[0], cache=True)
    answer, st = type_ahead_of_a_cold_request(tmp_path, suggestion[0], storage="first", cache=True)
    assert st["stats"]["cache_hits"] == 1 and st["stats"]["typed_ahead"] == 0, st["stats"]
    assert answer and answer["items"][0]["insertText"] == cached, (answer, cached)
    generations = foreground(st)
    assert len(generations) == 1 and generations[0]["stop"] in ("cancelled", "superseded"), generations


def test_a_generation_kept_for_a_key_typed_ahead_stops_once_its_text_departs(tmp_path):
    """The edit keeps the running generation (it may still write what was typed), but no request follows it:
    once its first text departs from the document, it stops instead of writing on for a stale version."""
    text, row, col = mid_line_doc()
    suggestion = first_suggestion(tmp_path, text, row, col)
    _, st = type_ahead_of_a_cold_request(tmp_path, "#" if suggestion[0] != "#" else "@", ask=False)
    generations = foreground(st)
    assert len(generations) == 1 and generations[0]["stop"] in ("cancelled", "superseded"), generations


def test_project_context_is_used_once_ready_and_never_waited_for(tmp_path):
    server = start(tmp_path, speculate=False, cache=False, projectContext=True)
    try:
        text = SAMPLE.replace("    inventory = Inventory()\n", "    inventory = Inventory()\n    inventory.\n", 1)
        row = line_of(text, "    inventory.")
        col = len("    inventory.")
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        wait_idle(server)
        server.request("textDocument/inlineCompletion", params(row, col), timeout=60)
        first = wait_idle(server)["recent"][-1]["prompt_tokens"]
        end_line = text.count("\n")
        for i in range(100):  # jedi runs in the background; the request above did not wait for it
            insert(server, 2 + i, end_line + i, 0, "\n")  # an edit below: the previous answer is not reused
            server.request("textDocument/inlineCompletion", params(row, col), timeout=60)
            last = wait_idle(server)["recent"][-1]["prompt_tokens"]
            if last > first:
                break
            time.sleep(0.1)
        assert last > first, "the members of `inventory` were added ahead of the prompt"
    finally:
        assert server.close() == 0


def next_partial(server: RawServer, version: int) -> dict:
    """The next inlineCompletionPartial for ``version``, read as it arrives."""
    return server.next_notification("slipstream/inlineCompletionPartial", lambda p: p["version"] == version, 60)


def test_a_key_typed_along_a_running_generation_shows_its_text_at_once(tmp_path):
    """A key typed along a generation whose text already passes it is shown the rest of that text when it
    arrives, not at the generation's next token (one decode later: ~20 ms on two threads, ~35 ms on one)."""
    text, row, col = mid_line_doc()
    suggestion = first_suggestion(tmp_path, text, row, col, threads=1)
    server = start(tmp_path / "along", speculate=False, cache=False, threads=1)
    try:
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}}
        )
        server.send(
            {"jsonrpc": "2.0", "id": "v1", "method": "textDocument/inlineCompletion", "params": params(row, col)}
        )
        so_far = ""
        while len(so_far) < 2:  # the generation has written at least two characters: one to type, one to show
            so_far = next_partial(server, 1)["text"]
        assert suggestion.startswith(so_far) and len(suggestion) > len(so_far), (so_far, suggestion)
        insert(server, 2, row, col, so_far[0])  # right after a token: the next one is a whole decode away
        server.send(
            {"jsonrpc": "2.0", "id": "v2", "method": "textDocument/inlineCompletion", "params": params(row, col + 1)}
        )
        first = next_partial(server, 2)
        assert first["text"] == so_far[1:], (first, so_far)  # the text so far, not the text of a token after it
        answer = server.wait_response("v2", timeout=60)["result"]
        assert answer["items"][0]["insertText"] == suggestion[1:], (answer, suggestion)
        assert len(foreground(wait_idle(server))) == 1  # one generation answered both keys
    finally:
        assert server.close() == 0


def test_a_suggestion_never_answered_is_guessed_after_once_typed_along(tmp_path):
    """At a 30 ms gap every generation ends after the next key was typed along it: its request is stale, so it is
    never answered and nothing was guessed after it. The first key answered from it (typed along the finished
    suggestion) starts the guess, and the key that completes the suggestion is answered from that guess, as it
    is after an answered suggestion (before, it needed a generation of its own: in bench/latency.py's 30 ms
    replay a line's last key was one of the keys that showed nothing)."""
    server = start(tmp_path, threads=1)
    try:
        row = line_of(SAMPLE, SAVE)
        lines = SAMPLE.split("\n")
        lines[row] = SAVE
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "\n".join(lines)}},
        )
        col = len(SAVE)
        server.send(
            {"jsonrpc": "2.0", "id": "v1", "method": "textDocument/inlineCompletion", "params": params(row, col)}
        )
        so_far = ""
        while len(so_far) < 2:  # under way, a few decodes from its end (one thread: ~35 ms each)
            so_far = next_partial(server, 1)["text"]
        insert(server, 2, row, col, so_far[0])  # typed along it while it runs, without a request (a 30 ms gap)
        server.wait_response("v1", timeout=60)
        st = wait_idle(server)
        first = foreground(st)
        assert st["stats"]["answered"] == 0 and st["stats"]["speculations"] == 0, st["stats"]  # stale: no guess yet
        insert(server, 3, row, col + 1, so_far[1])
        along = server.request("textDocument/inlineCompletion", params(row, col + 2), timeout=60)["result"]["items"]
        assert along, "the finished suggestion did not answer the key typed along it"
        rest = along[0]["insertText"]
        wait_guess(server)  # the guess after the suggestion, started by that key
        insert(server, 4, row, col + 2, rest)
        answer = server.request("textDocument/inlineCompletion", params(row, col + 2 + len(rest)), timeout=60)
        st = wait_idle(server)
        assert answer["result"]["items"] and answer["result"]["items"][0]["insertText"].startswith("\n"), answer
        assert foreground(st) == first, foreground(st)  # the first generation only: no key had its own
    finally:
        assert server.close() == 0
