"""More inputs for verification, built in the sandbox (optimizer/sandboxed/generate.py).

``generate_inputs``: hypothesis examples from the function's type hints (plain functions whose
positional parameters all have hints) and, given the captured inputs, inputs derived from them by their
values' types and shapes (optimizer/sandboxed/derive.py: longer and shorter lists, strings and dicts,
neighbouring numbers, recursively; for a method, its other arguments and then the captured ``self``'s
attributes), as many as it takes to reach ``min_checks`` inputs in all. ``perturb_inputs``: more derived
inputs, for when the inputs cannot tell trivial mutants apart (optimizer/adequacy.py). An input is kept
only when the original finishes on it within a short time (it may raise: verification compares
exceptions too). Deterministic, so runs repeat. Captured inputs travel to the sandbox as the pickles they
are, and every input comes back as a base64 pickle: this process never loads one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import Any

from slipstream.optimizer.sandbox import Limits, run

MIN_CHECKS = 20  # inputs verification gets in all, where the workload gave at least one
EXTRA_DERIVED = 4  # derived inputs even past MIN_CHECKS when the hints gave none: other sizes and values
DERIVE_BUDGET_S = 4.0  # the original's trial runs on derived inputs, in all


@dataclass
class Generated:
    inputs: list[str] = field(default_factory=list)  # from the type hints
    reason: str = ""  # why none came from the type hints
    derived: list[str] = field(default_factory=list)  # neighbours of the captured inputs
    derived_reason: str = ""  # why none were derived, when none were wanted but some were


def _strings(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(e, str) for e in x)


def _generated(payload: dict[str, Any], limits: Limits | None, workspace: str) -> Generated:
    res = run("generate", payload, replace(limits or Limits(seconds=60), threads=True), workspace=workspace)
    if not res.ok:
        failed = f"generating examples failed in the sandbox: {res.reason}"
        return Generated(reason=failed, derived_reason=failed)
    v = res.value
    if not (
        _strings(v.get("inputs"))
        and _strings(v.get("derived"))
        and isinstance(v.get("reason"), str)
        and isinstance(v.get("derived_reason"), str)
    ):
        return Generated(reason="the sandbox's examples are malformed", derived_reason="malformed")
    return Generated(v["inputs"], v["reason"], v["derived"], v["derived_reason"])


def _payload(workspace: str, module: str, name: str, n: int, per_call_s: float, captured: list[str]) -> dict:
    return {
        "workspace": workspace,
        "module": module,
        "name": name,
        "n": n,
        "per_call_s": per_call_s,
        "inputs": [base64.b64decode(x) for x in captured],  # bytes, handed on as they came
        "budget_s": DERIVE_BUDGET_S,
    }


def generate_inputs(
    workspace: str,
    module: str,
    name: str,
    n: int = 40,
    per_call_s: float = 0.25,
    limits: Limits | None = None,
    captured: list[str] | None = None,
    min_checks: int = MIN_CHECKS,
) -> Generated:
    """Examples from the type hints (up to ``n``); with ``captured``, derived inputs up to ``min_checks``
    inputs in all (``EXTRA_DERIVED`` at least where the hints gave none)."""
    payload = _payload(workspace, module, name, n, per_call_s, captured or [])
    extra = EXTRA_DERIVED if captured else 0
    return _generated({**payload, "mode": "hints", "min_checks": min_checks, "extra": extra}, limits, workspace)


def perturb_inputs(
    workspace: str,
    module: str,
    name: str,
    inputs: list[str],
    n: int = 20,
    per_call_s: float = 0.25,
    limits: Limits | None = None,
    skip: list[str] | None = None,
) -> Generated:
    """Up to ``n`` inputs derived from ``inputs``, none of those in ``skip`` (in ``derived``)."""
    payload = _payload(workspace, module, name, n, per_call_s, inputs)
    skip_wire = [base64.b64decode(x) for x in skip or []]
    return _generated({**payload, "mode": "perturb", "skip": skip_wire}, limits, workspace)
