"""Driver: run the workload for the profiler.

``tool == "scalene"``: this process already runs under scalene (boot.py is scalene's program); report
the exit status and the time taken, and scalene writes its own JSON. ``tool == "cprofile"``: cProfile
(per-function time), a line timer (per-line time) and tracemalloc (memory still held per line at the
end) inside this process, restricted to the workspace.
"""

from __future__ import annotations

import cProfile
import os
import sys
import threading
import time
import tracemalloc
from types import FrameType
from typing import Any

from .workload import run_workload


class LineTimer:
    """Wall time per line of the workspace's own code. Between two events of a thread, the time goes to
    the workspace line that was running: the line's own work and the library calls it makes (untraced),
    not the workspace functions it calls (their lines get their own time), so no time counts twice.
    Only the workspace's code gets line events; everything else runs untraced. The timer's own cost,
    ~1 µs an event, falls on the traced lines."""

    def __init__(self, ws: str) -> None:
        self.ws = ws
        self.ours: dict[Any, bool] = {}  # code object -> its file is in the workspace
        self.seconds: dict[tuple[str, int], float] = {}
        self.state = threading.local()  # .line: (file, line) running now or None; .since: when it started

    def _ours(self, code: Any) -> bool:
        ours = self.ours.get(code)
        if ours is None:
            name = code.co_filename
            ours = self.ours[code] = not name.startswith("<") and os.path.realpath(name).startswith(self.ws)
        return ours

    def on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self.on_event if self._ours(frame.f_code) else None

    def on_event(self, frame: FrameType, event: str, arg: Any) -> Any:
        now = time.perf_counter()
        st = self.state
        running = getattr(st, "line", None)
        if running is not None:
            self.seconds[running] = self.seconds.get(running, 0.0) + now - st.since
        if event == "line":
            st.line = (frame.f_code.co_filename, frame.f_lineno)
        elif event == "return":  # back to the caller's running line: the nearest workspace frame
            back = frame.f_back
            while back is not None and not self._ours(back.f_code):
                back = back.f_back
            st.line = (back.f_code.co_filename, back.f_lineno) if back is not None else None
        st.since = now
        return self.on_event

    def start(self) -> None:
        threading.settrace(self.on_call)
        sys.settrace(self.on_call)

    def stop(self) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]  # typeshed wants a function; None turns it off

    def rows(self) -> list[list[Any]]:
        return [[os.path.realpath(path), line, s] for (path, line), s in self.seconds.items()]


def main(p: dict[str, Any]) -> dict[str, Any]:
    if p["tool"] == "scalene":
        t = time.perf_counter()
        status, _ = run_workload(p)
        return {"status": status, "elapsed": time.perf_counter() - t}
    ws = os.path.realpath(p["workspace"]) + os.sep
    tracemalloc.start()
    prof = cProfile.Profile()
    lines = LineTimer(ws)
    t = time.perf_counter()
    prof.enable()
    lines.start()
    try:
        status, _ = run_workload(p)
    finally:
        lines.stop()
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
    return {"status": status, "elapsed": elapsed, "functions": funcs, "lines": lines.rows(), "memory": mem}
