"""A keystroke's work does not grow with the file: what is kept or cut gives the answers of the whole-file way.

Each shortcut here is checked against the plain computation it replaces, on cursor positions across stdlib
files and on random texts: the lexical scan resumed at a line break, ``analyze`` with the previous keystroke's
analysis of the lines above (and without it when those lines changed), ``breaks_syntax`` on the lines it can
reach, and the prompt window computed from the prefix's last lines.
"""

from __future__ import annotations

import ast
import random
import sysconfig
from pathlib import Path

import pytest
from slipstream.heuristics.context import analyze
from slipstream.heuristics.postprocess import _enclosing_span, _error_line, _local, breaks_syntax
from slipstream.heuristics.scan import scan
from slipstream.inference.prompt import PromptBudget, tail_lines, window, window_start


def stdlib_sources(n: int = 25) -> list[str]:
    paths = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    return [p.read_text(errors="replace") for p in paths[:n]]


def cursors(rng: random.Random, per_file: int = 12) -> list[tuple[str, int]]:
    out = []
    for source in stdlib_sources():
        for _ in range(per_file):
            out.append((source, rng.randrange(len(source) + 1)))
    return out


def test_scan_resumed_after_a_line_break_equals_one_scan():
    rng = random.Random(2)
    texts = [src[a : a + rng.randrange(4000)] for src, a in cursors(rng)]
    texts += ["".join(rng.choice("ab #'\"\\\n()[]{}rbf_ ") for _ in range(rng.randrange(60))) for _ in range(3000)]
    checked = 0
    for text in texts:
        breaks = [i + 1 for i, c in enumerate(text) if c == "\n"]
        for cut in rng.sample(breaks, min(3, len(breaks))):
            head, tail = text[:cut], text[cut:]
            assert scan(tail, scan(head), len(head)) == scan(text), (head, tail)
            checked += 1
    assert checked > 3000


def typed_on_one_line(source: str, offset: int, n: int = 8) -> list[tuple[str, str]]:
    """(prefix, suffix) as the cursor line's text after ``offset`` is typed again key by key."""
    line_end = source.find("\n", offset)
    line_end = len(source) if line_end < 0 else line_end
    typed = source[offset:line_end][:n]
    base, suffix = source[:offset], source[line_end:]
    return [(base + typed[:i], suffix) for i in range(len(typed) + 1)]


def test_analyze_with_the_kept_lines_above_equals_a_fresh_analysis():
    rng = random.Random(3)
    kept_used = 0
    for source, offset in cursors(rng):
        kept = None
        for prefix, suffix in typed_on_one_line(source, offset):
            fresh = analyze(prefix, suffix)
            fast = analyze(prefix, suffix, kept=kept)
            assert fast == fresh, (prefix[-200:], suffix[:80])
            assert fast.above is not None and fast.above.text == prefix[: prefix.rfind("\n") + 1]
            kept_used += kept is not None and fast.above is kept
            kept = fast.above
    assert kept_used > 500  # the kept analysis was used, not silently recomputed


@pytest.mark.parametrize(
    "old_prefix, new_prefix, fits",
    [
        ("class A:\n    def f(self):\n        x = ", "class A:\n    def f(self):\n        x = 1", True),
        ("class A:\n    def f(self):\n        x = ", "class A:\n    def g(self):\n        x = ", False),  # edited above
        ("class A:\n    def f(self):\n        x = ", "class A:\n    def f(self):\n        x = 1\n", False),  # Enter
        ("class A:\n    def f(self):\n        x = ", "class A:\n    def f(self):\n", True),  # an empty line
        ("class A:\n    def f(self):\n        x = ", "class A:\n    def f(self):", False),  # back on the line above
        ("x = '''\n", "y = '''\n", False),  # same length, other text: a string opened on another line
    ],
)
def test_a_kept_analysis_is_used_only_while_the_lines_above_are_the_same(old_prefix, new_prefix, fits):
    kept = analyze(old_prefix, "\n").above
    assert kept is not None
    assert kept.fits(new_prefix, new_prefix.rfind("\n") + 1) is fits
    got = analyze(new_prefix, "\n", kept=kept)
    assert got == analyze(new_prefix, "\n")
    assert (got.above is kept) is fits


def test_a_stale_analysis_of_an_open_string_is_not_used():
    """The lines above changed from closing a string to opening one: the context must follow the new text."""
    kept = analyze("x = 1\n", "").above
    ctx = analyze('x = """\n', "", kept=kept)
    assert ctx.in_string and ctx.kind == "string"


def breaks_syntax_whole(prefix: str, text: str, suffix: str) -> bool:
    """breaks_syntax as it was, splitting the whole document (the reference for the local part)."""
    if not text.strip():
        return False
    row = prefix.count("\n")
    before_lines = (prefix + suffix).split("\n")
    s0, e0 = _enclosing_span(before_lines, row)
    original = "\n".join(before_lines[s0:e0])
    after_lines = (prefix + text + suffix).split("\n")
    s1, e1 = _enclosing_span(after_lines, row)
    e1 = max(e1, e0 + text.count("\n"))
    changed = "\n".join(after_lines[s1 : min(e1, len(after_lines))])
    err_before = _error_line(original)
    line_prefix = prefix[prefix.rfind("\n") + 1 :]
    if err_before is not None and not line_prefix.strip():
        placeholder = (prefix + "pass" + suffix).split("\n")
        if _error_line("\n".join(placeholder[s0:e0])) is None:
            err_before = None
    err_after = _error_line(changed)
    if err_after is None:
        return False
    if err_before is None:
        return True
    return err_after + s1 < err_before + s0


