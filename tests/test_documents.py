"""Positions follow LSP: UTF-16 code units and \\n, \\r\\n, \\r line breaks only."""

from __future__ import annotations

import random

import pytest
from slipstream.server.documents import Document, DocumentError, index_to_units, line_starts, units_to_index


@pytest.mark.parametrize(
    ("line", "units", "index"),
    [
        ("abc", 2, 2),
        ("abc", 99, 3),
        ("é😀x", 1, 1),
        ("é😀x", 3, 2),  # after the emoji's surrogate pair
        ("é😀x", 2, 1),  # inside the pair: rounds down to before the emoji
        ("😀😀", 4, 2),
        ("", 5, 0),
    ],
)
def test_utf16_units_to_index(line, units, index):
    assert units_to_index(line, units, "utf-16") == index


def test_other_encodings():
    assert units_to_index("é😀x", 6, "utf-8") == 2
    assert units_to_index("é😀x", 2, "utf-32") == 2
    assert index_to_units("é😀x", 2, "utf-16") == 3
    assert index_to_units("é😀x", 2, "utf-8") == 6


def test_offsets_and_incremental_changes_with_mixed_line_endings():
    doc = Document("u", 1, "a😀b\r\nsecond\rthird\nx\x0cy\n")
    assert doc.offset_at(0, 3) == 2  # after the emoji
    assert doc.offset_at(1, 0) == len("a😀b\r\n")
    assert doc.offset_at(2, 0) == len("a😀b\r\nsecond\r")
    assert doc.offset_at(3, 2) == doc.text.index("y"), "a form feed does not end a line in LSP"
    assert doc.offset_at(0, 100) == 3, "past the end of a line clamps before its line break"
    assert doc.offset_at(99, 0) == len(doc.text)
    doc.apply_change("!", (0, 3), (0, 3))
    assert doc.text.startswith("a😀!b\r\n")
    doc.apply_change("2nd", (1, 0), (1, 6))
    assert doc.text == "a😀!b\r\n2nd\rthird\nx\x0cy\n"
    doc.apply_change("", (0, 0), (3, 0))
    assert doc.text == "x\x0cy\n"
    assert doc.position_at(2) == (0, 2)


def test_bad_changes_are_errors_not_crashes():
    doc = Document("u", 1, "abc\n")
    with pytest.raises(DocumentError):
        doc.offset_at(-1, 0)
    with pytest.raises(DocumentError):
        doc.apply_change("x", (0, 3), (0, 1))
    assert doc.text == "abc\n"


def test_line_starts_after_random_edits_equal_a_full_recount():
    """Incremental changes update the line starts around the change only (server/documents.py
    ``_updated_starts``); after every one they must be what counting the whole text gives, with \\r, \\n and
    \\r\\n made, split and joined by the edits (a \\r before an inserted \\n is one line end)."""
    rng = random.Random(3)
    pieces = ["a", "b", "\n", "\r", "\r\n", "xy", "", "\n\n", "é", "🙂"]
    for _ in range(2000):
        doc = Document("u", 1, "".join(rng.choice(pieces) for _ in range(rng.randrange(30))), "utf-32")
        for _ in range(rng.randrange(1, 6)):
            n = len(doc.text)
            a = rng.randrange(n + 1)
            b = rng.randrange(a, n + 1)
            (la, ca), (lb, cb) = doc.position_at(a), doc.position_at(b)
            doc.apply_change("".join(rng.choice(pieces) for _ in range(rng.randrange(4))), (la, ca), (lb, cb))
            assert doc._line_starts() == line_starts(doc.text), repr(doc.text)
    # The joins that matter, by hand: a \r line end meets an inserted \n, and a \r\n is cut in two.
    doc = Document("u", 1, "ab\r\ncd\r")
    doc.apply_change("\n", (2, 0), (2, 0))
    assert doc.text == "ab\r\ncd\r\n" and doc._line_starts() == line_starts(doc.text) == [0, 4, 8]
    doc.apply_change("", (0, 2), (1, 0))
    assert doc.text == "abcd\r\n" and doc._line_starts() == line_starts(doc.text) == [0, 6]
