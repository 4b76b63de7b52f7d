"""How much faster, with what confidence: timed from this process, around batches in two sandboxes, at
the captured sizes and at inputs grown from them.

The original and the variant each run in their own persistent sandboxed process
(optimizer/sandboxed/timing.py). This process asks each in turn for a batch of passes over the inputs
and times the request with its own clock: a variant cannot touch that clock (patching ``perf_counter``
in its own interpreter changes nothing here). After every batch the process gives the digest of its
last pass's outcomes (encoded after the clock stopped, so large results do not dilute the ratio), which
must equal the digest of what that same function did when it was verified: a variant cannot behave one
way when checked and another when timed. (A variant that could reach the harness could answer for it;
model proposals cannot, optimizer/reach.py.) A warm-up batch, then rounds that alternate which process
goes first, each batch repeated until it lasts at least ``min_round_s``; the speedup is the median of
per-round ratios with a bootstrap 95 % interval. The original's process also times the same passes with
a function that does nothing (``seconds_empty``), so a variant that runs in about the time of an empty
call can be recognised. Peak memory of one pass of each comes from tracemalloc in each process (reported
by the process itself: an estimate, not a verdict).

Both processes run on one CPU (``timing_cpu``; they never run at once: this process asks one, then the
other). On this 2-core VM one core at a time is slower for seconds on end (1.7×: the same 29-call pass of
json's ``py_scanstring`` took 101–110 µs or 160–186 µs, in separate processes and within one), and a
process stays on its core: unpinned, the original measured against itself gave 0.61× to 1.14× with
narrow intervals, and a rewrite of two error messages that no timed call reached was offered in three
benchmark runs (1.64×, 95 % CI 1.53–1.70; 1.62× and 1.58× at 10× size); pinned, the same A/A and A/B
measurements fell within 0.89–1.09× (24 of them, half with this process pinned too). Alternating rounds
then meet the same core's slow and fast spells alike.

Cheap inputs per pass: a first untimed pass in each process says which parts of each input its function
changes (an argument, or one attribute or key of it); only those parts are fresh in each timed pass,
loaded from a pickle taken once (the rest, a large read-only table, is shared: no call changes it).
Copies are made before a batch and never timed. A function whose calls are long gets fewer inputs per
pass (spread evenly over them), then fewer rounds (down to 5), within ``limits.seconds``: a measurement of
fewer inputs rather than a timeout; ``inputs_timed`` says how many.

At scale (``scales``, e.g. (10, 100)): the largest captured inputs are grown k-fold in both sandboxes
(optimizer/sandboxed/scaled.py: lists, dicts, sets and strings; never ints). Only grown inputs on which
the original returns within the time limit are kept; on those the variant must behave like the original
(return value and arguments afterwards, compared here as canonical data with the judge's float
tolerance), or the measurement is refused with the difference; a variant several times slower on one is
refused too. Each size is measured like the captured one, within ``scale_budget_s``; a size that does not
fit the time or memory left is skipped and ``notes`` says why. Given ``enough`` (the speedup an offer
needs), a larger size is skipped once a smaller one's interval clears it, unless the ratio fell by more
than 5 % from the previous size to the last (100× is the costly size); without it, a larger size is
measured only when the ratio moved by more than 5 % (a complexity-class difference shows as a trend).
"""

from __future__ import annotations

import base64
import math
import os
import random
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

from slipstream.optimizer import judge
from slipstream.optimizer.sandbox import Limits, Session, SessionError
from slipstream.optimizer.verify import budget_for

MIN_ROUNDS = 5  # the fewest rounds a long-running function is measured with
COPY_BYTES = 128 << 20  # fresh copies a batch may hold (4 times the pickles' size, a rough bound)
SCALED_BYTES = 64 << 20  # captured pickles' bytes times the scale: what grown inputs may come to
SCALED_INPUTS = 8  # captured inputs grown (the largest): enough for an interval, cheap to derive
ROW_BUDGET = 2_000  # canonical nodes per value compared at scale (past it hashed: compared exactly)
SLOWER_AT_SCALE = 4.0  # a variant this many times slower than the original on one grown input is refused


