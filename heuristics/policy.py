"""How much to write: finish the line when typing mid-line, a bounded block otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from heuristics.context import CursorContext, leading_ws


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


def indentation_floor(ctx: CursorContext) -> Callable[[str], int | None]:
    """A cutter that stops before the first line that leaves the cursor's block (dedents below it)."""
    floor = len(ctx.indent.expandtabs(4))

    def cut(text: str) -> int | None:
        pos = 0
        for i, line in enumerate(text.split("\n")):
            if i > 0 and line.strip() and len(leading_ws(line).expandtabs(4)) < floor:
                return pos - 1  # drop the newline that led into the dedented line
            pos += len(line) + 1
        return None

    return cut


def plan(ctx: CursorContext, limits: Limits) -> Plan:
    if ctx.mid_line:
        return Plan("acceleration", True, 1, limits.max_tokens_line, limits.time_budget_s)
    return Plan(
        "exploration", False, limits.max_lines, limits.max_tokens_block, limits.time_budget_s, indentation_floor(ctx)
    )
