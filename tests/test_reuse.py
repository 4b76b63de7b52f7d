"""Typed-through reuse and the completion cache."""

from __future__ import annotations

import os

from slipstream.completion.anchors import Anchor, AnchorStore, make_anchor, typed_through
from slipstream.completion.cache import CompletionCache

DOC = "def f(items):\n    total = sum(\n\nprint(f([]))\n"


def anchor_at(doc: str, offset: int, texts: list[str], done: bool = True) -> Anchor:
    return make_anchor("u", doc, offset, texts, done)


def at(doc: str, offset: int):
    return doc, offset


def rest(anchor: Anchor, doc: str, offset: int) -> list[str] | None:
    found = typed_through(anchor, doc, offset)
    return None if found is None else found[1]


def test_typing_along_the_suggestion_returns_the_rest():
    off = DOC.index("sum(") + 4
    a = anchor_at(DOC, off, ["item.price for item in items)"])
    doc2 = DOC[:off] + "ite" + DOC[off:]
    assert rest(a, *at(doc2, off + 3)) == ["m.price for item in items)"]


def test_backspace_back_to_the_anchor_point_and_not_before():
    off = DOC.index("sum(") + 4
    a = anchor_at(DOC, off, ["item.price"])
    doc2 = DOC[:off] + "it" + DOC[off:]
    assert rest(a, *at(doc2, off + 2)) == ["em.price"]
    # Backspace twice: back at the anchor point, the whole suggestion again.
    assert rest(a, *at(DOC, off)) == ["item.price"]
    # One more backspace: before the anchor point, no reuse.
    doc3 = DOC[: off - 1] + DOC[off:]
    assert rest(a, *at(doc3, off - 1)) is None


def test_departing_from_the_suggestion_or_editing_elsewhere_is_no_reuse():
    off = DOC.index("sum(") + 4
    a = anchor_at(DOC, off, ["item.price", "items"])
    doc2 = DOC[:off] + "x" + DOC[off:]
    assert rest(a, *at(doc2, off + 1)) is None
    # Typing "items" matches only the second alternative.
    doc3 = DOC[:off] + "items" + DOC[off:]
    assert rest(a, *at(doc3, off + 5)) == []  # fully typed: nothing left of it
    doc4 = DOC[:off] + "item" + DOC[off:]
    assert rest(a, *at(doc4, off + 4)) == [".price", "s"]
    # An edit above the cursor line or below the cursor invalidates it.
    above = "# note\n" + DOC
    assert rest(a, *at(above, off + len("# note\n"))) is None
    below = DOC + "x = 1\n"
    assert rest(a, *at(below, off)) is None


def test_anchor_store_prefers_the_newest():
    store = AnchorStore(per_document=2)
    off = DOC.index("sum(") + 4
    store.add(anchor_at(DOC, off, ["old"]))
    store.add(anchor_at(DOC, off, ["new"]))
    found = store.find("u", *at(DOC, off))
    assert found is not None and found[1:] == ("", ["new"])
    store.add(anchor_at(DOC, off, ["third"]))
    assert len(store._by_uri["u"]) == 2
    store.drop("u")
    assert store.find("u", *at(DOC, off)) is None


def test_cache_memory_and_disk_layers(tmp_path):
    key = CompletionCache.key("model", [1, 2, 3], ("ctx",), "plan")
    assert key != CompletionCache.key("model", [1, 2, 4], ("ctx",), "plan")
    c = CompletionCache(str(tmp_path / "c"), memory_items=2)
    assert c.get(key) is None
    c.put(key, ["x = 1"])
    assert c.get(key) == ["x = 1"]
    c.close()
    c2 = CompletionCache(str(tmp_path / "c"))
    assert c2.get(key) == ["x = 1"], "persists across restarts"
    assert c2.get(key) == ["x = 1"]
    stats = c2.stats.as_dict()
    assert (stats["disk_hits"], stats["memory_hits"]) == (1, 1)
    # LRU bound in memory
    small = CompletionCache(None, memory_items=2)
    for i in range(3):
        small.put(str(i), [str(i)])
    assert small.get("0") is None and small.get("2") == ["2"]


