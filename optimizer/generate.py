"""More inputs for verification, built in the sandbox (optimizer/sandboxed/generate.py).

``generate_inputs``: hypothesis examples from the function's type hints (plain functions whose
positional parameters all have hints). ``perturb_inputs``: neighbours of the captured inputs, for when
those cannot tell trivial mutants apart (optimizer/adequacy.py). Either way an example is kept only when
the original finishes on it within a short time (it may raise: verification compares exceptions too).
Derandomized, so runs repeat. Inputs come back as base64 pickles this process never loads.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import Any

from slipstream.optimizer.sandbox import Limits, run


@dataclass
class Generated:
    inputs: list[str] = field(default_factory=list)
    reason: str = ""  # why none were generated


def _generated(payload: dict[str, Any], limits: Limits | None, workspace: str) -> Generated:
    res = run("generate", payload, replace(limits or Limits(seconds=60), threads=True), workspace=workspace)
    if not res.ok:
        return Generated(reason=f"generating examples failed in the sandbox: {res.reason}")
    inputs, reason = res.value.get("inputs"), res.value.get("reason")
    if not (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs) and isinstance(reason, str)):
        return Generated(reason="the sandbox's examples are malformed")
    return Generated(inputs, reason)


def generate_inputs(
    workspace: str, module: str, name: str, n: int = 40, per_call_s: float = 0.25, limits: Limits | None = None
) -> Generated:
    payload = {"workspace": workspace, "module": module, "name": name, "n": n, "per_call_s": per_call_s}
    return _generated({**payload, "mode": "hints", "inputs": []}, limits, workspace)


def perturb_inputs(
    workspace: str,
    module: str,
    name: str,
    inputs: list[str],
    n: int = 40,
    per_call_s: float = 0.25,
    limits: Limits | None = None,
) -> Generated:
    wire = [base64.b64decode(x) for x in inputs]
    payload = {"workspace": workspace, "module": module, "name": name, "n": n, "per_call_s": per_call_s}
    return _generated({**payload, "mode": "perturb", "inputs": wire}, limits, workspace)
