"""Typing cadence from the timing of edits: fast typing asks for short completions, a pause for more."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

FAST_INTERVAL_MS = 250.0  # median gap between keystrokes of someone who knows what comes next
PAUSE_MS = 800.0  # idle time after which the user is waiting to be shown something
SPECULATE_AFTER = 1.5  # speculation starts once the user is idle this many of their usual key gaps ...
SPECULATE_MIN_MS, SPECULATE_MAX_MS = 60.0, 400.0  # ... within these bounds (no gaps seen yet: the maximum)


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


def speculation_wait_ms(cadence: Cadence) -> float:
    """How long to wait after an answer before speculating, with an engine that cannot stop background work
    inside a decode (a remote server; the embedded engine speculates at once): ``SPECULATE_AFTER`` of the
    user's usual key gaps, counted from the answer, not from the last edit (a fast typist waiting for the
    answer is not pausing: counted from the edit, a slow answer made the wait zero and the guess took the
    model as the next key came — bench/latency.py's fast pace, queued p50 62-72 ms behind speculation). A
    typist who goes on typing never finds the model busy with a guess."""
    usual = cadence.interval_ms if cadence.interval_ms is not None else SPECULATE_MAX_MS
    return min(SPECULATE_MAX_MS, max(SPECULATE_MIN_MS, SPECULATE_AFTER * usual))