def test_unwritable_cache_dir_disables_disk_only(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "f"
        blocker.write_text("x")
        path = blocker / "sub"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        path = ro / "sub"
    c = CompletionCache(str(path))
    assert "disabled" in c.stats.as_dict()["error"]
    c.put("k", ["v"])
    assert c.get("k") == ["v"]


def test_a_running_generation_survives_typing_along_it_or_ahead_of_it():
    off = DOC.index("sum(") + 4
    running = make_anchor("u", DOC, off, ["item.pr"], done=False)
    ended = make_anchor("u", DOC, off, ["item.pr"], done=True)
    blank = make_anchor("u", DOC, off, [""], done=False)  # written nothing yet: its prompt is being evaluated
    guess = make_anchor("u", DOC, off, [""], done=False)
    guess.guess = object()
    # (document after the edit, kept while running / once ended / with nothing written / a guess, why)
    for doc2, kept, why in [
        (DOC[:off] + "ite" + DOC[off:], (True, True, True, False), "typed along the text so far"),
        (DOC, (True, True, True, True), "nothing typed yet"),
        (DOC[:off] + "x" + DOC[off:], (False, False, True, False), "ahead of a generation with nothing yet"),
        (DOC[:off] + "item.price" + DOC[off:], (False, False, True, False), "past what it wrote: a fresh one"),
        ("#" + DOC[:off] + "it" + DOC[off:], (False, False, False, False), "an edit above"),
        (DOC[:off] + "it" + DOC[off:] + "#", (False, False, False, False), "an edit below"),
    ]:
        got = tuple(a.still_typed_through(doc2) for a in (running, ended, blank, guess))
        assert got == kept, why


def test_find_ahead_only_keystroke_generations_that_wrote_nothing_yet():
    off = DOC.index("sum(") + 4
    blank = make_anchor("u", DOC, off, [""], done=False)  # its prompt is still being evaluated
    started = make_anchor("u", DOC, off, ["it"], done=False)  # it writes: a fresh generation needs fewer decodes
    guess = make_anchor("u", DOC, off, [""], done=False)
    guess.guess = object()  # a speculation's anchor: its prompt is mostly evaluated already
    # (anchors newest first, typed, what find_ahead gives: index of the anchor or None)
    for anchors, typed, expect in [
        ([blank], "i", 0),
        ([blank], "", None),  # nothing typed: ``find`` follows it (typed along)
        ([anchor_at(DOC, off, [""])], "i", None),  # ended with nothing: no generation to wait for
        ([started], "ite", None),
        ([guess], "i", None),
        ([guess, started, blank], "ix", 2),
    ]:
        store = AnchorStore()
        for a in reversed(anchors):
            store.add(a)
        doc2 = DOC[:off] + typed + DOC[off:]
        found = store.find_ahead("u", doc2, off + len(typed))
        got = None if found is None else anchors.index(found[0])
        assert got == expect, (typed, expect)
        if found is not None:
            assert found[1] == typed
    # The cursor not at the end of what was typed: no
    store = AnchorStore()
    store.add(blank)
    assert store.find_ahead("u", DOC[:off] + "ab" + DOC[off:], off + 1) is None
    # A generation already stopped writes nothing more: not followed
    stopped = make_anchor("u", DOC, off, [""], done=False)
    stopped.request = type("R", (), {"cancel": __import__("threading").Event()})()
    stopped.request.cancel.set()
    store = AnchorStore()
    store.add(stopped)
    assert store.find_ahead("u", DOC[:off] + "i" + DOC[off:], off + 1) is None


def test_enter_along_a_suggestion_that_goes_on_on_the_next_line():
    doc = "def f(xs):\n    if xs:\n\nprint(f([]))\n"
    off = doc.index("if xs:") + len("if xs:")
    a = anchor_at(doc, off, ["\n        return xs[0]\n    return None"])
    # Enter gives the next line the editor's indentation, one level deeper; then the user types "re".
    for typed, left in [
        ("\n        ", "return xs[0]\n    return None"),
        ("\n        re", "turn xs[0]\n    return None"),
    ]:
        doc2 = doc[:off] + typed + doc[off:]
        assert typed_through(a, doc2, off + len(typed)) == (typed, [left])
        assert a.still_typed_through(doc2)
    # Another indentation than the suggestion's, or a line break the suggestion does not have: no reuse.
    for typed in ("\n    r", "\n        x", "\n\n"):
        doc2 = doc[:off] + typed + doc[off:]
        assert typed_through(a, doc2, off + len(typed)) is None and not a.still_typed_through(doc2)
    # Text changed above the anchor's line: no reuse, though the typed text matches.
    doc3 = "#\n" + doc[:off] + "\n        " + doc[off:]
    assert typed_through(a, doc3, off + 2 + 9) is None
