"""Clean what the model wrote against what is already in the document."""

from __future__ import annotations

from heuristics.context import CursorContext


def unmatched_brackets(s: str) -> int:
    """Brackets without a partner, skipping simple string literals; a rough balance measure."""
    pairs = {")": "(", "]": "[", "}": "{"}
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

    In ``print(|)`` a model that writes ``x)`` must insert only ``x``, but ``foo()`` must stay whole:
    among the tails of the completion that equal a head of the line's suffix, the cut that leaves
    the fewest unmatched brackets in the resulting line wins (the longest on ties).
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


def trim_repeated_next_lines(lines: list[str], next_lines: tuple[str, ...]) -> list[str]:
    """Drop completion lines that repeat the document's next lines (the model re-wrote the suffix)."""
    nxt = [n.strip() for n in next_lines if n.strip()]
    if not nxt:
        return lines
    for i in range(1, len(lines)):
        if lines[i].strip() and lines[i].strip() == nxt[0]:
            return lines[:i]
    return lines


def clean(text: str, ctx: CursorContext, final: bool = True) -> str:
    """Post-process a completion; with ``final=False`` it is safe on every streamed prefix."""
    if not text:
        return ""
    lines = text.split("\n")
    if ctx.line_suffix.strip():
        if len(lines) == 1:
            lines[0] = trim_line_suffix_overlap(lines[0], ctx.line_prefix, ctx.line_suffix)
        else:
            # Text after the cursor on this line would be pushed behind a multi-line insertion.
            lines = [trim_line_suffix_overlap(lines[0], ctx.line_prefix, ctx.line_suffix)]
    lines = trim_repeated_next_lines(lines, ctx.next_lines)
    lines = [ln.rstrip() for ln in lines[:-1]] + [lines[-1]]
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    out = "\n".join(lines)
    if final:
        out = out.rstrip()
    if not out.strip():
        return ""
    return out
