"""How much faster, with what confidence: interleaved A/B rounds in a fresh sandboxed process.

Inputs are fixed and, when a call mutates its arguments, deep-copied before each timed pass (copies are
not timed); a warm-up pass,
then rounds that alternate original and variant, each pass repeated until it lasts at least
``min_round_s``; the speedup is the median of per-round ratios with a bootstrap 95 % interval.
Peak memory of one pass of each is measured with tracemalloc.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from optimizer.loader import LOADER
from optimizer.sandbox import Limits, run

_DRIVER = (
    LOADER
    + r"""
import time, tracemalloc

p = PAYLOAD
original, variant, inputs = load_pair(p)
fns = [original, variant]

def one_pass(fn, copies):
    # A cache added by a rewrite starts empty on every pass, as in a fresh process running the workload:
    # otherwise later passes would time dictionary lookups.
    getattr(fn, "cache_clear", lambda: None)()
    t = time.perf_counter()
    for args, kwargs in copies:
        fn(*args, **kwargs)
    return time.perf_counter() - t

def mutates(fn):
    for args, kwargs in inputs:
        a, k = copy.deepcopy(args), copy.deepcopy(kwargs)
        before = pickle.dumps((a, k))
        fn(*a, **k)
        try:
            if pickle.dumps((a, k)) != before:
                return True
        except Exception:
            return True
    return False

# Fresh copies only where a call changes its arguments: copying large inputs costs more than the calls.
fresh = mutates(fns[0]) or mutates(fns[1])

def timed(fn, repeat):
    total = 0.0
    for _ in range(repeat):
        total += one_pass(fn, copy.deepcopy(inputs) if fresh else inputs)
    return total / repeat

for fn in fns:  # warm-up
    one_pass(fn, copy.deepcopy(inputs))
base = max(1e-6, one_pass(fns[0], copy.deepcopy(inputs)))
repeat = max(1, min(10_000, int(p["min_round_s"] / base) + 1))
ratios, times = [], [[], []]
for r in range(p["rounds"]):
    order = (0, 1) if r % 2 == 0 else (1, 0)
    t = {}
    for i in order:
        t[i] = timed(fns[i], repeat)
        times[i].append(t[i])
    ratios.append(t[0] / max(t[1], 1e-12))
peaks = []
for fn in fns:
    c = copy.deepcopy(inputs)
    tracemalloc.start()
    one_pass(fn, c)
    peaks.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
RESULT = {"ratios": ratios, "times": times, "peaks": peaks, "repeat": repeat}
"""
)


@dataclass
class Measurement:
    speedup: float
    ci: tuple[float, float]
    seconds_original: float
    seconds_variant: float
    peak_original: int
    peak_variant: int
    rounds: int

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


def measure(
    module_source: str,
    variant_source: str,
    name: str,
    inputs: list[tuple[tuple, dict]] | list[bytes],
    rounds: int = 7,
    min_round_s: float = 0.05,
    limits: Limits | None = None,
    workspace: str | None = None,
    module: str | None = None,
) -> Measurement | str:
    """The measurement, or the sandbox's reason when it could not be taken."""
    payload = {
        "original": module_source,
        "variant": variant_source,
        "name": name,
        "inputs": inputs,
        "rounds": max(7, rounds),
        "min_round_s": min_round_s,
        "workspace": workspace,
        "module": module,
    }
    res = run(_DRIVER, payload, limits or Limits(seconds=120), workspace=workspace)
    if not res.ok:
        return f"sandbox: {res.reason}"
    v = res.value
    return Measurement(
        speedup=statistics.median(v["ratios"]),
        ci=bootstrap_ci(v["ratios"]),
        seconds_original=statistics.median(v["times"][0]),
        seconds_variant=statistics.median(v["times"][1]),
        peak_original=v["peaks"][0],
        peak_variant=v["peaks"][1],
        rounds=len(v["ratios"]),
    )