@dataclass
class Scaled:
    """The measurement at inputs grown ``scale``-fold."""

    scale: int
    speedup: float
    ci: tuple[float, float]
    seconds_original: float
    seconds_variant: float
    inputs: int  # grown inputs timed per pass
    rounds: int
    checked: int = 0  # grown inputs on which the variant behaved like the original (all that the original ran)


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
    inputs_timed: int = 0  # captured inputs per timed pass: fewer than given when calls are long
    scaled: list[Scaled] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sizes not measured, and why

    @property
    def mem_ratio(self) -> float:
        return self.peak_variant / self.peak_original if self.peak_original else 1.0


def timing_cpu() -> int:
    """The CPU both sides of a measurement run on: the last this process may use."""
    return max(os.sched_getaffinity(0))


def bootstrap_ci(ratios: list[float], n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median ratio (deterministic for a given seed)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(n))
    lo = meds[int((1 - level) / 2 * n)]
    hi = meds[min(n - 1, int((1 + level) / 2 * n))]
    return lo, hi


def spread(n: int, k: int) -> list[int]:
    """``k`` of ``n`` indices, evenly spread (the first always among them)."""
    k = max(1, min(k, n))
    return sorted({(j * n) // k for j in range(k)})


def choose(costs: list[float], target: float) -> list[int]:
    """Indices of inputs evenly spread over ``costs`` whose summed cost fits ``target``; at least the
    cheapest one. Inputs with an infinite cost (not reached) are never chosen."""
    usable = [i for i, c in enumerate(costs) if math.isfinite(c)]
    k = len(usable)
    while k > 1:
        idx = [usable[j] for j in spread(len(usable), k)]
        total = sum(costs[i] for i in idx)
        if total <= target:
            return idx
        k = max(1, min(k - 1, int(k * target / total)))
    return [min(usable, key=costs.__getitem__)] if usable else []


class _TooLong(Exception):
    """Even one input per pass and the fewest rounds do not fit the time left."""


def _is_digest(reply: dict[str, Any]) -> bool:
    return isinstance(reply.get("digest"), str)


def _calls_ok(n: int) -> Any:
    def ok(reply: dict[str, Any]) -> bool:
        calls = reply.get("calls")
        return (
            isinstance(calls, list)
            and len(calls) == n
            and all(
                isinstance(c, dict)
                and c.get("k") in ("return", "raise", "slow", "skip")
                and isinstance(c.get("s"), (int, float))
                and isinstance(c.get("mut"), list)
                for c in calls
            )
        )

    return ok


class _Timed:
    """One sandboxed function: check inputs, prepare a batch, run it, check the digest of its outcomes."""

    def __init__(self, session: Session, label: str) -> None:
        self.session, self.label = session, label
        self.expected: str | None = None

    def check(
        self, name: str, idx: list[int], per_call_s: Any, total_s: float, rows: bool = False, budget: int = 0
    ) -> list[dict]:
        message = {"op": "check", "set": name, "idx": idx, "per_call_s": per_call_s, "total_s": total_s}
        reply, _ = self.session.request({**message, "rows": rows, "budget": budget}, _calls_ok(len(idx)))
        return reply["calls"]

    def derive(self, scale: int, base: list[int]) -> list[int]:
        def ok(r: dict[str, Any]) -> bool:
            origin = r.get("origin")
            return isinstance(origin, list) and all(isinstance(i, int) and i in base for i in origin)

        reply, _ = self.session.request({"op": "derive", "scale": scale, "base": base}, ok)
        return reply["origin"]

    def batch(self, name: str, idx: list[int], paths: list, repeat: int, op: str = "run") -> tuple[float, float]:
        """(seconds per pass, seconds preparing the batch's copies), both on this process's clock."""
        message = {"op": "prepare", "set": name, "idx": idx, "paths": paths, "repeat": repeat}
        _, prep = self.session.request(message, lambda r: r.get("ok") is True)
        _, seconds = self.session.request({"op": op}, lambda r: r.get("ok") is True)
        if op == "run":  # the empty function's outcomes are not worth checking
            reply, _ = self.session.request({"op": "digest"}, _is_digest)  # of the timed pass, not timed itself
            if self.expected is None:
                self.expected = reply["digest"]  # nothing verified given: every batch must agree with the first
            elif reply["digest"] != self.expected:
                raise SessionError(f"the {self.label}'s timed calls returned something else than when it was checked")
        return seconds / repeat, prep

    def peak(self, idx: list[int], paths: list, total_s: float) -> int | None:
        """The tracemalloc peak of one pass; None when tracing made it too slow to finish in ``total_s``."""
        message = {"op": "peak", "set": "1", "idx": idx, "paths": paths, "total_s": total_s}
        reply, _ = self.session.request(message, lambda r: isinstance(r.get("peak"), int))
        return None if reply.get("cut") else int(reply["peak"])


def _union(a: list, b: list) -> list:
    """The parts either function changed: a whole argument covers its parts."""
    paths = {tuple(p) for p in a + b if isinstance(p, list) and 1 <= len(p) <= 2}
    whole = {p[0] for p in paths if len(p) == 1}
    return sorted(([*p] for p in paths if len(p) == 1 or p[0] not in whole), key=repr)


@dataclass
class _Level:
    ratios: list[float]
    times: tuple[list[float], list[float]]
    idx: list[int]
    repeat: int


class _Measuring:
    """One measurement: two sessions and the time left."""

    def __init__(self, fns: list[_Timed], deadline: float, rounds: int, min_round_s: float) -> None:
        self.fns, self.deadline, self.rounds, self.min_round_s = fns, deadline, rounds, min_round_s

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def level(
        self,
        name: str,
        costs: list[float],
        paths: list[list],
        expected: tuple[Any, Any],
        budget_s: float,
        nbytes: list[int],
    ) -> _Level:
        """Rounds of batches on the inputs of set ``name`` that fit ``budget_s`` (``costs``: seconds one
        call of each took in the two processes together, from their checks)."""
        budget_s = min(budget_s, self.left())
        rounds = max(7, self.rounds)
        extra = 4  # passes besides the rounds: the warm-up, the peak (slower under tracemalloc), the empty one
        idx = choose(costs, budget_s / (rounds + extra))
        if not idx:
            raise _TooLong("no input finished in the time given")
        per_pass = sum(costs[i] for i in idx)
        if per_pass * (rounds + extra) > budget_s:
            rounds = MIN_ROUNDS
            if per_pass * (rounds + extra) > budget_s:
                raise _TooLong(f"one call takes {per_pass:.2g} s; {rounds} rounds do not fit {budget_s:.0f} s")
        start = time.perf_counter()

        def sub() -> list:
            return [paths[i] for i in idx]

        def expect(k: int) -> None:  # digests given are of all the inputs: of no use for fewer
            e = expected[k]
            if isinstance(e, list):
                self.fns[k].expected = judge.outcome_digest([e[i] for i in idx])
            else:
                self.fns[k].expected = e if len(idx) == len(costs) else None

        for k in (0, 1):
            expect(k)
        warm = [fn.batch(name, idx, sub(), 1) for fn in self.fns]  # and the first check of the outcomes
        one = sum(t + prep for t, prep in warm)  # a pass of both, with their copies, on this clock
        room = budget_s - (time.perf_counter() - start) - one * (extra - 1)
        if one * rounds > room:  # the checks underestimated (copies, the round trip): fewer inputs
            idx = choose(costs, sum(costs[i] for i in idx) * room / (one * rounds * 1.2))
            for k in (0, 1):
                expect(k)
            one = one * sum(costs[i] for i in idx) / max(per_pass, 1e-9)
            if one * MIN_ROUNDS > room:
                left = f"the {room:.1f} s left" if room > 0 else f"the {budget_s:.1f} s given (the first pass used it)"
                raise _TooLong(f"a pass takes {one:.2g} s with its copies; {MIN_ROUNDS} rounds do not fit {left}")
            rounds = min(rounds, max(MIN_ROUNDS, int(room / one)))
        t_orig = max(warm[0][0] * sum(costs[i] for i in idx) / max(per_pass, 1e-9), 1e-7)
        cap = max(1, COPY_BYTES // (4 * max(1, sum(nbytes[i] for i in idx))))
        by_time = max(1, int((budget_s - (time.perf_counter() - start)) / (max(one, 1e-7) * rounds)))
        repeat = max(1, min(100_000, cap, by_time, math.ceil(self.min_round_s / t_orig)))
        ratios: list[float] = []
        times: tuple[list[float], list[float]] = ([], [])
        for r in range(rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            t: dict[int, float] = {}
            for i in order:
                t[i], _ = self.fns[i].batch(name, idx, sub(), repeat)
                times[i].append(t[i])
            ratios.append(t[0] / max(t[1], 1e-12))
        return _Level(ratios, times, idx, repeat)


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
    expected: tuple[Any, Any] | None = None,
    budget: int | None = None,
    scales: tuple[int, ...] = (),
    scale_budget_s: float = 3.0,
    enough: float | None = None,
) -> Measurement | str:
    """The measurement, or the reason it could not be taken (or why the variant is refused at scale).

    ``expected``: what the original and the variant did on these inputs when verified, as their report
    rows (optimizer/verify.Report.rows, one per input) or as the outcome digests of all of them
    (optimizer/judge.outcome_digest). ``scales``: the factors to grow inputs by, in increasing order."""
    limits = limits or Limits(seconds=120)
    budget = budget or budget_for(len(inputs))
    wire = [base64.b64decode(x) if isinstance(x, str) else x for x in inputs]
    sizes = [len(x) if isinstance(x, bytes) else 1 for x in wire]
    base = {"original": module_source, "name": name, "inputs": wire, "workspace": workspace, "module": module}
    sessions: list[Session] = []
    t0 = time.perf_counter()
    deadline = t0 + 0.85 * limits.seconds  # both sessions' own deadlines start later
    try:
        pinned = replace(limits, cpu=timing_cpu())
        for source, lim in ((None, replace(pinned, threads=True)), (variant_source, pinned)):
            sessions.append(Session("timing", {**base, "function": source, "budget": budget}, lim, workspace))
        overhead = time.perf_counter() - t0
        fns = [_Timed(sessions[0], "original"), _Timed(sessions[1], "variant")]
        run = _Measuring(fns, deadline, rounds, min_round_s)
        reserve = min(2 * scale_budget_s, run.left() / 3) if scales else 0.0
        every = list(range(len(wire)))
        # Untimed: what each call changes, and how long it takes (to plan passes that fit the time).
        checks = [fn.check("1", every, 0, (run.left() - reserve) / 8) for fn in fns]
        costs = [
            a["s"] + b["s"] if a["k"] not in ("skip", "slow") and b["k"] not in ("skip", "slow") else math.inf
            for a, b in zip(*checks, strict=True)
        ]
        paths = [_union(a["mut"], b["mut"]) for a, b in zip(*checks, strict=True)]
        try:
            captured = run.level("1", costs, paths, expected or (None, None), run.left() - reserve, sizes)
        except _TooLong as exc:
            return f"too slow to measure within {limits.seconds:g} s: {exc}"
        idx = captured.idx
        empty, _ = fns[0].batch("1", idx, [paths[i] for i in idx], captured.repeat, op="empty")
        traced = max(0.5, 4 * sum(captured.times[0][:1] + captured.times[1][:1]))
        peaks = [fn.peak(idx, [paths[i] for i in idx], min(traced, max(0.1, run.left() / 4))) for fn in fns]
        if None in peaks:  # one pass of each could not be traced in time: no memory figures
            peaks = [0, 0]
        result = Measurement(
            speedup=statistics.median(captured.ratios),
            ci=bootstrap_ci(captured.ratios),
            seconds_original=statistics.median(captured.times[0]),
            seconds_variant=statistics.median(captured.times[1]),
            peak_original=peaks[0] or 0,
            peak_variant=peaks[1] or 0,
            rounds=len(captured.ratios),
            seconds_empty=empty,
            overhead_s=overhead,
            inputs_timed=len(idx),
        )
        for scale in scales:
            if result.scaled and not _worth_larger(result, enough):
                break
            why = _at_scale(run, result, scale, sizes, budget, scale_budget_s)
            if why:
                return why
    except SessionError as exc:
        return f"sandbox: {exc}"
    finally:
        for s in sessions:
            s.close()
    return result


def _worth_larger(m: Measurement, enough: float | None) -> bool:
    """Whether to measure a size larger than the last one (see the module's docstring)."""
    before = m.scaled[-2].speedup if len(m.scaled) > 1 else m.speedup
    moved = math.log(max(m.scaled[-1].speedup, 1e-9) / max(before, 1e-9))
    if enough is None:
        return abs(moved) > math.log(1.05)
    cleared = m.ci[0] >= enough or any(s.ci[0] >= enough for s in m.scaled)
    return moved < -math.log(1.05) or not cleared


def _at_scale(run: _Measuring, m: Measurement, scale: int, sizes: list[int], budget: int, budget_s: float) -> str:
    """Measure at ``scale`` into ``m.scaled`` (or say in ``m.notes`` why not); the reason to refuse the
    variant when it behaves differently, or is several times slower, on a grown input."""
    at = f"{scale}× size"
    if m.notes:  # a smaller size was not measured: a larger one will not be either
        return ""
    if run.left() < budget_s:
        m.notes.append(f"not measured at {at}: out of time")
        return ""
    largest = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))[:SCALED_INPUTS]
    base = sorted(i for i in largest if sizes[i] * scale <= SCALED_BYTES // SCALED_INPUTS)
    if not base:
        m.notes.append(f"not measured at {at}: the inputs would take too much memory")
        return ""
    fns = run.fns
    try:
        origins = [fn.derive(scale, base) for fn in fns]
        if origins[0] != origins[1]:
            raise SessionError("the two processes grew different inputs")
        if not origins[0]:
            m.notes.append(f"not measured at {at}: no argument can grow (lists, dicts, sets and strings do)")
            return ""
        every = list(range(len(origins[0])))
        name = str(scale)
        first = fns[0].check(name, every, budget_s / 4, budget_s / 2, True, ROW_BUDGET)
        keep = [j for j, c in enumerate(first) if c["k"] == "return" and judge.valid_row(_row(c))]
        if not keep:
            m.notes.append(f"not measured at {at}: the original raised or took over {budget_s / 4:.2g} s on each")
            return ""
        limits = [max(0.2, SLOWER_AT_SCALE * first[j]["s"]) for j in keep]
        second = fns[1].check(name, keep, limits, 0, True, ROW_BUDGET)
        for j, lim, c in zip(keep, limits, second, strict=True):
            grown = f"at {at} (captured input {origins[0][j]} grown)"
            if c["k"] == "slow":
                return (
                    f"{grown}: the variant took over {lim:.2g} s where the original took {first[j]['s']:.2g} s "
                    f"(more than {SLOWER_AT_SCALE:g}× slower)"
                )
            row = _row(c)
            why = judge.compare_rows(_row(first[j]), row) if judge.valid_row(row) else "a malformed report"
            if why:
                return f"{grown}: {why}"
        costs = [math.inf] * len(every)
        paths: list[list] = [[] for _ in every]
        for j, c in zip(keep, second, strict=True):
            costs[j] = first[j]["s"] + c["s"]
            paths[j] = _union(first[j]["mut"], c["mut"])
        nbytes = [sizes[i] * scale for i in origins[0]]
        # Timed batches must agree with each process's first one (the checks' values are cut to a budget).
        level = run.level(name, costs, paths, (None, None), min(budget_s, run.left()), nbytes)
    except _TooLong as exc:
        m.notes.append(f"not measured at {at}: {exc}")
        return ""
    except SessionError as exc:  # the captured sizes were measured: say why this one was not
        m.notes.append(f"not measured at {at}: sandbox: {exc}")
        return ""
    m.scaled.append(
        Scaled(
            scale,
            statistics.median(level.ratios),
            bootstrap_ci(level.ratios),
            statistics.median(level.times[0]),
            statistics.median(level.times[1]),
            len(level.idx),
            len(level.ratios),
            len(keep),
        )
    )
    return ""


def _row(call: dict[str, Any]) -> dict[str, Any]:
    """A check's call as a report row the judge compares (nothing printed or written is timed here)."""
    row = {k: call[k] for k in ("k", "v", "e", "m", "a") if k in call}
    return {**row, "o": "", "f": []}