INSERTS = [
    "x)",
    "foo(a, b)",
    "1\n",
    "return x\n    y = (",
    "\n\ndef g():\n    pass",
    "pass\n\n@dec\nclass B:",
    "]",
    "if x:\n        return 1\n    else:",
    "'''",
    "\n",
    "a\nb\nc\n",
    "@property\n",
]


def test_breaks_syntax_on_the_reachable_lines_equals_the_whole_document():
    rng = random.Random(4)
    docs = [(src, a) for src, a in cursors(rng, per_file=8)]
    decorated = "import x\n\n\n@a\n@b(1)\ndef f(\n    y,\n):\n    z = 1\n\n    return y\n\n\nclass C:\n    pass\n"
    docs += [(decorated, i) for i in range(len(decorated) + 1)]
    docs += [(d, i) for d in ("def f():\r\n    x = 1\r\n\r\n", "@d\n", "x") for i in range(len(d) + 1)]
    outcomes = set()
    for source, offset in docs:
        prefix, suffix = source[:offset], source[offset:]
        for text in rng.sample(INSERTS, 4):
            got = breaks_syntax(prefix, text, suffix)
            assert got == breaks_syntax_whole(prefix, text, suffix), (prefix[-120:], text, suffix[:120])
            outcomes.add(got)
    assert outcomes == {True, False}


def test_the_reachable_lines_are_a_few_lines_of_a_large_file():
    source = stdlib_sources(60)[-1]
    big = (source + "\n") * (200_000 // len(source) + 1)
    offset = len(big) // 2
    head, tail = _local(big[:offset], big[offset:])
    assert big[:offset].endswith(head) and big[offset:].startswith(tail)
    assert len(head) + len(tail) < 20_000 < len(big) // 10


def tokens(text: str) -> list[int]:
    return [ord(c) for c in text]


def window_whole(lines_before: str, budget: PromptBudget, hint: int | None) -> tuple[int, str]:
    """The window computed from every line of the prefix, lines ending at \\n (the reference)."""
    parts = lines_before.split("\n")
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    start = window_start(lines, tokens, budget, hint)
    return start, "".join(lines[start:])


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r", "\x0c\n", "\u2028"])
def test_the_window_from_the_prefix_tail_equals_the_window_from_every_line(line_end):
    """With or without the count of line breaks (a keystroke has ``Above.newlines``, a caller without a cursor
    context has not), the same start and text as from every line; for \\n and \\r\\n files that is also what
    ``str.splitlines`` gave before."""
    rng = random.Random(5)
    budgets = [PromptBudget(), PromptBudget(max_prefix_lines=20, max_prefix_tokens=300, anchor_lines=4, slack_lines=6)]
    for source in stdlib_sources(8):
        lines = source.replace("\r", "").split("\n")
        for _ in range(30):
            n = rng.randrange(len(lines))
            lines_before = "".join(ln + (line_end if rng.random() < 0.3 else "\n") for ln in lines[:n])
            for budget in budgets:
                for hint in (None, max(0, n - rng.randrange(200)), n + 3):
                    expected = window_whole(lines_before, budget, hint)
                    assert window(lines_before, tokens, budget, hint) == expected
                    assert window(lines_before, tokens, budget, hint, newlines=lines_before.count("\n")) == expected
                    if line_end in ("\n", "\r\n"):
                        every = lines_before.splitlines(keepends=True)
                        start = window_start(every, tokens, budget, hint)
                        assert expected == (start, "".join(every[start:]))


def test_tail_lines_counts_the_lines_before_the_tail():
    text = "".join(f"v{i} = {i}\n" for i in range(500))
    first, lines = tail_lines(text, 144)
    assert first == 356 and len(lines) == 144 and "".join(lines) == text[text.index("v356") :]
    assert tail_lines(text, 144, newlines=500) == (first, lines)
    assert tail_lines("a\nb\n", 10) == (0, ["a\n", "b\n"])
    assert tail_lines("a\r\nb\x0cc\rd\n", 1) == (1, ["b\x0cc\rd\n"])
    assert tail_lines("a\r\nb\x0cc\rd\n", 5) == (0, ["a\r\n", "b\x0cc\rd\n"])
    assert tail_lines("", 10) == (0, [])


def test_the_keystroke_and_the_warm_up_number_the_window_alike():
    """A warm-up prepares without a kept analysis; keystrokes with one: the window starts they pass on as hints
    must be counted the same way, or the warmed KV cache is read one line off (a lone \\r above did that)."""
    text = "".join(f"v{i} = {i}" + ("\r" if i == 40 else "\n") for i in range(300))
    budget = PromptBudget(max_prefix_lines=20, max_prefix_tokens=300, anchor_lines=4, slack_lines=6)
    warm_start, _ = window(text, tokens, budget)
    ctx = analyze(text + "v = ", "")
    assert ctx.above is not None and ctx.above.newlines == text.count("\n")
    assert window(text, tokens, budget, None, ctx.above.newlines)[0] == warm_start
    assert window(text, tokens, budget, warm_start, ctx.above.newlines)[0] == warm_start


@pytest.mark.parametrize("odd", ["\r", "\x0c\n", "\u2028"])
def test_other_line_ends_give_a_window_of_the_prefix_within_the_budget(odd):
    budget = PromptBudget(max_prefix_lines=20, max_prefix_tokens=300, anchor_lines=4, slack_lines=6)
    lines_before = "".join(f"value_{i} = {i}{odd}" for i in range(300)) + "\n"
    start, text = window(lines_before, tokens, budget)
    assert lines_before.endswith(text) and len(text) <= 300 and start >= 0
    assert text == "" or ast.parse(text.replace("\r", "\n").replace("\x0c", "").replace("\u2028", "\n"))
