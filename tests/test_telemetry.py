from __future__ import annotations

import os
import time

import pytest
from slipstream.completion.telemetry import Shown, Telemetry, line_factors, still_present


def test_still_present_near_the_insertion():
    doc = "def f():\n    x = 1\n    return x + 1\n"
    assert still_present(doc, "return x + 1", 2)
    assert still_present(doc, "x = 1\nreturn x + 1", 1), "multi-line, indentation-insensitive"
    assert not still_present(doc, "return x + 2", 2)
    far = "\n" * 100 + doc
    assert not still_present(far, "return x + 1", 2, radius=20)


def test_line_factors_need_evidence():
    assert line_factors({"module": {"shown_multi": 5, "accepted_multi": 0}}) == {}
    assert line_factors({"module": {"shown_multi": 20, "accepted_multi": 1}}) == {"module": 0.25}
    assert line_factors({"module": {"shown_multi": 20, "accepted_multi": 4}}) == {"module": 0.5}
    assert line_factors({"module": {"shown_multi": 20, "accepted_multi": 10}}) == {}


def test_counters_persist_across_restarts(tmp_path):
    t = Telemetry(str(tmp_path / "t"))
    for i in range(3):
        t.shown(Shown(f"id{i}", "file:///a.py", 1, "x = 1\ny = 2", "after_block_opener", True))
    assert t.accepted("id1", 4) is not None
    assert t.accepted("id1") is None, "accepting twice counts once"
    assert t.accepted("unknown") is None
    t.close()
    t2 = Telemetry(str(tmp_path / "t"))
    stats = t2.stats()
    row = stats["classes"]["after_block_opener"]
    assert (row["shown"], row["accepted"], row["accepted_chars"], row["shown_multi"]) == (3, 1, 4, 3)
    assert row["accept_rate"] == pytest.approx(1 / 3, abs=1e-3)
    t2.close()


def test_disabled_and_unwritable_storage(tmp_path):
    off = Telemetry(str(tmp_path / "off"), enabled=False)
    off.shown(Shown("a", "u", 0, "x", "module", False))
    assert off.stats()["classes"] == {} and not (tmp_path / "off").exists()
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        bad = Telemetry(str(blocker / "sub"))
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        bad = Telemetry(str(ro / "sub"))
    assert "local telemetry disabled" in bad.error
    bad.shown(Shown("a", "u", 0, "x", "module", False))  # no exception: completions go on
    assert bad.stats()["enabled"] is False


def test_stats_command_prints_the_table(tmp_path):
    import subprocess
    import sys

    t = Telemetry(str(tmp_path / "telemetry"))
    t.shown(Shown("a", "u", 0, "x = 1", "mid_line", False))
    t.accepted("a")
    t.close()
    out = subprocess.run(
        [sys.executable, "-m", "slipstream.cli.main", "stats", "--storage", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "mid_line" in out.stdout and "100%" in out.stdout


def test_line_factors_are_read_at_most_every_few_seconds(tmp_path):
    t = Telemetry(str(tmp_path / "t"))
    assert t.factors() == {}
    for i in range(12):
        t.shown(Shown(f"s{i}", "u", 0, "a\nb", "module", True))
    assert t.factors() == {}, "cached: the store is not read again within max_age_s"
    assert t.factors(max_age_s=0) == {"module": 0.25}


def stored(directory, key: str) -> int:
    """What the store itself holds, read by another connection (as a second window's server would)."""
    import diskcache

    with diskcache.Cache(str(directory)) as store:
        return int(store.get(key, 0))


def test_counting_does_not_write_the_store_on_the_callers_thread(tmp_path):
    """The event loop that answers keystrokes only adds in memory; the store gets it on close at the latest."""
    t = Telemetry(str(tmp_path / "t"), flush_s=3600)
    for i in range(3):
        t.shown(Shown(f"id{i}", "u", 0, "x", "mid_line", False))
    t.accepted("id0")
    assert stored(tmp_path / "t", "mid_line:shown") == 0  # not written yet
    assert t.counts()["mid_line"]["shown"] == 3 and t.counts()["mid_line"]["accepted"] == 1  # but counted
    t.close()
    assert stored(tmp_path / "t", "mid_line:shown") == 3 and stored(tmp_path / "t", "mid_line:accepted") == 1


def test_the_writer_thread_writes_and_refreshes_the_line_factors(tmp_path):
    t = Telemetry(str(tmp_path / "t"), flush_s=0.05)
    try:
        assert t.factors() == {}  # computed now, kept for 5 s
        for i in range(12):
            t.shown(Shown(f"s{i}", "u", 0, "a\nb", "module", True))
        for _ in range(200):
            if stored(tmp_path / "t", "module:shown_multi") == 12 and t.factors() == {"module": 0.25}:
                break
            time.sleep(0.02)
        assert stored(tmp_path / "t", "module:shown_multi") == 12  # written without a close
        assert t.factors() == {"module": 0.25}  # refreshed by the writer, not after 5 s by a request
    finally:
        t.close()


def test_counts_of_other_writers_are_seen(tmp_path):
    """Two windows' servers share the store: each sees what the other wrote, besides its own unwritten counts."""
    a = Telemetry(str(tmp_path / "t"), flush_s=3600)
    b = Telemetry(str(tmp_path / "t"), flush_s=3600)
    try:
        a.shown(Shown("a", "u", 0, "x", "mid_line", False))
        a.close()
        b.shown(Shown("b", "u", 0, "x", "mid_line", False))
        assert b.counts()["mid_line"]["shown"] == 2
    finally:
        b.close()
    assert stored(tmp_path / "t", "mid_line:shown") == 2


def test_the_server_writes_its_counts_when_it_shuts_down(tmp_path):
    """Over stdio with the real model: a suggestion shown right before shutdown is in the store after it."""
    from tests.rawlsp import RawServer

    server = RawServer()
    try:
        server.initialize({"storagePath": str(tmp_path), "speculate": False})
        assert server.wait_ready()["state"] == "ready"
        uri = "file:///work/t/a.py"
        text = "def total(items):\n    result = 0\n    for item in items:\n        result += "
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
        )
        at = {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 18}, "context": {"triggerKind": 1}}
        items = server.request("textDocument/inlineCompletion", at, timeout=60)["result"]["items"]
        assert items, "the model suggested nothing"
    finally:
        assert server.close() == 0  # right after the answer: long before the writer's next write
    import diskcache

    with diskcache.Cache(str(tmp_path / "telemetry")) as store:
        shown = sum(int(store.get(k, 0)) for k in store.iterkeys() if str(k).endswith(":shown"))
    assert shown == len(items), shown
