"""Optimize one function: capture real inputs, propose rule rewrites, verify each, measure the survivors.

Only a variant that behaved the same on every input and whose speedup's 95 % interval lies above
``min_speedup`` is offered; everything else is reported in ``rejected`` with its reason. Before any
candidate is trusted, the inputs must tell the function from trivial mutants of it
(optimizer/adequacy.py), enriched with neighbours of the captured inputs when they cannot.

Trust: rule variants are deterministic rewrites of the user's own code, as trusted as the code itself.
Model proposals are untrusted code: they run only where OS isolation is available
(``sandbox.isolation()``); elsewhere they are not run at all and the result says why. A model variant
that passes is labelled for what it is ("passed N checks — review the diff") and ``needs_review``, so the
editor applies it only through its refactor preview.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from slipstream.optimizer import judge
from slipstream.optimizer.adequacy import does_nothing, mutants
from slipstream.optimizer.capture import Capture, Workload, capture_inputs, workload_with_variant
from slipstream.optimizer.generate import generate_inputs, perturb_inputs
from slipstream.optimizer.measure import Measurement, measure
from slipstream.optimizer.purity import impurity
from slipstream.optimizer.reach import out_of_reach
from slipstream.optimizer.rules import Rewrite, candidates, compose, helper_candidates, slots_candidates
from slipstream.optimizer.sandbox import Limits, isolation
from slipstream.optimizer.verify import Reference, Report, budget_for, compare, reference, report, verify_against
from slipstream.optimizer.workload import module_name, other_sources


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
    needs_review: bool = False  # model-written: applied only through the editor's preview
    checks: int = 0  # comparisons it passed: inputs, timed batches, the project's workload
    basis: str = "captured"  # the sizes ``speedup`` was measured at: "captured", or "10×" for inputs grown 10-fold
    scaled: list[dict[str, Any]] = field(default_factory=list)  # {"scale", "speedup", "ci", "inputs"} per size


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
    enriched: int = 0  # neighbours of the captured inputs added because those could not tell trivial mutants apart
    derived: int = 0  # inputs derived from the captured ones' types and shapes, verified on from the start
    isolation: str = ""  # how model-written code is isolated here, or why it is not run

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


def input_kinds(total: int, captured: int, hinted: int) -> str:
    """Where the ``total`` inputs came from, when not all were captured: "1 captured, 19 derived"."""
    derived = total - captured - hinted
    if total == captured:
        return ""
    parts = [f"{captured} captured", f"{hinted} from type hints" * bool(hinted), f"{derived} derived" * bool(derived)]
    return ", ".join(p for p in parts if p)


def title_for(
    m: Measurement, inputs: int, model: bool = False, checks: int = 0, kinds: str = "", reach: str = ""
) -> str:
    """A rule variant is "verified"; a model's is what it is: code that passed checks, to be reviewed.
    ``kinds``: where the inputs came from (``input_kinds``); ``reach``: what the variant changes outside the
    function (``Rewrite.reach``: a helper it calls, a class it creates)."""
    mem = (1 - m.mem_ratio) * 100
    visible = abs(m.peak_variant - m.peak_original) >= 64 << 10  # small peaks are tracemalloc noise
    mem_text = f", {'−' if mem > 0 else '+'}{abs(mem):.0f} % memory" if abs(mem) >= 5 and visible else ""
    speed = speed_text(m) + (f", {reach}" if reach else "")
    grown = sum(s.checked for s in m.scaled)
    kinds = f"{kinds} + {grown} grown" if grown and kinds else kinds
    if model:
        on = f", inputs: {kinds}" if kinds else ""
        return f"Apply model variant — {speed}{mem_text} (passed {checks} checks{on} — review the diff)"
    on = f": {kinds}" if kinds else f" + {grown} grown" if grown else ""
    return f"Apply faster variant — {speed}{mem_text} (verified on {inputs} inputs{on})"


def _times(x: float) -> str:
    return f"{x:.0f}×" if x >= 10 else f"{x:.1f}×"


def speed_text(m: Measurement) -> str:
    """ "1.4× faster", or with grown inputs measured too "1.0× on your tests' inputs, 24× at 10× size"."""
    if not m.scaled:
        return f"{m.speedup:.1f}× faster"
    grown = ", ".join(f"{_times(s.speedup)} at {s.scale}× size" for s in m.scaled)
    return f"{m.speedup:.1f}× on your tests' inputs, {grown}"


def contradicts(m: Measurement, min_speedup: float) -> bool:
    """A measurement at odds with itself: one size clears ``min_speedup`` while a larger one is clearly slower
    (``speed_verdict`` would refuse it). A growing cost can do that, and so can one noisy pass."""
    sizes = [(1, m.ci)] + [(s.scale, s.ci) for s in m.scaled]
    return any(
        lo >= min_speedup and any(big > k and ci[1] < 1 / min_speedup for big, ci in sizes) for k, (lo, _hi) in sizes
    )


def speed_verdict(m: Measurement, min_speedup: float) -> tuple[str, float, tuple[float, float], str]:
    """Whether to offer: ("", speedup, interval, basis) of the first size whose 95 % interval clears
    ``min_speedup`` (the captured sizes first), else (the reason, …). Refused whatever the captured
    sizes say when the variant is clearly slower at a larger size (its interval's top below
    1 / ``min_speedup``): a win on tiny inputs that turns into a loss on realistic ones is no win."""
    for s in m.scaled:
        if s.ci[1] < 1 / min_speedup:
            return (
                f"slower at {s.scale}× size: {s.speedup:.2f}× (95 % CI {s.ci[0]:.2f}–{s.ci[1]:.2f})",
                s.speedup,
                s.ci,
                f"{s.scale}×",
            )
    if m.ci[0] >= min_speedup:
        return "", m.speedup, m.ci, "captured"
    for s in m.scaled:
        if s.ci[0] >= min_speedup:
            return "", s.speedup, s.ci, f"{s.scale}×"
    at_scale = "".join(f"; at {s.scale}× size {s.speedup:.2f}× ({s.ci[0]:.2f}–{s.ci[1]:.2f})" for s in m.scaled)
    why = (
        f"not measurably faster: {m.speedup:.2f}× (95 % CI {m.ci[0]:.2f}–{m.ci[1]:.2f}){at_scale}, "
        f"needs ≥ {min_speedup:.2f}×"
    )
    return why, m.speedup, m.ci, "captured"


def is_model(cand: Rewrite) -> bool:
    return cand.rule.startswith("model")


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
    check_inputs: list[str]
    min_speedup: float
    result: OptimizeResult
    ref: Reference
    limits: Limits | None = None
    cancel: threading.Event | None = None
    enriched: bool = False
    helpful: list[Rewrite] = field(default_factory=list)  # verified and measured faster, if only slightly
    seen: set[str] = field(default_factory=set)

    def reject(self, cand: Rewrite, reason: str) -> str:
        digest = hashlib.sha256(cand.source.encode()).hexdigest()[:12]
        self.result.rejected.append({"source_digest": digest, "rule": cand.rule, "reason": reason})
        return reason

    def survivors(self) -> list[str]:
        """The trivial mutants the current inputs cannot tell from the original (optimizer/adequacy.py)."""
        first = self.ref.report.rows[0] if self.ref.report.rows else None
        kind = first["v"][0] if first and first["k"] == "return" else None
        found = mutants(self.source, self.qualname, kind)
        if not found:
            return []
        reports = report(
            self.source,
            [m.source for m in found],
            self.qualname,
            self.ref.inputs,
            Limits(cancel=self.cancel, threads=True),  # derived from the user's code by us
            self.workspace,
            self.module,
            self.ref.budget,
        )
        return [m.label for m, rep in zip(found, reports, strict=True) if rep.ok and not compare(self.ref.report, rep)]

    def input_kinds(self, total: int) -> str:
        return input_kinds(total, self.result.inputs, self.result.generated)

    def enrich(self, progress: Callable[[str], None]) -> int:
        """Add neighbours of the captured inputs and record the original on all of them; how many were added."""
        self.enriched = True
        progress("deriving more inputs from the captured ones")
        more = perturb_inputs(
            self.workspace,
            self.module,
            self.qualname,
            self.capture.inputs,
            limits=Limits(seconds=60, cancel=self.cancel),
            skip=self.check_inputs,  # the next neighbours, not those derived already
        )
        if not more.derived:
            self.result.notes.append(f"no inputs could be derived from the captured ones: {more.derived_reason}")
            return 0
        self.check_inputs = self.check_inputs + more.derived
        self.ref = reference(
            self.source, self.qualname, self.check_inputs, Limits(cancel=self.cancel), self.workspace, self.module
        )
        self.result.enriched += len(more.derived)
        return len(more.derived)

    def try_candidate(self, cand: Rewrite, progress: Callable[[str], None], label: str) -> str:
        """Verify, measure and test one candidate; "" when it is offered, else the reason it was not."""
        if cand.source in self.seen or cand.source == self.source:
            return "a duplicate of an earlier candidate"
        self.seen.add(cand.source)
        ws, mod = self.workspace, self.module
        model = is_model(cand)
        own = not model  # a rule's rewrite is the user's code; a model's may not start threads
        if does_nothing(cand.source, self.qualname):
            return self.reject(cand, "the variant's body does nothing")
        if model and (reach := out_of_reach(cand.source, self.qualname, self.source)):
            return self.reject(cand, f"model variants may not reach the interpreter or keep state: {reach}")
        # A model may add I/O or randomness the original did not have. Module state is the original's
        # question only: a rule may keep a module-level table by design, and reach.py refuses a model's writes.
        impure = impurity(cand.source, self.qualname, module_state=False)
        if impure:
            return self.reject(cand, f"the variant {impure.replace('it depends', 'depends')}")
        progress(f"verifying {label} ({cand.rule})")
        verdict = verify_against(self.ref, cand.source, Limits(cancel=self.cancel, threads=own))
        if not verdict.ok:
            return self.reject(cand, verdict.reason)
        progress(f"measuring {label} ({cand.rule})")
        n = len(self.capture.inputs)
        expected = (self.ref.report.rows[:n], verdict.rows[:n])  # what each did when verified, input by input

        def measured() -> Measurement | str:
            return measure(
                self.source,
                cand.source,
                self.qualname,
                self.capture.inputs,
                limits=Limits(seconds=120, cancel=self.cancel, threads=own),
                workspace=ws,
                module=mod,
                expected=expected,
                budget=self.ref.budget,
                scales=(10, 100),  # complexity-class wins show even when the tests' inputs are tiny
                enough=self.min_speedup,
            )

        m = measured()
        if isinstance(m, str):
            return self.reject(cand, m)
        if contradicts(m, self.min_speedup):
            # Clearly faster at one size and clearly slower at a larger one: a noisy pass can do that (a
            # full-suite run once refused bisect "slower at 100x size: 0.72x" that measured faster alone).
            # Measured once more, and the second measurement decides.
            progress(f"measuring {label} ({cand.rule}) again: its sizes disagree")
            first = speed_verdict(m, self.min_speedup)[0]
            again = measured()
            if isinstance(again, str):
                return self.reject(cand, again)
            m = again
            self.result.notes.append(f"{cand.rule}: measured twice; the first measurement said {first}")
        if m.seconds_variant <= 2 * m.seconds_empty and not self.enriched:
            # About the time of an empty call: offered only once inputs derived from the captured ones agree.
            progress(f"checking {label} ({cand.rule}) on more inputs: it runs in about the time of an empty call")
            if not self.enrich(progress):
                return self.reject(
                    cand,
                    "it runs in about the time of an empty call, and no more inputs could be derived to confirm it",
                )
            verdict = verify_against(self.ref, cand.source, Limits(cancel=self.cancel, threads=own))
            if not verdict.ok:
                return self.reject(cand, verdict.reason)
        self.result.baseline = {"seconds": m.seconds_original, "peak_bytes": m.peak_original}
        for note in m.notes:  # why a larger size was not measured
            if f"{cand.rule}: {note}" not in self.result.notes:
                self.result.notes.append(f"{cand.rule}: {note}")
        slow, speedup, ci, basis = speed_verdict(m, self.min_speedup)
        if max([m.speedup] + [s.speedup for s in m.scaled]) > 1.02 and not slow.startswith("slower at"):
            self.helpful.append(cand)  # worth combining with other rules, if only slightly faster somewhere
        if slow:
            return self.reject(cand, slow)
        progress(f"running the project's workload with {label} ({cand.rule})")
        limits = replace(self.limits or Limits(seconds=120), threads=own)
        failed = workload_with_variant(
            ws, self.path, self.qualname, self.workload, mod, cand.source, self.capture, limits, self.source
        )
        if failed:
            return self.reject(cand, failed)
        checks = verdict.inputs + m.rounds + 2  # every input, every timed round, the warm-up check, the workload
        checks += sum(s.checked + s.rounds for s in m.scaled)  # grown inputs compared, their timed rounds
        self.result.variants.append(
            Variant(
                title_for(m, verdict.inputs, model, checks, self.input_kinds(verdict.inputs), cand.reach),
                cand.rule,
                cand.source,
                speedup,
                ci,
                m.mem_ratio,
                verdict.inputs,
                minimal_edits(self.source, cand.source),
                needs_review=model,
                checks=checks,
                basis=basis,
                scaled=[{"scale": s.scale, "speedup": s.speedup, "ci": s.ci, "inputs": s.checked} for s in m.scaled],
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
    no_proposer: str = "",
) -> OptimizeResult:
    """Refuse impure functions → (nothing to try: no rule applies and no model may propose → say so, without
    running the workload) → capture → generate extra inputs → check they tell trivial mutants apart → rules
    (then their combination, then the model's proposals with feedback, only under OS isolation) → verify →
    measure → the project's workload → offer.

    ``no_proposer``: why there is no ``proposer`` although model proposals are on (the model failed to
    load, the remote engine is down); "" when they are off."""
    cancel = cancel or threading.Event()
    iso = isolation()
    result = OptimizeResult(qualname, workload=workload.describe(), isolation=iso.describe())
    source = Path(path).read_text(encoding="utf-8")
    module = module_name(workspace, path)
    why = impurity(source, qualname)
    if why:
        result.error = (
            f"not optimized: {why}; a variant can only be verified for a function whose results depend on its "
            "arguments alone and that changes nothing outliving the call"
        )
        return result
    # The rules on the function, then on the module-level helpers it calls (its time may be theirs), then
    # ``__slots__`` on the classes it creates.
    cands = candidates(source, qualname) + helper_candidates(source, qualname)
    cands += slots_candidates(source, qualname, other_sources(workspace, path))
    if not cands and (proposer is None or not iso.available):
        # Nothing could be tried: say so now, without running the workload (minutes, for a test suite).
        if proposer is None and no_proposer:
            result.notes.append(f"model proposals were not run: {no_proposer}")
        elif proposer is not None:
            result.notes.append(_no_isolation(iso.reason))
        result.error = _nothing_to_try(proposer, no_proposer, iso.available)
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
    progress("generating more inputs from the type hints and the captured values")
    gen = generate_inputs(workspace, module, qualname, limits=Limits(seconds=60, cancel=cancel), captured=cap.inputs)
    result.generated = len(gen.inputs)
    if gen.reason:
        result.notes.append(f"no generated inputs: {gen.reason}")
    if gen.derived_reason:
        result.notes.append(f"no inputs derived from the captured ones: {gen.derived_reason}")
    check_inputs = cap.inputs + gen.inputs + gen.derived
    progress("checking that the function is deterministic")
    budget = budget_for(len(check_inputs))
    limit = Limits(cancel=cancel, threads=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        # Twice in one process (hidden state carried between calls), and once more in another (anything
        # that differs from process to process); all three compared here.
        twice = pool.submit(report, source, [None, None], qualname, check_inputs, limit, workspace, module, budget)
        again = pool.submit(reference, source, qualname, check_inputs, limit, workspace, module)
        (first, second), other = twice.result(), again.result().report
    if cancel.is_set():
        result.error = "cancelled"
        return result
    if first.reason or other.reason:
        result.error = (
            f"not optimized: the original does not run on its inputs in the sandbox: {first.reason or other.reason}"
        )
        return result
    stable, first = _stable_derived(check_inputs, first, (second, other), len(check_inputs) - len(gen.derived))
    if len(stable) < len(check_inputs):
        result.notes.append(
            f"{len(check_inputs) - len(stable)} derived inputs dropped: two runs of the original disagree on them"
        )
    check_inputs = stable
    result.derived = len(check_inputs) - len(cap.inputs) - len(gen.inputs)
    if result.derived:
        result.notes.append(
            f"verified on {len(cap.inputs)} captured inputs, {len(gen.inputs)} from the type hints and "
            f"{result.derived} derived from the captured ones"
        )
    differ = compare(first, second) or compare(first, other)
    if differ:
        result.error = (
            "not optimized: two runs of the original on the same input disagree (time, randomness, I/O or "
            f"hidden state?): {differ[0]}"
        )
        return result
    ref = Reference(source, qualname, check_inputs, workspace, module, first, budget)
    run = _Run(
        workspace,
        path,
        qualname,
        module,
        source,
        workload,
        cap,
        check_inputs,
        min_speedup,
        result,
        ref,
        workload_limits,
        cancel,
    )
    progress("checking that the inputs tell the function from trivial ones")
    alive = run.survivors()
    if alive and not cancel.is_set():
        run.enrich(progress)
        alive = run.survivors()
    if cancel.is_set():
        result.error = "cancelled"
        return result
    if alive:
        result.error = (
            f"not optimized: the inputs cannot tell this function from a version that {alive[0]}, so no variant "
            "could be verified on them; give the workload inputs where the function's work shows in its result"
        )
        return result
    progress("trying the rules that apply")
    for k, cand in enumerate(cands, 1):
        if cancel.is_set():
            result.error = "cancelled"
            return _finish(result)
        run.try_candidate(cand, progress, f"{k}/{len(cands)}")
    if len(run.helpful) >= 2 and not cancel.is_set():
        combined = compose(source, qualname, [c.rule for c in run.helpful])
        if combined is not None:
            run.try_candidate(combined, progress, "the combination")
    if proposer is None and no_proposer and not result.variants:
        result.notes.append(f"model proposals were not run: {no_proposer}")
    if proposer is not None and not result.variants:  # the model only where no rule helped: it is slower
        if iso.available:
            _model_rounds(run, proposer, progress, cancel, model_rounds)
        else:
            result.notes.append(_no_isolation(iso.reason) + "; rule variants still ran")
    if cancel.is_set():
        result.error = "cancelled"
    elif not cands and not result.variants and not result.rejected:
        result.error = _nothing_to_try(proposer, no_proposer, iso.available)
    return _finish(result)


def _no_isolation(reason: str) -> str:
    return (
        "model proposals were not run: model-written code runs only under OS isolation, and there is none "
        f"here ({reason})"
    )


def _nothing_to_try(proposer: Proposer | None, no_proposer: str, isolated: bool) -> str:
    if proposer is not None:
        off = "" if isolated else " (model proposals not run: no OS isolation)"
    else:
        off = f" (model proposals not run: {no_proposer})" if no_proposer else " (model proposals off)"
    return "no rewrite rule applies to this function" + off


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


def _stable_derived(
    inputs: list[str], first: Report, others: tuple[Report, ...], start: int
) -> tuple[list[str], Report]:
    """Drop the derived inputs (from ``start`` on) on which runs of the original disagree: a derived input
    may reach state a captured one does not (an id in a result, a hash order); the function is refused
    only when a captured or hinted input disagrees."""
    reports = (first, *others)
    if any(r.reason or len(r.rows) != len(inputs) for r in reports) or any(r.files != first.files for r in others):
        return inputs, first
    bad = {i for i in range(start, len(inputs)) for r in others if judge.compare_rows(first.rows[i], r.rows[i])}
    if not bad:
        return inputs, first
    keep = [i for i in range(len(inputs)) if i not in bad]
    for r in others:
        r.rows = [r.rows[i] for i in keep]
    return [inputs[i] for i in keep], replace(first, rows=[first.rows[i] for i in keep])


def _finish(result: OptimizeResult) -> OptimizeResult:
    result.variants.sort(key=lambda v: -v.speedup)
    return result
