"""Does a variant behave like the original on real inputs? Each runs in its own sandboxed process.

Both processes report every call as canonical data (optimizer/sandboxed/outcomes.py): the return value,
the raised exception's type, the arguments afterwards, what was printed and the files touched; the
judge (optimizer/judge.py) compares the reports here, and compares what each process left in its work
directory. The variant's process never sees the original's results, the comparison code or the verdict.
Each call gets fresh deep copies of the inputs.
"""

from __future__ import annotations

import base64
import concurrent.futures
from dataclasses import dataclass, field, replace
from typing import Any

from slipstream.optimizer import judge
from slipstream.optimizer.judge import FLOAT_REL_TOL
from slipstream.optimizer.sandbox import Limits, run

__all__ = ["FLOAT_REL_TOL", "Reference", "Report", "Verdict", "reference", "report", "verify", "verify_against"]

MAX_NODES_TOTAL = 2_000_000  # canonical-tree nodes a report may hold, shared by its inputs


def budget_for(inputs: int) -> int:
    """Nodes per value: past it a subtree is hashed (still compared exactly, not shown)."""
    return max(500, MAX_NODES_TOTAL // max(1, 2 * inputs))


Input = tuple[tuple, dict] | bytes | str  # (args, kwargs), a captured pickle, or one in base64


def _wire(inputs: list[Input]) -> list[Any]:
    return [base64.b64decode(x) if isinstance(x, str) else x for x in inputs]


@dataclass
class Report:
    """What one process reported for one function, or why it could not."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def report(
    module_source: str,
    sources: list[str | None],
    name: str,
    inputs: list[Input],
    limits: Limits | None = None,
    workspace: str | None = None,
    module: str | None = None,
    budget: int | None = None,
) -> list[Report]:
    """One sandboxed process runs each of ``sources`` (None: the original) on every input."""
    payload = {
        "original": module_source,
        "functions": sources,
        "name": name,
        "inputs": _wire(inputs),
        "workspace": workspace,
        "module": module,
        "budget": budget or budget_for(len(inputs)),
    }
    res = run("outcomes", payload, limits, workspace=workspace)
    if not res.ok:
        return [Report(reason=f"sandbox: {res.reason}") for _ in sources]
    runs = res.value.get("runs")
    if not (
        isinstance(runs, list)
        and len(runs) == len(sources)
        and all(isinstance(r, list) and len(r) == len(inputs) and all(map(judge.valid_row, r)) for r in runs)
    ):
        return [Report(reason="sandbox: the report is incomplete or malformed") for _ in sources]
    return [Report(rows, res.files) for rows in runs]


@dataclass
class Reference:
    """The original's behaviour on the inputs, recorded once and compared with every candidate."""

    module_source: str
    name: str
    inputs: list[Input]
    workspace: str | None
    module: str | None
    report: Report
    budget: int


def reference(
    module_source: str,
    name: str,
    inputs: list[Input],
    limits: Limits | None = None,
    workspace: str | None = None,
    module: str | None = None,
) -> Reference:
    budget = budget_for(len(inputs))
    user = replace(limits or Limits(), threads=True)  # the original: the user's own code, as it is
    (rep,) = report(module_source, [None], name, inputs, user, workspace, module, budget)
    return Reference(module_source, name, inputs, workspace, module, rep, budget)


@dataclass
class Verdict:
    ok: bool
    inputs: int
    reason: str = ""  # the first mismatch, or the sandbox's reason
    mismatches: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # the variant's own report
    budget: int = 0


def compare(ref: Report, var: Report, tol: float = FLOAT_REL_TOL) -> list[str]:
    bad = [
        f"input {i}: {why}"
        for i, (a, b) in enumerate(zip(ref.rows, var.rows, strict=False))
        if (why := judge.compare_rows(a, b, tol))
    ]
    if not bad and ref.files != var.files:
        extra = sorted(set(var.files.items()) ^ set(ref.files.items()))[:3]
        bad.append(f"touches files differently: {[p for p, _ in extra]}")
    return bad


def verify_against(ref: Reference, variant_source: str, limits: Limits | None = None) -> Verdict:
    """The variant on the reference's inputs, in its own process (``limits.threads`` only for the user's
    own code: a rule's rewrite)."""
    if ref.report.reason:
        return Verdict(False, 0, f"the original: {ref.report.reason}")
    (var,) = report(
        ref.module_source, [variant_source], ref.name, ref.inputs, limits, ref.workspace, ref.module, ref.budget
    )
    return _verdict(ref, var)


def _verdict(ref: Reference, var: Report) -> Verdict:
    if ref.report.reason:
        return Verdict(False, 0, f"the original: {ref.report.reason}")
    if not var.ok:
        return Verdict(False, 0, var.reason)
    bad = compare(ref.report, var)
    return Verdict(not bad, len(ref.inputs), bad[0] if bad else "", bad, var.rows, ref.budget)


def verify(
    module_source: str,
    variant_source: str,
    name: str,
    inputs: list[Input],
    limits: Limits | None = None,
    workspace: str | None = None,
    module: str | None = None,
) -> Verdict:
    """Run original and variant (``name``, e.g. ``f`` or ``Class.method``) in two processes (at once) on
    every input; any difference rejects. With ``workspace`` and ``module`` the original is the real module."""
    if not inputs:
        return Verdict(False, 0, "no inputs to verify on")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        ref_f = pool.submit(reference, module_source, name, inputs, limits, workspace, module)
        budget = budget_for(len(inputs))
        var_f = pool.submit(report, module_source, [variant_source], name, inputs, limits, workspace, module, budget)
        ref, (var,) = ref_f.result(), var_f.result()
    return _verdict(ref, var)
