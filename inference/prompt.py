"""Prompt layout: pure functions from (prefix, suffix) to token ids.

The layout decides latency: llama.cpp reuses the longest common token prefix of consecutive
prompts, so everything stable goes first and the volatile text of the current line goes last.
For FIM models this follows llama.cpp's /infill: the lines before the cursor line go after the
FIM prefix marker, the suffix after the FIM suffix marker, and the current line's text before the
cursor after the FIM middle marker, so typing on one line only changes the prompt's tail.
The window's first line is anchored to a multiple of ``anchor_lines`` so it does not slide by one
line per keystroke, and with the previous window's start as a hint it stays put while the window
grows by up to ``slack_lines``/``slack_tokens``: a moved start means re-evaluating the whole prompt.
With a vocabulary, the prompt is token-healed (inference/healing.py): ``Prompt.tokens`` is still the whole
layout (what a remote engine or a cache key sees), ``Prompt.heal`` says how many of its last tokens the local
engine drops and which bytes its generation must start with. Only the text that ends at the cursor is ever
dropped: in prefix mode the document's text after BOS and project context, in FIM mode the cursor line
after the middle marker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slipstream.inference.fim import FimTokens
from slipstream.inference.healing import Heal, Vocabulary, plan

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class PromptBudget:
    max_prefix_lines: int = 96
    max_suffix_lines: int = 24
    max_prefix_tokens: int = 1200
    max_suffix_tokens: int = 256
    anchor_lines: int = 16
    max_line_tokens: int = 256  # the cursor line itself (minified code can make it huge)
    slack_lines: int = 48  # how far a kept window may grow past max_prefix_lines
    slack_tokens: int = 200  # ... and past max_prefix_tokens (the whole prompt still fits 2048)


# The window of llama.cpp in this process (``LoadedModel.budget``); the defaults above are a remote server's.
# Here every prompt token is paid on the user's CPU: the default model evaluates ~600 tokens a second on 2
# threads (a 1,021-token prompt in 1.65-1.75 s, whatever n_batch/n_ubatch or flash attention), and a cold window
# (a file just opened, a jump beyond the slack) is all of it. 96 lines of argparse.py are ~910 tokens, 64 are
# ~600. bench/fim_eval.py (--n 160 --healing on --variants b, same positions) measured no loss from the smaller
# window: exact match 16 -> 18 %, edit similarity 0.392 -> 0.393, overrun 17.7 -> 11.8 characters. In the
# latency replay of the 113 KB file (3 alternating rounds) the first key after opening showed ghost text at
# 46-49 ms instead of 190-388 ms (the warm-up now ends before typing starts), and at a 30 ms key gap ghost text
# rose from 86.7 to 91.9 % of keys.
LOCAL_BUDGET = PromptBudget(max_prefix_lines=64, max_prefix_tokens=800)


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    mode: str  # "fim" or "prefix"
    prefix_text: str  # the part of the document's prefix the prompt holds
    suffix_text: str  # the part of the suffix the prompt holds (empty in prefix mode)
    start_line: int = 0  # the window's first line (pass it back as the next prompt's hint)
    heal: Heal | None = None  # token healing: the last tokens the local engine drops and rewrites, if any

    def model_tokens(self) -> list[int]:
        """What the local engine evaluates: ``tokens`` without the healed tail."""
        return self.tokens[: len(self.tokens) - self.heal.n_tokens] if self.heal else self.tokens


def split_current_line(prefix: str) -> tuple[str, str]:
    """Split the prefix into complete lines before the cursor line and the cursor line's start."""
    cut = prefix.rfind("\n") + 1
    return prefix[:cut], prefix[cut:]


def tail_lines(text: str, k: int, newlines: int | None = None) -> tuple[int, list[str]]:
    """The last ``k`` lines of ``text``, with their line breaks, and how many lines come before them. Lines end
    at \\n (a \\r\\n file's end in \\r\\n; a lone \\r or a form feed is no line break here). Only the tail is
    split: splitting a 113 KB prefix whole cost 0.13 ms a keystroke (bench/latency.py's large file) for the
    window's last hundred lines. ``newlines``: how many \\n ``text`` holds, when the caller knows (the cursor
    context's ``Above`` counts them once per line: counting a 113 KB text's costs 0.07 ms)."""
    p = len(text)
    for _ in range(k):
        q = text.rfind("\n", 0, p - 1)
        if q < 0:
            p = 0
            break
        p = q + 1
    parts = text[p:].split("\n")
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if p == 0:
        return 0, lines
    return (text.count("\n", 0, p) if newlines is None else newlines - len(parts) + 1), lines


