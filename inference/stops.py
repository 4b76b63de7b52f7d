"""Stop rules applied to the growing completion text while it streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A finer policy (e.g. the heuristics' indentation floor) returns the index to cut the text at,
# or None to let generation go on.
Cutter = Callable[[str], "int | None"]


@dataclass(frozen=True)
class StopRules:
    """Limits for one completion. ``single_line`` finishes the current line (mid-line typing)."""

    max_tokens: int = 64
    max_lines: int = 8
    single_line: bool = False
    time_budget_s: float = 2.0  # counted from the first generated token, like llama.cpp's t_max_predict_ms
    cutter: Cutter | None = None


@dataclass(frozen=True)
class StopCheck:
    text: str  # the text to keep
    stop: bool
    reason: str = ""


def check_stop(text: str, rules: StopRules) -> StopCheck:
    """Cut ``text`` where a rule says to stop; pure, so it runs after every token."""
    limit = 1 if rules.single_line else max(1, rules.max_lines)
    pos = -1
    for _ in range(limit):
        pos = text.find("\n", pos + 1)
        if pos < 0:
            break
    else:
        return StopCheck(text[:pos], True, "newline" if rules.single_line else "max_lines")
    if rules.cutter is not None:
        cut = rules.cutter(text)
        if cut is not None:
            return StopCheck(text[:cut], True, "policy")
    return StopCheck(text, False)
