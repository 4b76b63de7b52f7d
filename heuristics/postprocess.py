"""Clean what the model wrote against what is already in the document.

``clean`` is safe on every streamed prefix (``final=False``); ``breaks_syntax`` runs once on the
final text, since a half-written suggestion is always incomplete code.
"""

from __future__ import annotations

import ast

from slipstream.heuristics.context import CursorContext, leading_ws
from slipstream.heuristics.scan import CLOSERS


def unmatched_brackets(s: str) -> int:
    """Brackets without a partner, skipping strings and comments; a rough balance measure."""
    pairs = CLOSERS
    stack: list[str] = []
    bad = 0
    quote = ""
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#":
            break
        elif c in "([{":
            stack.append(c)
        elif c in pairs:
            if stack and stack[-1] == pairs[c]:
                stack.pop()
            else:
                bad += 1
        i += 1
    return bad + len(stack)


def trim_line_suffix_overlap(first_line: str, line_prefix: str, line_suffix: str) -> str:
    """Drop the end of the completion's first line that the text after the cursor already holds.

    In ``print(|)`` (the editor auto-closed the paren) a model that writes ``x)`` must insert only
    ``x``, but ``foo()`` must stay whole: among the tails of the completion that equal a head of the
    line's suffix, the cut that leaves the fewest unmatched brackets in the line wins (longest on ties).
    """
    tail = line_suffix.rstrip()
    stripped = first_line.rstrip()
    if not tail or not stripped:
        return first_line
    best, best_score = first_line, unmatched_brackets(line_prefix + first_line + line_suffix)
    for k in range(min(len(stripped), len(tail)), 0, -1):
        if stripped.endswith(tail[:k]):
            kept = stripped[: len(stripped) - k]
            score = unmatched_brackets(line_prefix + kept + line_suffix)
            if score < best_score or (score == best_score and len(kept) < len(best)):
                best, best_score = kept, score
    return best


def trim_excess_closers(line: str, line_prefix: str, line_suffix: str) -> str:
    """Drop trailing closing brackets that close nothing the line (with its suffix) opened."""
    while line.rstrip() and line.rstrip()[-1] in CLOSERS:
        before = unmatched_brackets(line_prefix + line + line_suffix)
        shorter = line.rstrip()[:-1]
        if unmatched_brackets(line_prefix + shorter + line_suffix) < before:
            line = shorter
        else:
            break
    return line


def trim_repeated_next_lines(lines: list[str], next_lines: tuple[str, ...]) -> list[str]:
    """Drop completion lines from where they start repeating the document's next lines."""
    nxt = [n.strip() for n in next_lines if n.strip()]
    if not nxt:
        return lines
    for i in range(1, len(lines)):
        if lines[i].strip() and lines[i].strip() == nxt[0]:
            return lines[:i]
    return lines


def cut_repetition(lines: list[str], max_block: int = 4) -> list[str]:
    """Cut a loop: a block of 1-4 non-blank lines that repeats right after itself."""
    for i in range(1, len(lines)):
        for k in range(1, max_block + 1):
            if i - k < 0 or i + k > len(lines):
                continue
            a = [x.strip() for x in lines[i - k : i]]
            b = [x.strip() for x in lines[i : i + k]]
            if a == b and any(a) and (k > 1 or len(a[0]) > 3):
                return lines[:i]
    return lines


def normalise_indentation(lines: list[str], indent: str) -> list[str]:
    """Follow the file's indentation character: tabs where the block uses tabs, spaces otherwise."""
    if indent.startswith("\t"):
        return [ln.replace("    ", "\t") if not ln.lstrip().startswith("#") else ln for ln in lines]
    if indent.startswith(" "):
        return [leading_ws(ln).expandtabs(4) + ln.lstrip(" \t") for ln in lines]
    return lines


def copies_a_neighbour(text: str, ctx: CursorContext) -> bool:
    """A single-line suggestion that turns the line into a copy of the line above or below."""
    if "\n" in text:
        return False
    full = (ctx.line_prefix + text + ctx.line_suffix).strip()
    if len(full) < 4:
        return False
    below = next((n for n in ctx.next_lines if n.strip()), "")
    return full in (ctx.previous_line.strip(), below.strip())


