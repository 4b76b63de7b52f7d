"""Driver: run the workload for the profiler.

``tool == "scalene"``: this process already runs under scalene (boot.py is scalene's program); report
the exit status and the time taken, and scalene writes its own JSON. ``tool == "cprofile"``: cProfile
(per-function time) and tracemalloc (per-line memory) inside this process, restricted to the workspace.
"""

from __future__ import annotations

import cProfile
import os
import time
import tracemalloc
from typing import Any

from .workload import run_workload


def main(p: dict[str, Any]) -> dict[str, Any]:
    if p["tool"] == "scalene":
        t = time.perf_counter()
        status, _ = run_workload(p)
        return {"status": status, "elapsed": time.perf_counter() - t}
    ws = os.path.realpath(p["workspace"]) + os.sep
    tracemalloc.start()
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    try:
        status, _ = run_workload(p)
    finally:
        prof.disable()
    elapsed = time.perf_counter() - t
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    prof.create_stats()
    funcs = []
    for (filename, lineno, name), (_cc, _nc, _tt, ct, _callers) in prof.stats.items():  # type: ignore[attr-defined]
        real = os.path.realpath(filename) if not filename.startswith("<") else filename
        if real.startswith(ws):
            funcs.append([real, lineno, name, ct])
    mem = []
    for stat in snap.statistics("lineno"):
        frame = stat.traceback[0]
        real = os.path.realpath(frame.filename)
        if real.startswith(ws):
            mem.append([real, frame.lineno, stat.size])
    return {"status": status, "elapsed": elapsed, "functions": funcs, "memory": mem}
