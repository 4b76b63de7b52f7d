"""Where does the workload spend its time and memory? scalene in the sandbox, cProfile + tracemalloc as fallback.

scalene 2.4 runs the sandbox's bootstrap as its program (``python -m scalene run -o profile.json
--profile-only WORKSPACE boot.py --- job out``), so the user's workload still runs under the sandbox's
guards and limits. scalene samples (it needs some tens of milliseconds of runtime, and attributes
noisily) and can fail on some setups: then the workload runs again under cProfile (per-function time)
and tracemalloc (per-line memory), and the result says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from optimizer.capture import RUN_WORKLOAD, Workload
from optimizer.functions import function_spans
from optimizer.sandbox import Limits, run


@dataclass
class LineStat:
    path: str
    line: int  # 1-based
    cpu_percent: float  # of the whole run; scalene only (cProfile has no per-line time)
    peak_mb: float


@dataclass
class FunctionStat:
    path: str
    name: str  # qualified: ``f`` or ``Class.f``
    line: int  # 1-based line of the ``def``
    cpu_percent: float
    peak_mb: float


@dataclass
class Profile:
    tool: str  # "scalene" or "cProfile+tracemalloc"
    workload: str
    status: int = 0
    elapsed_s: float = 0.0
    lines: list[LineStat] = field(default_factory=list)
    functions: list[FunctionStat] = field(default_factory=list)
    note: str = ""
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_SCALENE_DRIVER = (
    RUN_WORKLOAD
    + r"""
import time
p = PAYLOAD
t = time.perf_counter()
status, _ = run_workload(p)
RESULT = {"status": status, "elapsed": time.perf_counter() - t}
"""
)

_CPROFILE_DRIVER = (
    RUN_WORKLOAD
    + r"""
import cProfile, os, time, tracemalloc
p = PAYLOAD
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
for (filename, lineno, name), (cc, nc, tt, ct, callers) in prof.stats.items():
    real = os.path.realpath(filename) if not filename.startswith("<") else filename
    if real.startswith(ws):
        funcs.append((real, lineno, name, ct))
mem = []
for stat in snap.statistics("lineno"):
    frame = stat.traceback[0]
    real = os.path.realpath(frame.filename)
    if real.startswith(ws):
        mem.append((real, frame.lineno, stat.size))
RESULT = {"status": status, "elapsed": elapsed, "functions": funcs, "memory": mem}
"""
)


def _payload(workspace: str, workload: Workload) -> dict[str, Any]:
    return {"workspace": workspace, "kind": workload.kind, "target": workload.target, "more": list(workload.more)}


def profile_workload(
    workspace: str, workload: Workload, limits: Limits | None = None, use_scalene: bool = True
) -> Profile:
    limits = limits or Limits(seconds=300, memory_bytes=4 << 30)
    note = ""
    if use_scalene:
        prof = _scalene(workspace, workload, limits)
        if not prof.error and (prof.lines or prof.functions):
            return prof
        note = f"scalene gave no profile ({prof.error or 'no samples in the workspace: the run was too short?'})"
    prof = _cprofile(workspace, workload, limits)
    prof.note = "; ".join(x for x in (note, prof.note) if x)
    return prof


def _scalene(workspace: str, workload: Workload, limits: Limits) -> Profile:
    ws = os.path.realpath(workspace)
    runner = ["-m", "scalene", "run", "-o", "{work}/profile.json", "--profile-all", "--profile-only", ws]
    # scalene's sampling files and signals clash with the file-size and CPU rlimits: the wall clock and
    # the address-space limit still hold.
    limits = dataclasses.replace(limits, file_bytes=0, cpu_limit=False)
    res = run(_SCALENE_DRIVER, _payload(ws, workload), limits, runner=runner, collect=("profile.json",), workspace=ws)
    prof = Profile("scalene", workload.describe())
    if not res.ok:
        prof.error = f"the workload did not finish under scalene: {res.reason}"
        return prof
    prof.status, prof.elapsed_s = res.value["status"], res.value["elapsed"]
    raw = res.extra.get("profile.json")
    if not raw:
        prof.error = "scalene wrote no profile"
        return prof
    try:
        data = json.loads(raw)
    except ValueError as exc:
        prof.error = f"scalene's profile does not parse ({exc})"
        return prof
    for path, info in (data.get("files") or {}).items():
        real = os.path.realpath(path)
        if not real.startswith(ws + os.sep):
            continue
        names = _qualnames(real)
        for ln in info.get("lines", []):
            cpu = float(ln.get("n_cpu_percent_python", 0)) + float(ln.get("n_cpu_percent_c", 0))
            peak = float(ln.get("n_peak_mb", 0))
            if cpu >= 0.5 or peak >= 1.0:
                prof.lines.append(LineStat(real, int(ln["lineno"]), round(cpu, 1), round(peak, 1)))
        for fn in info.get("functions", []):
            cpu = float(fn.get("n_cpu_percent_python", 0)) + float(fn.get("n_cpu_percent_c", 0))
            line = int(fn.get("lineno", 0))
            name = names.get(line, str(fn.get("line", "?")))
            prof.functions.append(
                FunctionStat(real, name, line, round(cpu, 1), round(float(fn.get("n_peak_mb", 0)), 1))
            )
    prof.functions.sort(key=lambda f: -f.cpu_percent)
    return prof


def _cprofile(workspace: str, workload: Workload, limits: Limits) -> Profile:
    ws = os.path.realpath(workspace)
    res = run(_CPROFILE_DRIVER, _payload(ws, workload), limits, workspace=ws)
    prof = Profile("cProfile+tracemalloc", workload.describe(), note="cProfile: per-function time only")
    if not res.ok:
        prof.error = f"the workload did not finish in the sandbox: {res.reason}"
        return prof
    v = res.value
    prof.status, prof.elapsed_s = v["status"], v["elapsed"]
    total = max(v["elapsed"], 1e-9)
    names_by_file: dict[str, dict[int, str]] = {}
    for path, line, name, cumtime in v["functions"]:
        names = names_by_file.setdefault(path, _qualnames(path))
        if line in names and names[line].rsplit(".", 1)[-1] == name:
            prof.functions.append(FunctionStat(path, names[line], line, round(100 * cumtime / total, 1), 0.0))
    for path, line, size in v["memory"]:
        if size >= 1 << 20:
            prof.lines.append(LineStat(path, line, 0.0, round(size / (1 << 20), 1)))
    prof.functions.sort(key=lambda f: -f.cpu_percent)
    return prof


def _qualnames(path: str) -> dict[int, str]:
    """1-based ``def`` line and first decorator line → qualified name, from the file on disk."""
    try:
        with open(path, encoding="utf-8") as f:
            spans = function_spans(f.read())
    except (OSError, ValueError):
        return {}
    return {line + 1: s.name for s in spans for line in (s.first, s.line)}
