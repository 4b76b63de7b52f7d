"""A storm of edits and requests with random cancels: nothing stale is answered, memory stays bounded, and
the next normal request is answered correctly."""

from __future__ import annotations

import json
import random
import time

from tests.robustness.common import complete_ok, healthy_server

URI = "file:///robust/storm.py"
TEXT = "class Cart:\n    def __init__(self):\n        self.items = []\n\n    def total(self):\n        return \n"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_thousand_keystroke_storm_with_random_cancels(tmp_path):
    server = healthy_server(tmp_path)
    try:
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": TEXT}}
        )
        complete_ok(server, "storm-warm")
        before = rss_mb(server.proc.pid)
        rng = random.Random(7)
        typed = ("sum(item.price * item.qty for item in self.items)  # " * 40)[:1000]
        line, col = 5, len("        return ")
        frames, ids, cancelled = [], [], set()

        def frame(msg: dict) -> bytes:
            body = json.dumps(msg).encode()
            return b"Content-Length: %d\r\n\r\n" % len(body) + body

        for i, ch in enumerate(typed):
            version = 2 + i
            change = {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}}
            frames.append(
                frame(
                    {
                        "jsonrpc": "2.0",
                        "method": "textDocument/didChange",
                        "params": {
                            "textDocument": {"uri": URI, "version": version},
                            "contentChanges": [{**change, "text": ch}],
                        },
                    }
                )
            )
            col += 1
            msg_id = 100_000 + i
            ids.append(msg_id)
            frames.append(
                frame(
                    {
                        "jsonrpc": "2.0",
                        "id": msg_id,
                        "method": "textDocument/inlineCompletion",
                        "params": {
                            "textDocument": {"uri": URI},
                            "position": {"line": line, "character": col},
                            "context": {"triggerKind": 2},
                        },
                    }
                )
            )
            if rng.random() < 0.15:  # cancel this one or an earlier one
                target = rng.choice(ids[-5:])
                cancelled.add(target)
                frames.append(frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": target}}))
        t0 = time.monotonic()
        server.send_bytes(b"".join(frames))
        answers = {msg_id: server.wait_response(msg_id, timeout=120) for msg_id in ids}
        elapsed = time.monotonic() - t0
        newest = ids[-1]
        stale_answered = [
            m for m, r in answers.items() if m != newest and "result" in r and r["result"] and r["result"]["items"]
        ]
        assert not stale_answered, f"{len(stale_answered)} stale requests were answered with suggestions"
        for r in answers.values():
            if "error" in r:
                assert r["error"]["code"] in (-32801, -32800), r  # ContentModified / RequestCancelled
        assert "error" not in answers[newest] or newest in cancelled
        # The server's copy of the document has all 1,000 keystrokes.
        status = server.request("slipstream/getStatus", {"uri": URI})["result"]
        assert status["document"]["version"] == 1 + len(typed)
        after = rss_mb(server.proc.pid)
        assert after - before < 100, f"RSS grew from {before:.0f} to {after:.0f} MB over the storm"
        assert elapsed < 120
        complete_ok(server, "after-storm")
    finally:
        assert server.close() == 0
