"""Real inputs for a function: run the user's workload in the sandbox and record the function's arguments.

A profile hook sees every call of the target function (matched by file and qualified name) and keeps
up to ``limit`` distinct argument sets, pickled as they were on entry; arguments that cannot be
pickled are counted and skipped. The pickles are only ever loaded inside the sandbox, where the
user's classes resolve from the workspace: the server process never imports user code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optimizer.loader import LOADER
from optimizer.sandbox import Limits, run

# Runs the user's workload in the sandbox: (exit status, digest of what a script/module printed).
RUN_WORKLOAD = r"""
import contextlib, hashlib, io, runpy, sys

def run_workload(p):
    status, out = 0, io.StringIO()
    try:
        kind, what = p["kind"], p["target"]
        if kind == "pytest":
            import pytest
            status = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", p["workspace"], what, *p["more"]])
        else:
            with contextlib.redirect_stdout(out):
                if kind == "script":
                    runpy.run_path(what, run_name="__main__")
                else:
                    runpy.run_module(what, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return int(status), hashlib.sha256(out.getvalue().encode("utf-8", "replace")).hexdigest()
"""

_DRIVER = (
    LOADER
    + RUN_WORKLOAD
    + r"""
import os, pickle, sys, threading
p = PAYLOAD
if p.get("variant"):  # the project's own workload, run against the variant
    variant_in(importlib.import_module(p["module"]), p["qualname"].split("."), p["variant"], in_place=True)
target = os.path.realpath(p["path"])
qualname = p["qualname"]
blobs, seen = [], set()
stats = {"calls": 0, "skipped": 0}

def hook(frame, event, arg):
    if event != "call":
        return
    code = frame.f_code
    if getattr(code, "co_qualname", code.co_name) != qualname and code.co_name != qualname:
        return
    if os.path.realpath(code.co_filename) != target:
        return
    stats["calls"] += 1
    n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames
    local = frame.f_locals
    args = [local[n] for n in names[:n_pos]]
    kwargs = {n: local[n] for n in names[n_pos : n_pos + n_kw]}
    i = n_pos + n_kw
    if code.co_flags & 0x04:  # *args
        args.extend(local[names[i]])
        i += 1
    if code.co_flags & 0x08:  # **kwargs
        kwargs.update(local[names[i]])
    try:
        blob = pickle.dumps((tuple(args), kwargs))
    except Exception:
        stats["skipped"] += 1
        return
    if blob not in seen and len(blobs) < p["limit"]:
        seen.add(blob)
        blobs.append(blob)

if p["limit"]:
    sys.setprofile(hook)
    threading.setprofile(hook)
try:
    status, digest = run_workload(p)
finally:
    sys.setprofile(None)
    threading.setprofile(None)
RESULT = {"inputs": blobs, "status": status, "stdout": digest, **stats}
"""
)


@dataclass(frozen=True)
class Workload:
    kind: str  # "pytest" (a node id or path), "script" (a path) or "module" (a module name)
    target: str
    more: tuple[str, ...] = ()  # further pytest node ids or paths

    def describe(self) -> str:
        if self.kind == "module":
            return f"-m {self.target}"
        return " ".join((self.target, *self.more)) if len(self.more) < 3 else f"{self.target} and {len(self.more)} more"


@dataclass
class Capture:
    inputs: list[bytes] = field(default_factory=list)  # pickled (args, kwargs), distinct
    calls: int = 0
    skipped: int = 0  # calls whose arguments could not be pickled
    status: int = 0  # the workload's exit status (pytest's, for pytest)
    reason: str = ""  # why nothing was captured, when so
    stdout: str = ""  # digest of what a script or module workload printed


def _payload(workspace: str, path: str, qualname: str, workload: Workload, **extra: Any) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "path": path,
        "qualname": qualname,
        "kind": workload.kind,
        "target": workload.target,
        "more": list(workload.more),
        **extra,
    }


def capture_inputs(
    workspace: str, path: str, qualname: str, workload: Workload, limit: int = 100, limits: Limits | None = None
) -> Capture:
    if workload.kind not in ("pytest", "script", "module"):
        return Capture(reason=f"unknown workload kind {workload.kind!r}")
    payload = _payload(workspace, path, qualname, workload, limit=limit)
    res = run(_DRIVER, payload, limits or Limits(seconds=120), workspace=workspace)
    if not res.ok:
        return Capture(reason=f"the workload did not finish in the sandbox: {res.reason}")
    v = res.value
    cap = Capture(v["inputs"], v["calls"], v["skipped"], v["status"], stdout=v["stdout"])
    if not cap.inputs:
        cap.reason = (
            f"{qualname} was called {cap.calls} times but no arguments could be pickled"
            if cap.calls
            else f"the workload never called {qualname}"
        )
    return cap


def workload_with_variant(
    workspace: str,
    path: str,
    qualname: str,
    workload: Workload,
    module: str,
    variant_source: str,
    baseline: Capture,
    limits: Limits | None = None,
) -> str:
    """Run the project's workload (its tests) with the variant installed in the real module: "" when it
    ends as it did with the original (same exit status; same output for a script), else why not."""
    payload = _payload(workspace, path, qualname, workload, limit=0, module=module, variant=variant_source)
    res = run(_DRIVER, payload, limits or Limits(seconds=120), workspace=workspace)
    what = "the tests" if workload.kind == "pytest" else "the workload"
    if not res.ok:
        return f"{what} did not finish with the variant: {res.reason}"
    v = res.value
    if v["status"] != baseline.status:
        return f"{what} exit with status {v['status']} with the variant, {baseline.status} with the original"
    if workload.kind != "pytest" and v["stdout"] != baseline.stdout:
        return f"{what} print something else with the variant"
    return ""
