"""Table-driven tests of cursor context, the length policy and post-processing."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pytest
from slipstream.heuristics.cadence import Cadence, cadence_from, speculation_wait_ms
from slipstream.heuristics.context import analyze
from slipstream.heuristics.policy import Limits, indentation_floor, plan
from slipstream.heuristics.postprocess import breaks_syntax, clean, trim_line_suffix_overlap, unmatched_brackets
from slipstream.heuristics.scan import scan


def ctx_at(doc: str):
    """``doc`` with a ``|`` marking the cursor."""
    i = doc.index("|")
    return analyze(doc[:i], doc[i + 1 :])


@pytest.mark.parametrize(
    ("doc", "mid_line", "opener", "indent"),
    [
        ("x = fo|o()\n", True, False, ""),
        ("def f(x):\n    |\n", False, True, "    "),
        ("def f(x):\n|\n", False, True, "    "),
        ("class A:\n    def f(self):\n        return 1\n    |", False, False, "    "),
        ("if x:\n\ty = 1\n\t|", False, False, "\t"),
    ],
)
def test_context(doc, mid_line, opener, indent):
    ctx = ctx_at(doc)
    assert ctx.mid_line is mid_line
    assert ctx.after_block_opener is opener
    assert ctx.indent == indent


def test_plan_mid_line_finishes_the_line():
    p = plan(ctx_at("total = sum(|)\n"), Limits())
    assert p.mode == "acceleration" and p.single_line and p.max_lines == 1


def test_plan_after_def_is_a_bounded_block():
    p = plan(ctx_at("def area(r):\n    |\n"), Limits(max_lines=5))
    assert p.mode == "exploration" and not p.single_line and p.max_lines == 5


@pytest.mark.parametrize(
    ("doc", "generated", "cut_text"),
    [
        # Inside an if body: the else (a dedent) is never written.
        ("def f(x):\n    if x:\n        |", "return 1\n    else:\n        return 2", "return 1"),
        # A body after def: stop when the model starts the next top-level statement.
        ("def f(x):\n    |", "y = x * 2\n    return y\n\nprint(f(2))", "y = x * 2\n    return y\n"),
        # Lines at or deeper than the block's indentation are kept.
        ("for i in r:\n    |", "if i:\n        go(i)\n    stop()", None),
    ],
)
def test_indentation_floor(doc, generated, cut_text):
    cut = indentation_floor(ctx_at(doc))(generated)
    if cut_text is None:
        assert cut is None
    else:
        assert generated[:cut] == cut_text


@pytest.mark.parametrize(
    ("first", "prefix", "suffix", "expected"),
    [
        ("x)", "print(", ")", "x"),
        ("foo()", "print(", ")", "foo()"),
        ("foo())", "print(", ")", "foo()"),
        ("a, b):", "def f(", "):", "a, b"),
        ("1, 2]", "xs = [", "]", "1, 2"),
        ("value", "x = ", "", "value"),
        ("'a')", "d.get(", ")", "'a'"),
        ('")"', "s = (", ")", '")"'),
    ],
)
def test_trim_line_suffix_overlap(first, prefix, suffix, expected):
    assert trim_line_suffix_overlap(first, prefix, suffix) == expected


def test_unmatched_brackets_ignores_strings_and_comments():
    assert unmatched_brackets("f(a, '(')") == 0
    assert unmatched_brackets("f(a  # )") == 1
    assert unmatched_brackets("))") == 2


@pytest.mark.parametrize(
    ("doc", "raw", "expected"),
    [
        ("print(|)\n", "x)", "x"),
        ("x = |\ny = 2\n", "1   ", "1"),
        ("def f():\n    |\n    return 3\n", "a = 1\n    return 3", "a = 1"),  # repeats the next line
        ("x = |\n", "   \n  ", ""),
        ("def f():\n    |\n", "a = 1\n\n\n", "a = 1"),
        ("call(|)\n", "a,\n b)", "a,"),  # multi-line text cannot go before ")" on the same line
    ],
)
def test_clean(doc, raw, expected):
    assert clean(raw, ctx_at(doc)) == expected


@pytest.mark.parametrize(
    ("doc", "raw", "expected"),
    [
        # Repetition loops are cut at the first repeat.
        ("def f():\n    |\n", "x += 1\n    x += 1\n    x += 1", "x += 1"),
        ("def f():\n    |\n", "a = 1\n    b = 2\n    a = 1\n    b = 2\n    a = 1", "a = 1\n    b = 2"),
        # Extra closers that close nothing are dropped.
        ("x = foo(a, |\n", "b))", "b)"),
        ("x = [1, |\n", "2]]", "2]"),
        # A suggestion that makes the line a copy of its neighbour is dropped.
        ("    total = 0\n    total = |\n", "0", ""),
        ("    a = |\n    a = 1\n", "1", ""),
        # Tabs in a tab-indented block.
        ("if x:\n\t|\n", "a = 1\n    b = 2", "a = 1\n\tb = 2"),
        # Spaces in a space-indented block.
        ("if x:\n    |\n", "a = 1\n\tb = 2", "a = 1\n    b = 2"),
    ],
)
def test_clean_more(doc, raw, expected):
    assert clean(raw, ctx_at(doc)) == expected


@pytest.mark.parametrize(
    ("doc", "text", "breaks"),
    [
        ("def f(x):\n    return |\n", "x + 1", False),
        ("def f(x):\n    return |\n", "x +", True),  # a bare return is valid: the suggestion breaks it
        ("def f(x):\n    return x * |\n", "(y +", False),  # already broken there: not made worse
        ("def f(x):\n    |\n", "return x", False),  # an empty body being filled
        ("def f(x):\n    y = 1\n    |\n", "return (", True),  # a valid block gains an error
        ("def f(x):\n    y = 1\n    |\n\ndef g():\n    pass\n", "return x", False),
        ("x = [1, |]\n", "2, 3", False),
        ("x = [1, |]\n", "2))", True),
        ("class A:\n    def f(self):\n        |\n", "return self\n    def g(self):\n        pass", False),
        ("def f(:\n    pass\nx = |\n", "1", False),  # broken elsewhere: tolerated
        ("if x:\n    |\n", "else:", True),
    ],
)
def test_breaks_syntax(doc, text, breaks):
    i = doc.index("|")
    assert breaks_syntax(doc[:i], text, doc[i + 1 :]) is breaks


def test_cadence():
    assert cadence_from([], 10.0).interval_ms is None
    c = cadence_from([1.0, 1.1, 1.2, 1.3], 1.4)
    assert c.fast and not c.paused and round(c.interval_ms) == 100
    c = cadence_from([1.0, 1.1, 1.2], 3.0)
    assert c.paused and not c.fast


@pytest.mark.parametrize(
    ("interval", "idle", "wait"),
    [
        (100.0, 0.0, 150.0),  # a 100 ms typist: speculate 150 ms after the answer, if no key came
        (100.0, 900.0, 150.0),  # the same after a slow answer: waiting for it is not a pause
        (20.0, 0.0, 60.0),  # very fast keys: never sooner than 60 ms
        (1000.0, 0.0, 400.0),  # slow keys: never later than 400 ms
        (None, 0.0, 400.0),  # no rhythm seen yet: the longest wait
    ],
)
def test_speculation_waits_for_a_pause_longer_than_the_usual_key_gap(interval, idle, wait):
    assert speculation_wait_ms(Cadence(interval, idle)) == pytest.approx(wait)


def _scan_by_character(text: str) -> tuple:
    """The reference: heuristics/scan.py's scanner as first written, one character at a time."""
    brackets: list[str] = []
    quote, start, in_comment, comment_at, i = "", -1, False, -1, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote, start = "", -1
                continue
            if c == "\n" and len(quote) == 1:
                quote, start = "", -1
            i += 1
            continue
        if in_comment:
            if c == "\n":
                in_comment, comment_at = False, -1
            i += 1
            continue
        if c == "#":
            in_comment, comment_at = True, i
        elif c in "'\"":
            triple = text[i : i + 3]
            quote = triple if triple in ("'''", '"""') else c
            start = j = i
            while j > 0 and text[j - 1] in "rRbBuUfFtT" and i - j < 2:
                j -= 1
            if j < i and (j == 0 or not (text[j - 1].isalnum() or text[j - 1] == "_")):
                start = j
            i += len(quote)
            continue
        elif c in "([{":
            brackets.append(c)
        elif c in ")]}":
            if brackets and brackets[-1] == {")": "(", "]": "[", "}": "{"}[c]:
                brackets.pop()
        i += 1
    return tuple(brackets), quote, start, in_comment, comment_at


def test_scan_jumping_between_state_characters_equals_scanning_every_character():
    """scan() jumps with regular expressions (6× faster on 20 KB of argparse.py); it must end in the state a
    character-by-character scan ends in: on slices of stdlib files and on random strings of the characters
    that matter (quotes, prefixes, backslashes, brackets, #, line breaks)."""
    rng = random.Random(1)
    texts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:40]:
        source = path.read_text(errors="replace")
        for _ in range(20):
            a = rng.randrange(len(source) + 1)
            texts.append(source[a : a + rng.randrange(3000)])
    texts += ["".join(rng.choice("ab #'\"\\\n()[]{}rbf_ ") for _ in range(rng.randrange(40))) for _ in range(5000)]
    for text in texts:
        s = scan(text)
        assert (s.brackets, s.quote, s.string_start, s.in_comment, s.comment_start) == _scan_by_character(text), text
