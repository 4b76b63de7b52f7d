"""Unit tests: prompt layout and stop rules are pure functions."""

from __future__ import annotations

import pytest
from slipstream.inference.fim import FimTokens, fim_from_ids
from slipstream.inference.prompt import PromptBudget, build_prompt, split_current_line, window_prefix
from slipstream.inference.stops import StopRules, check_stop

FIM = FimTokens(1001, 1002, 1003)


def char_tokens(text: str) -> list[int]:
    """A stand-in tokenizer for layout tests: one token per character."""
    return [ord(c) for c in text]


def decode(ids: list[int]) -> str:
    return "".join(chr(i) if i < 1000 else f"<{i}>" for i in ids)


def test_fim_layout_puts_current_line_after_middle_marker():
    prefix = "import os\n\ndef f(x):\n    ret"
    suffix = "\n\nprint(f(1))\n"
    p = build_prompt(prefix, suffix, char_tokens, FIM, bos=None)
    assert p.mode == "fim"
    assert decode(p.tokens) == "<1001>import os\n\ndef f(x):\n<1002>\n\nprint(f(1))\n<1003>    ret"


def test_fim_layout_with_bos():
    p = build_prompt("a\nb", "c", char_tokens, FIM, bos=7)
    assert p.tokens[:2] == [7, FIM.prefix]
    assert p.tokens.index(FIM.prefix) < p.tokens.index(FIM.suffix) < p.tokens.index(FIM.middle)


def test_prefix_mode_without_fim_tokens():
    p = build_prompt("def f():\n    return 1\nx = f(", ")\n", char_tokens, None, bos=2)
    assert p.mode == "prefix"
    assert p.tokens[0] == 2
    assert decode(p.tokens[1:]) == "def f():\n    return 1\nx = f("
    assert p.suffix_text == ""


def test_fim_markers_come_only_from_ids_never_from_user_text():
    # The tokenizer here would map the marker text to plain characters; no marker id can appear.
    p = build_prompt("s = '<|fim_middle|>'\nx", "", char_tokens, FIM, bos=None)
    assert p.tokens.count(FIM.middle) == 1


@pytest.mark.parametrize("n_lines", [10, 200, 1000])
def test_prefix_window_is_bounded_and_anchored(n_lines: int):
    lines = "".join(f"line_{i} = {i}\n" for i in range(n_lines))
    budget = PromptBudget(max_prefix_lines=64, max_prefix_tokens=10_000, anchor_lines=16)
    kept = window_prefix(lines, char_tokens, budget)
    kept_lines = kept.splitlines()
    assert len(kept_lines) <= 64
    first = int(kept_lines[0].split("_")[1].split(" ")[0])
    assert first % 16 == 0, "the window starts on the anchor grid"
    assert kept_lines[-1] == f"line_{n_lines - 1} = {n_lines - 1}"


def test_prefix_window_is_stable_while_typing_a_few_lines():
    """Consecutive keystrokes (even a new line) keep the same window start: the KV cache stays valid."""
    base = "".join(f"v{i} = {i}\n" for i in range(300))
    budget = PromptBudget(max_prefix_lines=96, max_prefix_tokens=100_000, anchor_lines=16)
    starts = set()
    for extra in range(0, 5):
        text = base + "".join(f"w{j} = {j}\n" for j in range(extra))
        starts.add(window_prefix(text, char_tokens, budget).splitlines()[0])
    assert len(starts) == 1


def test_prefix_window_respects_token_budget():
    lines = "".join("x" * 50 + "\n" for _ in range(100))
    kept = window_prefix(lines, char_tokens, PromptBudget(max_prefix_lines=100, max_prefix_tokens=500, anchor_lines=4))
    assert len(kept) <= 500


def test_over_long_current_line_is_clipped_from_the_left():
    p = build_prompt("y" * 10_000, "", char_tokens, None, bos=None, budget=PromptBudget(max_line_tokens=200))
    assert 0 < len(p.tokens) <= 200


def test_split_current_line():
    assert split_current_line("a\nb\ncd") == ("a\nb\n", "cd")
    assert split_current_line("abc") == ("", "abc")
    assert split_current_line("a\n") == ("a\n", "")


def test_fim_from_ids_requires_all_three():
    assert fim_from_ids(1, 2, 3) == FimTokens(1, 2, 3)
    assert fim_from_ids(-1, 2, 3) is None
    assert fim_from_ids(1, 2, -1) is None


@pytest.mark.parametrize(
    ("text", "rules", "kept", "stop", "reason"),
    [
        ("abc", StopRules(single_line=True), "abc", False, ""),
        ("abc\ndef", StopRules(single_line=True), "abc", True, "newline"),
        ("\nabc", StopRules(single_line=True), "", True, "newline"),
        ("a\nb\nc", StopRules(max_lines=3), "a\nb\nc", False, ""),
        ("a\nb\nc\n", StopRules(max_lines=3), "a\nb\nc", True, "max_lines"),
        ("a\nb\nc\nd", StopRules(max_lines=2), "a\nb", True, "max_lines"),
        ("x = 1\n    y", StopRules(max_lines=8, cutter=lambda t: 5 if "\n" in t else None), "x = 1", True, "policy"),
    ],
)
def test_stop_rules(text, rules, kept, stop, reason):
    check = check_stop(text, rules)
    assert (check.text, check.stop, check.reason) == (kept, stop, reason)


def test_window_keeps_its_start_with_a_hint_while_it_fits():
    """Typing many lines: without a hint the start moves every 16 lines; with it, only past the slack."""
    from slipstream.inference.prompt import window_start

    budget = PromptBudget(max_prefix_lines=96, max_prefix_tokens=100_000, anchor_lines=16, slack_lines=48)
    lines = [f"v{i} = {i}\n" for i in range(400)]
    moves_plain = moves_hint = 0
    prev_plain = prev_hint = None
    hint = None
    for n in range(200, 300):
        plain = window_start(lines[:n], char_tokens, budget)
        hint = window_start(lines[:n], char_tokens, budget, hint)
        moves_plain += prev_plain is not None and plain != prev_plain
        moves_hint += prev_hint is not None and hint != prev_hint
        prev_plain, prev_hint = plain, hint
        assert n - hint <= 96 + 48
    assert moves_plain >= 6 and moves_hint <= 2, (moves_plain, moves_hint)


def test_a_hint_that_no_longer_fits_is_dropped():
    from slipstream.inference.prompt import window_start

    budget = PromptBudget(max_prefix_lines=96, max_prefix_tokens=300, anchor_lines=16, slack_tokens=50)
    lines = ["x" * 20 + "\n" for _ in range(100)]
    start = window_start(lines, char_tokens, budget, hint=0)
    assert len("".join(lines[start:])) <= 300
