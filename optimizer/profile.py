"""Where does the workload spend its time and memory? scalene in the sandbox, cProfile + tracemalloc as fallback.

scalene 2.4 runs the sandbox's bootstrap as its program (``python -m scalene run -o profile.json
--profile-only WORKSPACE boot.py --- job out``), so the user's workload still runs under the sandbox's
guards and limits. scalene samples (it needs some tens of milliseconds of runtime, and attributes
noisily) and can fail on some setups: after a crash it runs once more; when it still fails or sees
nothing, the workload runs again under cProfile (per-function time), a line timer (per-line wall time)
and tracemalloc (per-line memory still held at the end), and the result says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from slipstream.optimizer.capture import Workload
from slipstream.optimizer.functions import function_spans
from slipstream.optimizer.sandbox import Limits, run


@dataclass
class LineStat:
    path: str
    line: int  # 1-based
    cpu_percent: float  # of the whole run: CPU time under scalene, wall time under the fallback's line timer
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


def _payload(workspace: str, workload: Workload, tool: str) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "kind": workload.kind,
        "target": workload.target,
        "more": list(workload.more),
        "tool": tool,
    }


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _fits(v: Any, t: type) -> bool:
    return _number(v) if t is float else isinstance(v, t) and not isinstance(v, bool)


def _rows(value: Any, shape: tuple[type, ...]) -> bool:
    """A list of rows whose fields have these types (float: any number)."""
    return isinstance(value, list) and all(
        isinstance(row, list) and len(row) == len(shape) and all(_fits(v, t) for v, t in zip(row, shape, strict=True))
        for row in value
    )


def profile_workload(
    workspace: str, workload: Workload, limits: Limits | None = None, use_scalene: bool = True
) -> Profile:
    limits = dataclasses.replace(limits or Limits(seconds=300, memory_bytes=4 << 30), threads=True)
    note = ""
    if use_scalene:
        prof = _scalene(workspace, workload, limits)
        if prof.error.startswith(SCALENE_EXITED):  # it crashed or exited on its own: once more
            first = prof.error
            prof = _scalene(workspace, workload, limits)
            prof.note = f"scalene's first run failed ({first})"
        if not prof.error and (prof.lines or prof.functions):
            return prof
        note = f"scalene gave no profile ({prof.error or 'no samples in the workspace: the run was too short?'})"
    prof = _cprofile(workspace, workload, limits)
    prof.note = "; ".join(x for x in (note, prof.note) if x)
    return prof


# scalene itself ended the run (an exit status or a signal, not the time or memory limit). It did so
# once in CI (exit 1, stop 30's run of the suite; stderr not kept then), never here: the same test passed
# 4 of 4 runs and 30 of 30 back-to-back profiles, with and without two CPU-bound processes beside it.
# Worth one more run before the fallback; a workload that ends its own process pays for the second.
SCALENE_EXITED = "scalene ended the run"


# The line of a traceback that names the exception ("PermissionError: sandbox: os.kill is not allowed").
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)(?::|$)")


def _why(stderr: str) -> str:
    """What the run's stderr says went wrong, for a reason: the last exception it names, else its last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    named = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
    last = (named or lines or [""])[-1]
    return f": {last[:300]}" if last else ""


def _scalene(workspace: str, workload: Workload, limits: Limits) -> Profile:
    ws = os.path.realpath(workspace)
    runner = ["-m", "scalene", "run", "-o", "{work}/profile.json", "--profile-all", "--profile-only", ws]
    # scalene's sampling files and signals clash with the file-size and CPU rlimits: the wall clock and
    # the address-space limit still hold.
    limits = dataclasses.replace(limits, file_bytes=0, cpu_limit=False)
    res = run(
        "profiling",
        _payload(ws, workload, "scalene"),
        limits,
        runner=runner,
        collect=("profile.json",),
        workspace=ws,
        processes=True,  # scalene re-executes itself with its preload library: the user's own code only
    )
    prof = Profile("scalene", workload.describe())
    if not res.ok:
        if res.reason.startswith(("exit", "crashed")):
            prof.error = f"{SCALENE_EXITED}: {res.reason}{_why(res.stderr)}"
        else:
            prof.error = f"the workload did not finish under scalene: {res.reason}"
        return prof
    if not (isinstance(res.value.get("status"), int) and _number(res.value.get("elapsed"))):
        prof.error = "the sandbox's report is malformed"
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
    try:
        _read_scalene(prof, data, ws)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        prof.error = f"scalene's profile is malformed ({type(exc).__name__})"
        return prof
    prof.functions.sort(key=lambda f: -f.cpu_percent)
    return prof


def _read_scalene(prof: Profile, data: Any, ws: str) -> None:
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


def _cprofile(workspace: str, workload: Workload, limits: Limits) -> Profile:
    ws = os.path.realpath(workspace)
    res = run("profiling", _payload(ws, workload, "cprofile"), limits, workspace=ws)
    prof = Profile(
        "cProfile+tracemalloc",
        workload.describe(),
        note="per-line time: the line's own work and library calls; per-line memory: what is held at the end",
    )
    if not res.ok:
        prof.error = f"the workload did not finish in the sandbox: {res.reason}{_why(res.stderr)}"
        return prof
    v = res.value
    if not (
        isinstance(v.get("status"), int)
        and _number(v.get("elapsed"))
        and _rows(v.get("functions"), (str, int, str, float))
        and _rows(v.get("lines"), (str, int, float))
        and _rows(v.get("memory"), (str, int, int))
    ):
        prof.error = "the sandbox's report is malformed"
        return prof
    prof.status, prof.elapsed_s = v["status"], v["elapsed"]
    total = max(v["elapsed"], 1e-9)
    names_by_file: dict[str, dict[int, str]] = {}
    for path, line, name, cumtime in v["functions"]:
        names = names_by_file.setdefault(path, _qualnames(path))
        if line in names and names[line].rsplit(".", 1)[-1] == name:
            prof.functions.append(FunctionStat(path, names[line], line, round(100 * cumtime / total, 1), 0.0))
    hot: dict[tuple[str, int], LineStat] = {}
    for path, line, seconds in v["lines"]:
        if 100 * seconds / total >= 0.5:  # scalene's threshold above
            hot[path, line] = LineStat(path, line, round(100 * seconds / total, 1), 0.0)
    for path, line, size in v["memory"]:
        if size >= 1 << 20:
            hot.setdefault((path, line), LineStat(path, line, 0.0, 0.0)).peak_mb = round(size / (1 << 20), 1)
    prof.lines = sorted(hot.values(), key=lambda s: (s.path, s.line))
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