def clean(text: str, ctx: CursorContext, final: bool = True) -> str:
    """Post-process a completion; with ``final=False`` it is safe on every streamed prefix."""
    if not text:
        return ""
    lines = text.split("\n")
    if ctx.line_suffix.strip():
        # Text after the cursor on this line would be pushed behind a multi-line insertion.
        lines = [trim_line_suffix_overlap(lines[0], ctx.line_prefix, ctx.line_suffix)]
    if len(lines) == 1 and (final or ctx.line_suffix.strip()):
        lines[0] = trim_excess_closers(lines[0], ctx.line_prefix, ctx.line_suffix)
    lines = trim_repeated_next_lines(lines, ctx.next_lines)
    lines = cut_repetition(lines)
    if len(lines) > 1:
        lines = lines[:1] + normalise_indentation(lines[1:], ctx.indent)
    lines = [ln.rstrip() for ln in lines[:-1]] + [lines[-1]]
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    out = "\n".join(lines)
    if final:
        out = out.rstrip()
    if not out.strip():
        return ""
    if final and copies_a_neighbour(out, ctx):
        return ""
    return out


def _enclosing_span(lines: list[str], row: int) -> tuple[int, int]:
    """Lines [start, end) of the top-level statement around ``row``: compiled alone, it is cheap."""
    start = row
    while start > 0 and not _boundary(lines[start][:1]):
        start -= 1
    while start > 0 and lines[start - 1][:1] == "@":
        start -= 1
    end = row + 1
    while end < len(lines) and not _boundary(lines[end][:1]):
        end += 1
    return start, end


def _error_line(source: str) -> int | None:
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return exc.lineno or 0
    except (ValueError, MemoryError, RecursionError):
        return 0
    return None


def _boundary(line_start: str) -> bool:
    """A line starting with this (its first character, or "") is where ``_enclosing_span`` stops."""
    return line_start.isalpha() or line_start in "@_"


def _local(prefix: str, suffix: str) -> tuple[str, str]:
    """The part of the document ``_enclosing_span`` can reach from the cursor line, whatever is inserted at the
    cursor: from the nearest boundary line above the cursor line (and the decorators above it) to the nearest
    one after it, both included. Splitting the whole 113 KB document three times cost breaks_syntax 0.35 ms per
    answer (0.02 ms in a 1 KB file), on the event loop; the part is a few lines."""
    top = 0
    end = prefix.rfind("\n")  # the line break that ends the line above the cursor line
    while end >= 0:
        start = prefix.rfind("\n", 0, end) + 1
        if _boundary(prefix[start : start + 1]):
            while start > 0:
                above = prefix.rfind("\n", 0, start - 1) + 1
                if prefix[above : above + 1] != "@":
                    break
                start = above
            top = start
            break
        end = start - 1
    bottom = len(suffix)
    start = suffix.find("\n") + 1  # the line after the cursor line
    while start > 0:
        nl = suffix.find("\n", start)
        if _boundary(suffix[start : start + 1]):
            bottom = len(suffix) if nl < 0 else nl
            break
        start = nl + 1
    return prefix[top:], suffix[:bottom]


def breaks_syntax(prefix: str, text: str, suffix: str) -> bool:
    """Does inserting ``text`` add a syntax error to the enclosing top-level block?

    Tolerant when the original is already broken (the line being typed usually is): then the
    suggestion is refused only if it moves the first error earlier.
    """
    if not text.strip():
        return False
    prefix, suffix = _local(prefix, suffix)
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
        # An empty block being filled is broken only for want of a body: hold the suggestion to the
        # standard of the block with a placeholder statement.
        placeholder = (prefix + "pass" + suffix).split("\n")
        if _error_line("\n".join(placeholder[s0:e0])) is None:
            err_before = None
    err_after = _error_line(changed)
    if err_after is None:
        return False
    if err_before is None:
        return True
    return err_after + s1 < err_before + s0
