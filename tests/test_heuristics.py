"""Table-driven tests of cursor context, the length policy and post-processing."""

from __future__ import annotations

import pytest

from heuristics.context import analyze
from heuristics.policy import Limits, indentation_floor, plan
from heuristics.postprocess import clean, trim_line_suffix_overlap, unmatched_brackets


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
