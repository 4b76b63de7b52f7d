"""Real inputs for a function: run the user's workload in the sandbox and record the function's arguments.

The sandboxed driver (optimizer/sandboxed/capture.py) sees every call of the target function and keeps
up to ``limit`` distinct argument sets as pickles, sent here as base64 text. This process stores that
text and hands it to other sandboxed processes; it never unpickles it (the server never imports user
code, and a variant installed for ``workload_with_variant`` may have written anything).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from slipstream.optimizer.sandbox import Limits, run

MAX_CAPTURE_BYTES = 32 << 20  # pickled arguments kept in all


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
    inputs: list[str] = field(default_factory=list)  # pickled (args, kwargs) in base64, distinct
    calls: int = 0
    skipped: int = 0  # calls whose arguments could not be pickled (or did not fit)
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
        "max_bytes": MAX_CAPTURE_BYTES,
        **extra,
    }


def _parse(value: dict[str, Any]) -> Capture | None:
    ints = ("status", "calls", "skipped")
    inputs = value.get("inputs")
    if not (
        isinstance(inputs, list)
        and all(isinstance(x, str) for x in inputs)
        and all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ints)
        and isinstance(value.get("stdout"), str)
    ):
        return None
    return Capture(inputs, value["calls"], value["skipped"], value["status"], stdout=value["stdout"])


def capture_inputs(
    workspace: str, path: str, qualname: str, workload: Workload, limit: int = 100, limits: Limits | None = None
) -> Capture:
    if workload.kind not in ("pytest", "script", "module"):
        return Capture(reason=f"unknown workload kind {workload.kind!r}")
    payload = _payload(workspace, path, qualname, workload, limit=limit)
    user = replace(limits or Limits(seconds=120), threads=True)  # the user's own code, as it is
    res = run("capture", payload, user, workspace=workspace)
    if not res.ok:
        return Capture(reason=f"the workload did not finish in the sandbox: {res.reason}")
    cap = _parse(res.value)
    if cap is None:
        return Capture(reason="the sandbox's report of the workload is malformed")
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
    original: str | None = None,
) -> str:
    """Run the project's workload (its tests) with the variant installed in the real module: "" when it
    ends as it did with the original (same exit status; same output for a script), else why not.
    ``limits.threads``: only for a variant that is the user's own code transformed (a rule's).
    ``original``: the module's source the variant was made from (which of its helpers it rewrote)."""
    payload = _payload(
        workspace, path, qualname, workload, limit=0, module=module, variant=variant_source, original=original
    )
    res = run("capture", payload, limits or Limits(seconds=120), workspace=workspace)
    what = "the tests" if workload.kind == "pytest" else "the workload"
    if not res.ok:
        return f"{what} did not finish with the variant: {res.reason}"
    v = _parse(res.value)
    if v is None:
        return f"{what} gave a malformed report with the variant"
    if v.status != baseline.status:
        return f"{what} exit with status {v.status} with the variant, {baseline.status} with the original"
    if workload.kind != "pytest" and v.stdout != baseline.stdout:
        return f"{what} print something else with the variant"
    return ""