def window_start(
    lines: list[str], tokenize: Tokenize, budget: PromptBudget, hint: int | None = None, first: int = 0
) -> int:
    """The first line of the window over ``lines`` (the last complete lines before the cursor line, ``first``
    lines after the document's start; at least ``max_prefix_lines + slack_lines`` of them unless they start it)."""
    n = first + len(lines)
    if hint is not None and first <= hint <= n and n - hint <= budget.max_prefix_lines + budget.slack_lines:
        if len(tokenize("".join(lines[hint - first :]))) <= budget.max_prefix_tokens + budget.slack_tokens:
            return hint  # the previous window still fits: keep its start, keep the KV cache
    anchor = max(1, budget.anchor_lines)
    start = max(0, n - budget.max_prefix_lines)
    start = min(n, -(-start // anchor) * anchor)  # round up to the anchor grid: stable between keystrokes
    while start < n and len(tokenize("".join(lines[start - first :]))) > budget.max_prefix_tokens:
        start = min(n, start + anchor)
    return start


def window(
    lines_before: str, tokenize: Tokenize, budget: PromptBudget, hint: int | None = None, newlines: int | None = None
) -> tuple[int, str]:
    """The window over the complete lines before the cursor line (``newlines``: how many they are, if known):
    its first line and its text. It starts at an anchored line and keeps within the budget; with the previous
    window's start as ``hint`` it stays put."""
    first, lines = tail_lines(lines_before, budget.max_prefix_lines + budget.slack_lines, newlines)
    start = window_start(lines, tokenize, budget, hint, first)
    return start, "".join(lines[start - first :])


def window_prefix(lines_before: str, tokenize: Tokenize, budget: PromptBudget, hint: int | None = None) -> str:
    """Keep the last lines before the cursor line, starting at an anchored line, within the budget."""
    return window(lines_before, tokenize, budget, hint)[1]


def window_suffix(suffix: str, tokenize: Tokenize, budget: PromptBudget) -> str:
    lines = suffix.splitlines(keepends=True)[: budget.max_suffix_lines]
    while lines and len(tokenize("".join(lines))) > budget.max_suffix_tokens:
        lines.pop()
    return "".join(lines)


def clip_line(line: str, tokenize: Tokenize, max_tokens: int) -> str:
    """Keep the end of an over-long cursor line (minified code) so the prompt stays bounded."""
    while line and len(tokenize(line)) > max_tokens:
        line = line[len(line) // 4 or 1 :]
    return line


def build_prompt(
    prefix: str,
    suffix: str,
    tokenize: Tokenize,
    fim: FimTokens | None,
    bos: int | None,
    budget: PromptBudget | None = None,
    extra: str = "",
    hint: int | None = None,
    vocab: Vocabulary | None = None,
    newlines: int | None = None,
) -> Prompt:
    """Lay out the prompt for the text before (``prefix``) and after (``suffix``) the cursor.

    ``tokenize`` must not add BOS or parse special tokens: marker ids are placed here, never parsed
    from user text, so a file that contains "<|fim_prefix|>" cannot forge the layout. With ``vocab`` (the
    model's, see ``healing.Vocabulary``) the prompt's tail at the cursor is token-healed. ``newlines``: how many
    \\n the prefix holds (``Above.newlines``), which saves counting them in a long prefix.
    """
    budget = budget or PromptBudget()
    lines_before, current = split_current_line(prefix)
    current = clip_line(current, tokenize, budget.max_line_tokens)
    head = [bos] if bos is not None and bos >= 0 else []
    # Extra context (project context) comes first: it changes rarely, so it stays in the KV cache.
    context = tokenize(extra.rstrip("\n") + "\n") if extra.strip() else []
    start, before = window(lines_before, tokenize, budget, hint, newlines)
    if fim is None:
        # The lines above and the cursor line tokenized apart, as in FIM mode and llama.cpp's /infill: the lines
        # above are the same text at every keystroke on a line (LoadedModel.tokenize remembers it), so the
        # tokenizer's work no longer grows with the window. Gemma 3's tokenizer split 4,251 of 4,251 sampled
        # cursor positions of argparse.py exactly as it tokenizes the joined text (no token spans a line start).
        text = before + current
        tokens = head + context + tokenize(before) + tokenize(current)
        heal = plan(tokens, len(head) + len(context), vocab) if vocab is not None else None
        return Prompt(tokens, "prefix", text, "", start, heal)
    after = window_suffix(suffix, tokenize, budget)
    tail = tokenize(current)
    tokens = head + [fim.prefix] + tokenize(before) + [fim.suffix] + tokenize(after) + [fim.middle] + tail
    heal = plan(tokens, len(tokens) - len(tail), vocab) if vocab is not None else None
    return Prompt(tokens, "fim", before + current, after, start, heal)
