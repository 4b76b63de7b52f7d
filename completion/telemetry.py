"""Local acceptance telemetry: what was shown, accepted and still present later; never sent anywhere.

Counters live in a diskcache store in the user's storage directory, per context class, so the
policy can learn from the user's own behaviour: a class whose multi-line suggestions are mostly
rejected gets shorter ones.

Counting never touches the store on the caller's thread (the server's event loop, which answers keystrokes):
``shown``/``accepted``/``retention`` add to counts in memory, and a thread of its own writes them to the store
every ``flush_s`` seconds, and on ``close`` (so a crash loses at most that long of counts). It also
recomputes the policy's line factors after each write (none while nothing is counted), so ``factors`` mostly
answers from memory (the store read behind them is 9 reads per context class). Measured here, 2,000
``shown`` calls timed one by one: p50 0.06 ms, p99 0.2 ms, max 5.8 ms (a write that waited for the disk) when
each wrote the store; p50 0.002 ms, p99 0.005 ms, max 0.08 ms in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipstream.heuristics.context import CONTEXT_CLASSES

log = logging.getLogger(__name__)

METRICS = (
    "shown",
    "accepted",
    "accepted_chars",
    "shown_multi",
    "accepted_multi",
    "checked_30s",
    "retained_30s",
    "checked_120s",
    "retained_120s",
)
RETENTION_CHECKS_S = (30, 120)
MIN_SHOWN_TO_ADAPT = 10
FLUSH_S = 2.0  # how often counts kept in memory are written to the store


@dataclass
class Shown:
    id: str
    uri: str
    line: int
    text: str
    context_class: str
    multi_line: bool
    accepted: bool = False


def still_present(document: str, inserted: str, line: int, radius: int = 20) -> bool:
    """Is the accepted text still in the document near where it was inserted (Copilot's retention)?"""
    needle = "\n".join(x.strip() for x in inserted.strip().split("\n"))
    if not needle:
        return False
    lines = document.split("\n")
    lo, hi = max(0, line - radius), min(len(lines), line + radius + needle.count("\n") + 1)
    window = "\n".join(x.strip() for x in lines[lo:hi])
    return needle in window


def line_factors(counts: dict[str, dict[str, int]]) -> dict[str, float]:
    """Shrink multi-line suggestions where the user mostly rejects them."""
    out: dict[str, float] = {}
    for cls, c in counts.items():
        shown = c.get("shown_multi", 0)
        if shown < MIN_SHOWN_TO_ADAPT:
            continue
        rate = c.get("accepted_multi", 0) / shown
        if rate < 0.1:
            out[cls] = 0.25
        elif rate < 0.25:
            out[cls] = 0.5
    return out


class Telemetry:
    """Counters in diskcache; if the store cannot be opened or written, it is disabled with a warning."""

    def __init__(self, directory: str | None, enabled: bool = True, flush_s: float = FLUSH_S) -> None:
        self.enabled = enabled
        self.directory = directory
        self.error = ""
        self.flush_s = flush_s
        self._cache: Any = None
        self._lock = threading.Lock()  # the counts in memory (held for a dict update: the event loop takes it)
        self._io = threading.Lock()  # a write to the store against a read of it (no count seen twice or missed)
        self._pending: OrderedDict[str, Shown] = OrderedDict()
        self._factors: tuple[float, dict[str, float]] | None = None
        self._unwritten: dict[str, int] = {}  # counts not yet in the store
        self._closing = threading.Event()
        self._writer: threading.Thread | None = None
        if enabled and directory:
            try:
                import diskcache

                Path(directory).mkdir(parents=True, exist_ok=True)
                self._cache = diskcache.Cache(directory, size_limit=16 * 2**20)
                self._cache.incr("_opened", 1, default=0)
            except Exception as exc:  # unwritable or full: completions go on without telemetry
                self.error = f"local telemetry disabled: cannot use {directory}: {exc}"
                log.warning("%s", self.error)
                self._cache = None
        if self._cache is not None:
            self._writer = threading.Thread(target=self._write_loop, name="slipstream-telemetry", daemon=True)
            self._writer.start()

    def _incr(self, cls: str, metric: str, n: int = 1) -> None:
        if self._cache is None or not self.enabled:
            return
        key = f"{cls}:{metric}"
        with self._lock:
            self._unwritten[key] = self._unwritten.get(key, 0) + n

    def _disable(self, exc: Exception) -> None:
        """The store failed (unwritable, full, corrupt): completions go on without telemetry."""
        self.error = f"local telemetry disabled: {exc}"
        log.warning("%s", self.error)
        self._cache = None

    def _write(self) -> bool:
        """Add the counts kept in memory to the store (the writer thread's, and ``close``'s); True when some
        were written."""
        with self._io:
            with self._lock:
                writing, self._unwritten = self._unwritten, {}
            cache = self._cache
            if cache is None or not writing:
                return False
            try:
                for key, n in writing.items():
                    cache.incr(key, n, default=0)
            except Exception as exc:
                self._disable(exc)
                return False
            return True

    def _write_loop(self) -> None:
        while not self._closing.wait(self.flush_s):
            if self._write():  # an idle editor reads nothing; ``factors`` reads other windows' counts itself
                self._factors = (time.monotonic(), line_factors(self.counts()))

    def shown(self, item: Shown) -> None:
        with self._lock:
            self._pending[item.id] = item
            while len(self._pending) > 256:
                self._pending.popitem(last=False)
        self._incr(item.context_class, "shown")
        if item.multi_line:
            self._incr(item.context_class, "shown_multi")

    def accepted(self, item_id: str, accepted_chars: int | None = None) -> Shown | None:
        with self._lock:
            item = self._pending.get(item_id)
            if item is None or item.accepted:
                return None
            item.accepted = True
        self._incr(item.context_class, "accepted")
        self._incr(
            item.context_class, "accepted_chars", accepted_chars if accepted_chars is not None else len(item.text)
        )
        if item.multi_line:
            self._incr(item.context_class, "accepted_multi")
        return item

    def retention(self, item: Shown, after_s: int, present: bool) -> None:
        self._incr(item.context_class, f"checked_{after_s}s")
        if present:
            self._incr(item.context_class, f"retained_{after_s}s")

    def counts(self) -> dict[str, dict[str, int]]:
        """What the store holds (other windows' servers may add to it too) plus what is still in memory."""
        out: dict[str, dict[str, int]] = {}
        with self._io:
            cache = self._cache
            if cache is None:
                return out
            with self._lock:
                held = dict(self._unwritten)
            try:
                for cls in CONTEXT_CLASSES:
                    row = {m: int(cache.get(f"{cls}:{m}", 0)) + held.get(f"{cls}:{m}", 0) for m in METRICS}
                    if any(row.values()):
                        out[cls] = row
            except Exception as exc:
                self._disable(exc)
                return {}
        return out

    def factors(self, max_age_s: float = 5.0) -> dict[str, float]:
        """The policy's per-class line factors; read from the store at most every ``max_age_s`` seconds
        (it is asked on every completion request; the writer thread refreshes them after each write, so the
        request mostly finds them fresh)."""
        now = time.monotonic()
        if self._factors is None or now - self._factors[0] > max_age_s:
            self._factors = (now, line_factors(self.counts()))
        return self._factors[1]

    def stats(self) -> dict[str, Any]:
        counts = self.counts()
        classes = {}
        for cls, c in counts.items():
            classes[cls] = {
                **c,
                "accept_rate": round(c["accepted"] / c["shown"], 3) if c["shown"] else None,
                "mean_accepted_chars": round(c["accepted_chars"] / c["accepted"], 1) if c["accepted"] else None,
                "retention_30s": round(c["retained_30s"] / c["checked_30s"], 3) if c["checked_30s"] else None,
                "retention_120s": round(c["retained_120s"] / c["checked_120s"], 3) if c["checked_120s"] else None,
            }
        return {
            "enabled": self._cache is not None and self.enabled,
            "directory": self.directory,
            "error": self.error,
            "classes": classes,
            "line_factors": line_factors(counts),
        }

    def close(self) -> None:
        """Write what is still in memory, then close the store."""
        self._closing.set()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join(timeout=10)
        self._write()
        with self._io:
            cache, self._cache = self._cache, None
        if cache is not None:
            try:
                cache.close()
            except Exception:
                pass
