"""Optimize one function: capture real inputs, propose rule rewrites, verify each, measure the survivors.

Only a variant that behaved the same on every captured input and whose speedup's 95 % interval lies
above ``min_speedup`` is offered; everything else is reported in ``rejected`` with its reason.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from optimizer.capture import Capture, Workload, capture_inputs, workload_with_variant
from optimizer.generate import generate_inputs
from optimizer.measure import Measurement, measure
from optimizer.purity import impurity
from optimizer.rules import Rewrite, candidates, compose
from optimizer.sandbox import Limits
from optimizer.verify import verify
from optimizer.workload import module_name


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
    generated: int = 0  # hypothesis inputs used for verification, besides the captured ones
    workload: str = ""
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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
    visible = abs(m.peak_variant - m.peak_original) >= 64 << 10  # small peaks are tracemalloc noise
    mem_text = f", {'−' if mem > 0 else '+'}{abs(mem):.0f} % memory" if abs(mem) >= 5 and visible else ""
    return f"Apply faster variant — {m.speedup:.1f}× faster{mem_text} (verified on {inputs} inputs)"


# Model proposals: (module source, qualname, feedback on earlier proposals) -> candidate rewrites.
Proposer = Callable[[str, str, list[str]], list[Rewrite]]


@dataclass
class _Run:
    """What one optimization run shares between its steps."""

    workspace: str
    path: str
    qualname: str
    module: str
    source: str
    workload: Workload
    capture: Capture
    check_inputs: list[bytes]
    min_speedup: float
    result: OptimizeResult
    limits: Limits | None = None
    cancel: threading.Event | None = None
    helpful: list[Rewrite] = field(default_factory=list)  # verified and measured faster, if only slightly
    seen: set[str] = field(default_factory=set)

    def reject(self, cand: Rewrite, reason: str) -> str:
        digest = hashlib.sha256(cand.source.encode()).hexdigest()[:12]
        self.result.rejected.append({"source_digest": digest, "rule": cand.rule, "reason": reason})
        return reason

    def try_candidate(self, cand: Rewrite, progress: Callable[[str], None], label: str) -> str:
        """Verify, measure and test one candidate; "" when it is offered, else the reason it was not."""
        if cand.source in self.seen or cand.source == self.source:
            return "a duplicate of an earlier candidate"
        self.seen.add(cand.source)
        ws, mod = self.workspace, self.module
        impure = impurity(cand.source, self.qualname)
        if impure:  # a model may add I/O or randomness the original did not have
            return self.reject(cand, f"the variant {impure.replace('it depends', 'depends')}")
        progress(f"verifying {label} ({cand.rule})")
        verdict = verify(
            self.source,
            cand.source,
            self.qualname,
            self.check_inputs,
            Limits(cancel=self.cancel),
            workspace=ws,
            module=mod,
        )
        if not verdict.ok:
            return self.reject(cand, verdict.reason)
        progress(f"measuring {label} ({cand.rule})")
        m = measure(
            self.source,
            cand.source,
            self.qualname,
            self.capture.inputs,
            limits=Limits(seconds=120, cancel=self.cancel),
            workspace=ws,
            module=mod,
        )
        if isinstance(m, str):
            return self.reject(cand, m)
        if m.speedup > 1.02:
            self.helpful.append(cand)
        self.result.baseline = {"seconds": m.seconds_original, "peak_bytes": m.peak_original}
        if m.ci[0] < self.min_speedup:
            return self.reject(
                cand,
                f"not measurably faster: {m.speedup:.2f}× (95 % CI {m.ci[0]:.2f}–{m.ci[1]:.2f}), "
                f"needs ≥ {self.min_speedup:.2f}×",
            )
        progress(f"running the project's workload with {label} ({cand.rule})")
        failed = workload_with_variant(
            ws, self.path, self.qualname, self.workload, mod, cand.source, self.capture, self.limits
        )
        if failed:
            return self.reject(cand, failed)
        self.result.variants.append(
            Variant(
                title_for(m, verdict.inputs),
                cand.rule,
                cand.source,
                m.speedup,
                m.ci,
                m.mem_ratio,
                verdict.inputs,
                minimal_edits(self.source, cand.source),
            )
        )
        return ""


def optimize_function(
    workspace: str,
    path: str,
    qualname: str,
    workload: Workload,
    progress: Callable[[str], None] = lambda _: None,
    cancel: threading.Event | None = None,
    min_speedup: float = 1.10,
    proposer: Proposer | None = None,
    model_rounds: int = 3,
    limits: Limits | None = None,
) -> OptimizeResult:
    """Capture → refuse impure functions → generate extra inputs → rules (then their combination, then the
    model's proposals with feedback) → verify → measure → the project's workload → offer."""
    cancel = cancel or threading.Event()
    result = OptimizeResult(qualname, workload=workload.describe())
    source = Path(path).read_text(encoding="utf-8")
    module = module_name(workspace, path)
    why = impurity(source, qualname)
    if why:
        result.error = f"not optimized: {why}; a variant can only be verified when results depend on the arguments"
        return result
    progress(f"capturing inputs from {workload.describe()}")
    workload_limits = replace(limits or Limits(seconds=120), cancel=cancel)
    cap = capture_inputs(workspace, path, qualname, workload, limits=workload_limits)
    if not cap.inputs:
        result.error = "cancelled" if cancel.is_set() else cap.reason
        return result
    result.inputs = len(cap.inputs)
    if cap.status:
        result.notes.append(f"the workload already fails with the original (exit status {cap.status})")
    if cap.skipped:
        result.notes.append(f"{cap.skipped} calls had arguments that cannot be copied (skipped)")
    progress("checking that the function is deterministic")
    twice = verify(source, source, qualname, cap.inputs, Limits(cancel=cancel), workspace=workspace, module=module)
    if cancel.is_set():
        result.error = "cancelled"
        return result
    if not twice.ok:
        result.error = (
            "not optimized: two runs of the original on the same input disagree (time, randomness, I/O or "
            f"hidden state?): {twice.reason}"
        )
        return result
    progress("generating more inputs from the type hints")
    gen = generate_inputs(workspace, module, qualname, limits=Limits(seconds=60, cancel=cancel))
    result.generated = len(gen.inputs)
    if gen.reason:
        result.notes.append(f"no generated inputs: {gen.reason}")
    run = _Run(
        workspace,
        path,
        qualname,
        module,
        source,
        workload,
        cap,
        cap.inputs + gen.inputs,
        min_speedup,
        result,
        workload_limits,
        cancel,
    )
    progress("generating candidates")
    cands = candidates(source, qualname)
    for k, cand in enumerate(cands, 1):
        if cancel.is_set():
            result.error = "cancelled"
            return _finish(result)
        run.try_candidate(cand, progress, f"{k}/{len(cands)}")
    if len(run.helpful) >= 2 and not cancel.is_set():
        combined = compose(source, qualname, [c.rule for c in run.helpful])
        if combined is not None:
            run.try_candidate(combined, progress, "the combination")
    if proposer is not None and not result.variants:  # the model only where no rule helped: it is slower
        _model_rounds(run, proposer, progress, cancel, model_rounds)
    if cancel.is_set():
        result.error = "cancelled"
    elif not cands and not result.variants and not result.rejected:
        result.error = "no rewrite rule applies to this function" + ("" if proposer else " (model proposals off)")
    return _finish(result)


def _model_rounds(run: _Run, proposer: Proposer, progress, cancel: threading.Event, rounds: int) -> None:
    """Ask the model for variants; what failed (and why) goes back into the next round's prompt."""
    feedback: list[str] = [f"rule {r['rule']}: {r['reason']}" for r in run.result.rejected]
    best = max((v.speedup for v in run.result.variants), default=0.0)
    for r in range(1, rounds + 1):
        if cancel.is_set():
            return
        progress(f"asking the model for variants (round {r}/{rounds})")
        try:
            proposals = proposer(run.source, run.qualname, feedback)
        except Exception as exc:  # the model is optional: its failure costs proposals, never the run
            run.result.notes.append(f"model proposals failed: {exc}")
            return
        if not proposals:
            run.result.notes.append(f"round {r}: the model proposed nothing that parses as this function")
            continue
        for k, cand in enumerate(proposals, 1):
            if cancel.is_set():
                return
            why = run.try_candidate(cand, progress, f"model {r}.{k}")
            if why:
                feedback.append(f"{cand.rule}: {why}")
        if max((v.speedup for v in run.result.variants), default=0.0) > best:
            return  # a verified, faster variant: enough


def _finish(result: OptimizeResult) -> OptimizeResult:
    result.variants.sort(key=lambda v: -v.speedup)
    return result
