"""Typing cadence from the timing of edits: fast typing asks for short completions, a pause for more."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

FAST_INTERVAL_MS = 250.0  # median gap between keystrokes of someone who knows what comes next
PAUSE_MS = 800.0  # idle time after which the user is waiting to be shown something


@dataclass(frozen=True)
class Cadence:
    interval_ms: float | None  # median gap between the recent edits (None: too few edits)
    idle_ms: float  # time since the last edit when the request came

    @property
    def fast(self) -> bool:
        return self.interval_ms is not None and self.interval_ms < FAST_INTERVAL_MS and self.idle_ms < PAUSE_MS

    @property
    def paused(self) -> bool:
        return self.idle_ms >= PAUSE_MS


def cadence_from(edit_times: Sequence[float], now: float, window: int = 8) -> Cadence:
    """``edit_times``: monotonic seconds of the document's recent edits, oldest first."""
    recent = list(edit_times)[-window:]
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(recent) if b - a < 5.0]
    interval = statistics.median(gaps) if len(gaps) >= 2 else None
    idle = (now - recent[-1]) * 1000 if recent else float("inf")
    return Cadence(interval, max(0.0, idle))
