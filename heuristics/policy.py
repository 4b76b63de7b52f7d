"""How much to write: acceleration (finish the line) or exploration (a bounded block), and where to stop.

Barke et al. ("Grounded Copilot", OOPSLA 2023): use is bimodal. Accelerating programmers want the
rest of the line, short and exact; exploring ones want a longer body and alternatives. The cursor's
context, the typing cadence and the trigger decide which; the stops keep exploration inside the
cursor's block (no ``else`` in an ``if`` body, no ``except`` in a ``try`` body).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from slipstream.heuristics.cadence import Cadence
from slipstream.heuristics.context import COMPOUND, CursorContext, keyword, leading_ws, width

_TOP_LEVEL_DEF = re.compile(r"(async\s+def|def|class)\s")


@dataclass(frozen=True)
class Limits:
    max_lines: int = 8
    max_tokens_line: int = 48
    max_tokens_block: int = 128
    time_budget_s: float = 2.0


@dataclass(frozen=True)
class Plan:
    mode: str  # "acceleration" (finish the line) or "exploration" (a bounded block)
    single_line: bool
    max_lines: int
    max_tokens: int
    time_budget_s: float
    cutter: Callable[[str], int | None] | None = None
    alternatives: int = 1  # distinct suggestions to return when time allows
    context_class: str = ""


def indentation_floor(ctx: CursorContext) -> Callable[[str], int | None]:
    """Stop before the first line that leaves the cursor's block (dedents below the floor).

    Inside an ``if`` body the ``else``/``elif`` sits at the header's indentation, below the floor, so
    it is never written; the same holds for ``except``/``finally`` after a ``try`` body.
    At module level (floor 0) a second top-level ``def``/``class`` after the first one ends it.
    """
    floor = width(ctx.indent)
    module_level = floor == 0

    def cut(text: str) -> int | None:
        pos = 0
        defs = 0
        for i, line in enumerate(text.split("\n")):
            if line.strip():
                col = width(leading_ws(line)) if i > 0 else floor
                if i > 0 and col < floor:
                    return pos - 1  # drop the newline that led into the dedented line
                if module_level and col == 0 and _TOP_LEVEL_DEF.match(line):
                    defs += 1
                    if defs > 1 or (i > 0 and ctx.mid_line):
                        return pos - 1
            pos += len(line) + 1
        return None

    return cut


def header_line_break(ctx: CursorContext) -> str:
    """The line break and indentation that must follow when the cursor ends a one-line block header
    (``if dest is None:|``, nothing after it), else "". The suggestion is the body's first lines: the model is
    asked from the body's empty line, as if Enter had been pressed (the editor's Enter gives that line one
    level more), so the line break and indentation cost no decodes (they cost three tokens, ~80 ms, before
    any text showed, and as-you-type finish-the-line stopped at the line break: no ghost text at all) and
    the prompt is the one the next keystroke after Enter extends."""
    line = ctx.line_prefix
    if ctx.kind != "mid_line" or ctx.bracket_depth or ctx.line_suffix.strip() or not line.endswith(":"):
        return ""
    if keyword(line) not in COMPOUND:
        return ""
    indent = leading_ws(line)
    return "\n" + indent + ("\t" if "\t" in indent else "    ")


# A statement after which the block's flow ends: a next line at its indentation would not run, so the line
# after it is left to the model (most often a dedent, which the block's cutter drops).
_ENDS_FLOW = re.compile(r"(return|raise|break|continue|pass)\b")


def statement_line_break(ctx: CursorContext) -> str:
    """The line break and indentation before the next line when the cursor ends a complete statement
    (``x = f(a)|``, nothing after it on the line), else "". The policy writes a next line there
    (``plan``: ``end_of_statement``), and the model's first two tokens were always the line break and the
    indentation: two decodes (~30 ms) before any text showed, so at a fast typist's 30 ms gap the line's
    last key showed nothing (3 of the 8 lines of bench/latency.py's 30 ms replay, in every run). Asked from the next
    line, as after Enter (the editor keeps the indentation), its first token is text. The model can no
    longer end the block there; the cutter already dropped a next line that left it."""
    line = ctx.line_prefix
    if ctx.kind != "end_of_statement" or ctx.line_suffix.strip() or _ENDS_FLOW.match(line.strip()):
        return ""
    return "\n" + leading_ws(line)


def docstring_stop(ctx: CursorContext) -> Callable[[str], int | None]:
    """Prose inside a docstring ends where its closing quotes would be."""
    quote = ctx.string_quote or '"""'

    def cut(text: str) -> int | None:
        i = text.find(quote)
        return None if i < 0 else len(text[:i].rstrip(" \t"))

    return cut


def _both(a: Callable[[str], int | None], b: Callable[[str], int | None]) -> Callable[[str], int | None]:
    def cut(text: str) -> int | None:
        cuts = [c for c in (a(text), b(text)) if c is not None]
        return min(cuts) if cuts else None

    return cut


def plan(
    ctx: CursorContext,
    limits: Limits,
    cadence: Cadence | None = None,
    invoked: bool = False,
    mode: str = "auto",
    line_factor: Mapping[str, float] | None = None,
) -> Plan:
    """The length and stop policy for one request.

    ``line_factor`` (from local acceptance telemetry) shrinks multi-line suggestions in context
    classes where the user mostly rejects them.
    """
    kind = ctx.kind
    paused = bool(cadence and cadence.paused)

    def accel() -> Plan:
        return Plan("acceleration", True, 1, limits.max_tokens_line, limits.time_budget_s, None, 1, kind)

    def explore(alternatives: int = 1) -> Plan:
        factor = (line_factor or {}).get(kind, 1.0)
        lines = max(1, round(limits.max_lines * factor))
        cutter = indentation_floor(ctx)
        if kind == "docstring":
            cutter = _both(cutter, docstring_stop(ctx))
        single = bool(ctx.line_suffix.strip()) or lines == 1
        return Plan(
            "exploration",
            single,
            lines,
            limits.max_tokens_line if single else limits.max_tokens_block,
            limits.time_budget_s,
            cutter,
            alternatives,
            kind,
        )

    if mode == "acceleration":
        return accel()
    if mode == "exploration":
        return explore(3 if invoked else 1)
    if kind in ("comment", "string", "decorator", "mid_line"):
        return accel()
    if kind == "docstring":
        return explore()
    if kind == "end_of_statement":
        # A complete line: nothing to finish on it. Suggest the next line (after a line break, as an
        # editor shows it), and the rest of the block only when asked or waited for. (Mostly the request
        # is planned from the next line instead, with ``statement_line_break``'s lead; not after a
        # statement that ends the block's flow, nor without leads.)
        if invoked or paused:
            return explore(3 if invoked else 1)
        return Plan(
            "acceleration", False, 2, limits.max_tokens_line, limits.time_budget_s, indentation_floor(ctx), 1, kind
        )
    # An empty line.
    if invoked or paused:
        return explore(3)
    if ctx.after_comment or ctx.after_docstring or kind == "after_block_opener":
        return explore()  # a descriptive comment, a signature or a docstring asks for a body
    return accel()  # the next statement of a block being typed line by line
