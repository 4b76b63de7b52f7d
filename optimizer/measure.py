"""How much faster, with what confidence: timed from this process, around batches in two sandboxes.

The original and the variant each run in their own persistent sandboxed process
(optimizer/sandboxed/timing.py). This process asks each in turn for a batch of passes over the inputs
and times the request with its own clock: a variant cannot touch that clock (patching ``perf_counter``
in its own interpreter changes nothing here). After every batch the process gives the digest of its
last pass's outcomes (encoded after the clock stopped, so large results do not dilute the ratio), which
must equal the digest of what that same function did when it was verified: a variant cannot behave one
way when checked and another when timed. (A variant that could reach the harness could answer for it;
model proposals cannot, optimizer/reach.py.) Inputs are prepared before each batch
(deep copies when a call mutates its arguments; not timed). A warm-up batch, then rounds that alternate
which process goes first, each batch repeated until it lasts at least ``min_round_s``; the speedup is
the median of per-round ratios with a bootstrap 95 % interval. The original's process also times the
same passes with a function that does nothing (``seconds_empty``), so a variant that runs in about the
time of an empty call can be recognised. Peak memory of one pass of each comes from tracemalloc in each
process (reported by the process itself: an estimate, not a verdict).
"""

from __future__ import annotations

import base64
import random
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

from slipstream.optimizer.sandbox import Limits, Session, SessionError
from slipstream.optimizer.verify import budget_for


@dataclass
class Measurement:
    speedup: float
    ci: tuple[float, float]
    seconds_original: float
    seconds_variant: float
    peak_original: int
    peak_variant: int
    rounds: int
    seconds_empty: float = 0.0  # one pass with a function that does nothing
    overhead_s: float = 0.0  # starting the two sandboxed processes, as this process saw it

    @property
    def mem_ratio(self) -> float:
        return self.peak_variant / self.peak_original if self.peak_original else 1.0


def bootstrap_ci(ratios: list[float], n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median ratio (deterministic for a given seed)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(n))
    lo = meds[int((1 - level) / 2 * n)]
    hi = meds[min(n - 1, int((1 + level) / 2 * n))]
    return lo, hi


def _is_digest(reply: dict[str, Any]) -> bool:
    return isinstance(reply.get("digest"), str)


class _Timed:
    """One sandboxed function: prepare a batch, run it, check the digest of its outcomes."""

    def __init__(self, session: Session, label: str, expected: str | None) -> None:
        self.session, self.label, self.expected = session, label, expected

    def batch(self, repeat: int, fresh: bool, op: str = "run") -> float:
        self.session.request({"op": "prepare", "repeat": repeat, "fresh": fresh}, lambda r: r.get("ok") is True)
        _, seconds = self.session.request({"op": op}, lambda r: r.get("ok") is True)
        if op == "run":  # the empty function's outcomes are not worth checking
            reply, _ = self.session.request({"op": "digest"}, _is_digest)  # of the timed pass, not timed itself
            if self.expected is None:
                self.expected = reply["digest"]  # no verified report given: every batch must agree with the first
            elif reply["digest"] != self.expected:
                raise SessionError(f"the {self.label}'s timed calls returned something else than when it was checked")
        return seconds / repeat

    def peak(self) -> int:
        reply, _ = self.session.request({"op": "peak"}, lambda r: isinstance(r.get("peak"), int))
        return int(reply["peak"])


def measure(
    module_source: str,
    variant_source: str,
    name: str,
    inputs: list[Any],
    rounds: int = 7,
    min_round_s: float = 0.05,
    limits: Limits | None = None,
    workspace: str | None = None,
    module: str | None = None,
    expected: tuple[str, str] | None = None,
    budget: int | None = None,
) -> Measurement | str:
    """The measurement, or the reason it could not be taken. ``expected``: the outcome digests of the
    original and the variant from verification (optimizer/judge.outcome_digest) on these inputs."""
    limits = limits or Limits(seconds=120)
    budget = budget or budget_for(len(inputs))
    wire = [base64.b64decode(x) if isinstance(x, str) else x for x in inputs]
    base = {"original": module_source, "name": name, "inputs": wire, "workspace": workspace, "module": module}
    sessions: list[Session] = []
    try:
        t0 = time.perf_counter()
        for source, lim in ((None, replace(limits, threads=True)), (variant_source, limits)):
            sessions.append(Session("timing", {**base, "function": source, "budget": budget}, lim, workspace))
        overhead = time.perf_counter() - t0
        fresh = any(bool(s.hello.get("mutates")) for s in sessions)
        fns = [
            _Timed(sessions[0], "original", expected[0] if expected else None),
            _Timed(sessions[1], "variant", expected[1] if expected else None),
        ]
        for fn in fns:  # warm-up, and the first check of the outcomes
            fn.batch(1, fresh)
        cap = 100_000
        if fresh:  # a batch's copies are made before it is timed: keep them within memory
            size = sum(len(x) for x in wire if isinstance(x, bytes)) or 1
            cap = max(1, min(cap, (128 << 20) // (4 * size)))
        # Batches long enough that the request's round trip (a fraction of a millisecond) is noise: grow the
        # repeat count until a batch of the original lasts min_round_s on this clock.
        repeat = 1
        while repeat < cap:
            lasted = fns[0].batch(repeat, fresh) * repeat
            if lasted >= min_round_s:
                break
            repeat = min(cap, max(2 * repeat, int(repeat * 1.2 * min_round_s / max(lasted, 1e-6))))
        ratios: list[float] = []
        times: list[list[float]] = [[], []]
        for r in range(max(7, rounds)):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            t: dict[int, float] = {}
            for i in order:
                t[i] = fns[i].batch(repeat, fresh)
                times[i].append(t[i])
            ratios.append(t[0] / max(t[1], 1e-12))
        empty = fns[0].batch(repeat, fresh, op="empty")
        peaks = [fn.peak() for fn in fns]
    except SessionError as exc:
        return f"sandbox: {exc}"
    finally:
        for s in sessions:
            s.close()
    return Measurement(
        speedup=statistics.median(ratios),
        ci=bootstrap_ci(ratios),
        seconds_original=statistics.median(times[0]),
        seconds_variant=statistics.median(times[1]),
        peak_original=peaks[0],
        peak_variant=peaks[1],
        rounds=len(ratios),
        seconds_empty=empty,
        overhead_s=overhead,
    )
