"""Optimize one function: capture real inputs, propose rule rewrites, verify each, measure the survivors.

Only a variant that behaved the same on every captured input and whose speedup's 95 % interval lies
above ``min_speedup`` is offered; everything else is reported in ``rejected`` with its reason.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from optimizer.capture import Workload, capture_inputs
from optimizer.measure import Measurement, measure
from optimizer.rules import candidates
from optimizer.verify import verify


@dataclass
class Variant:
    title: str
    rule_or_model: str
    source: str  # the whole module with the function rewritten
    speedup: float
    speedup_ci: tuple[float, float]
    mem_ratio: float
    inputs_verified: int
    edits: list[tuple[int, int, str]]  # (first line, end line exclusive, new text), 0-based, minimal


@dataclass
class OptimizeResult:
    function: str
    inputs: int = 0
    baseline: dict[str, float] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def function_at(source: str, line: int) -> str | None:
    """The qualified name of the innermost def enclosing 0-based ``line`` (``f`` or ``Class.f``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    best: str | None = None

    def walk(nodes: list[ast.stmt], prefix: str) -> None:
        nonlocal best
        for n in nodes:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([n.lineno, *[d.lineno for d in n.decorator_list]]) - 1
                if first <= line <= (n.end_lineno or n.lineno) - 1:
                    name = f"{prefix}{n.name}"
                    if not isinstance(n, ast.ClassDef):
                        best = name
                    walk(n.body, f"{name}.")

    walk(tree.body, "")
    return best


def minimal_edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """Line ranges of ``old`` to replace to get ``new``: only what changed."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            edits.append((i1, i2, "".join(b[j1:j2])))
    return edits


def title_for(m: Measurement, inputs: int) -> str:
    mem = (1 - m.mem_ratio) * 100
    mem_text = f", {'−' if mem > 0 else '+'}{abs(mem):.0f} % memory" if abs(mem) >= 5 else ""
    return f"Apply faster variant — {m.speedup:.1f}× faster{mem_text} (verified on {inputs} inputs)"


def optimize_function(
    workspace: str,
    path: str,
    qualname: str,
    workload: Workload,
    progress: Callable[[str], None] = lambda _: None,
    cancel: threading.Event | None = None,
    min_speedup: float = 1.10,
) -> OptimizeResult:
    cancel = cancel or threading.Event()
    result = OptimizeResult(qualname)
    source = Path(path).read_text(encoding="utf-8")
    module = ".".join(Path(path).resolve().relative_to(Path(workspace).resolve()).with_suffix("").parts)
    progress("capturing inputs from the workload")
    cap = capture_inputs(workspace, path, qualname, workload)
    if not cap.inputs:
        result.error = cap.reason
        return result
    result.inputs = len(cap.inputs)
    progress("generating candidates")
    cands = candidates(source, qualname)
    if not cands:
        result.error = "no rewrite rule applies to this function"
    for k, cand in enumerate(cands, 1):
        if cancel.is_set():
            result.error = "cancelled"
            break
        digest = hashlib.sha256(cand.source.encode()).hexdigest()[:12]
        progress(f"verifying {k}/{len(cands)} ({cand.rule})")
        verdict = verify(source, cand.source, qualname, cap.inputs, workspace=workspace, module=module)
        if not verdict.ok:
            result.rejected.append({"source_digest": digest, "rule": cand.rule, "reason": verdict.reason})
            continue
        progress(f"measuring {k}/{len(cands)} ({cand.rule})")
        m = measure(source, cand.source, qualname, cap.inputs, workspace=workspace, module=module)
        if isinstance(m, str):
            result.rejected.append({"source_digest": digest, "rule": cand.rule, "reason": m})
            continue
        result.baseline = {"seconds": m.seconds_original, "peak_bytes": m.peak_original}
        if m.ci[0] < min_speedup:
            result.rejected.append(
                {
                    "source_digest": digest,
                    "rule": cand.rule,
                    "reason": f"not measurably faster: {m.speedup:.2f}× (95 % CI {m.ci[0]:.2f}–"
                    f"{m.ci[1]:.2f}), needs ≥ {min_speedup:.2f}×",
                }
            )
            continue
        result.variants.append(
            Variant(
                title_for(m, verdict.inputs),
                cand.rule,
                cand.source,
                m.speedup,
                m.ci,
                m.mem_ratio,
                verdict.inputs,
                minimal_edits(source, cand.source),
            )
        )
    result.variants.sort(key=lambda v: -v.speedup)
    return result
