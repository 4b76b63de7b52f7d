"""The optimizer on two suites of slow functions: how often it finds a verified faster variant.

Two parts, reported separately:

* **rules**: ``bench/optimize_suite/*.py``, one function per rule shape, written after the rules (target:
  ≥ 70 % get a verified variant ≥ 1.3×).
* **real**: ``bench/optimize_suite/real/``, hot functions of real programs not written for the rules (the
  Python standard library and permissively licensed PyPI packages, vendored unchanged with their licence
  notices; ``real/real_cases.py`` lists them). Target: ≥ 40 % get a verified variant ≥ 1.1× at their
  workload's sizes or at 10× (both shown where the measurement reports a 10× figure; "—" where it does
  not).

Each function runs through the real pipeline (capture from its own pytest workload → rules [→ model
proposals with ``--model``] → verification → measurement → the workload with the variant) on a
temporary copy of its part's folder; every offered variant is then run again on held-out inputs the
optimizer never saw (a difference there is a *wrong variant*), and the workspace is hashed before and
after. Per function: whether a verified variant was found, its speedup, the wall time, and for a miss
every reason the pipeline gave. Then a summary per part: hit rate, wrong variants, impure functions given
a variant, median/max wall time. Also what OS isolation costs per sandboxed run (bubblewrap vs plain).

    python bench/optimize.py [--part real|rules|both] [--only NAME,...] [--model] [--no-isolation]
                             [--json out.json] [--engine openai|llamacpp --endpoint URL [--remote-model NAME]]

Rules only is the default: the default model's proposals take minutes per function (``--model``).
``--engine``/``--endpoint``/``--remote-model``/``--api-key-env`` take the proposals from an inference server
instead, as ``slipstream optimize`` does (a strong code model there is what the real part's target needs).
Exit status 1 when a variant failed its held-out inputs, an impure function got a variant or a workspace
changed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slipstream.optimizer import sandbox  # noqa: E402
from slipstream.optimizer.capture import Workload  # noqa: E402
from slipstream.optimizer.pipeline import OptimizeResult, Variant, optimize_function  # noqa: E402
from slipstream.optimizer.verify import verify  # noqa: E402

SUITE = ROOT / "bench" / "optimize_suite"
REAL = SUITE / "real"
MANIFEST = [  # the rules-shaped part: (module, function, kind of slowness)
    ("structures", "unique_in_order", "data structure"),
    ("structures", "allowed_orders", "data structure"),
    ("structures", "bfs_order", "data structure"),
    ("structures", "join_orders", "data structure"),
    ("structures", "count_tags", "data structure"),
    ("structures", "contains_blocked", "data structure"),
    ("structures", "first_over", "loop"),
    ("loops", "squares_of_evens", "loop"),
    ("loops", "sum_values", "loop"),
    ("loops", "without_excluded", "loop"),
    ("loops", "matching_positions", "loop"),
    ("loops", "moving_average", "loop"),
    ("loops", "weighted_total", "loop"),
    ("strings", "render_rows", "string building"),
    ("strings", "count_vowels", "string scan"),
    ("strings", "extract_numbers", "parsing"),
    ("strings", "slugify_all", "parsing"),
    ("strings", "parse_kv", "parsing"),
    ("recursion", "fib", "recursion"),
    ("recursion", "grid_paths", "recursion"),
    ("recursion", "edit_distance", "recursion"),
    ("recursion", "partitions", "recursion"),
    ("numeric", "value_range", "numeric"),
    ("numeric", "top_scores", "numeric"),
    ("numeric", "squared_distances", "numeric"),
    ("numeric", "in_stock", "data structure"),
    ("numeric", "dot", "numeric"),
    ("numeric", "timed_sum", "impure (must be refused)"),
]
HIT = {"rules": 1.3, "real": 1.1}  # the speedup a part's hit needs (issue 16's targets)


@dataclass(frozen=True)
class Job:
    part: str  # "rules" or "real"
    module: str
    qualname: str
    test: str  # pytest node id relative to the part's folder
    kind: str
    must_refuse: bool = False  # impure: any variant is a failure


def jobs(part: str, only: set[str]) -> list[Job]:
    out: list[Job] = []
    if part in ("rules", "both"):
        out += [
            Job("rules", m, f, f"test_{m}.py::test_{f}", kind, kind.startswith("impure")) for m, f, kind in MANIFEST
        ]
    if part in ("real", "both"):
        real_cases = _import_from(REAL, "real_cases")
        out += [Job("real", c.module, c.qualname, c.test, c.kind) for c in real_cases.CASES]
    if only:
        out = [j for j in out if j.qualname in only or f"{j.module}.{j.qualname}" in only]
    return out


def _import_from(folder: Path, name: str) -> Any:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def scaled_speedup(v: Variant, factor: int = 10) -> float | None:
    """The variant's speedup at ``factor``× the workload's input sizes, if the measurement reports one.

    Read defensively: scale-aware measurement (optimizer/measure.py) may report it as a number
    (``speedup_10x``), a mapping from scale to speedup, or a list of per-scale records."""
    for name in (f"speedup_{factor}x", f"speedup_at_{factor}x"):
        x = getattr(v, name, None)
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return float(x)
    for name in ("scaled", "scales", "at_scale", "scale_speedups", "speedups_by_scale", "speedup_by_scale"):
        x = getattr(v, name, None)
        if isinstance(x, dict):
            for k, val in x.items():
                if str(k).rstrip("x×") == str(factor) and isinstance(val, (int, float)):
                    return float(val)
                if str(k).rstrip("x×") == str(factor) and isinstance(getattr(val, "speedup", None), (int, float)):
                    return float(val.speedup)
        elif isinstance(x, (list, tuple)):
            for item in x:
                if isinstance(item, (list, tuple)) and len(item) >= 2 and item[0] == factor:
                    return float(item[1])
                if isinstance(item, dict) and item.get("scale", item.get("factor")) == factor:
                    s = item.get("speedup")
                    return float(s) if isinstance(s, (int, float)) else None
                if getattr(item, "scale", getattr(item, "factor", None)) == factor:
                    s = getattr(item, "speedup", None)
                    return float(s) if isinstance(s, (int, float)) else None
    return None


def workload_speedup(v: Variant) -> float | None:
    """The variant's speedup at the workload's own input sizes. ``Variant.speedup`` is that figure unless the
    variant was offered on a larger size's figure (``basis``, with scale-aware measurement); then only the
    title says it, to one decimal."""
    if getattr(v, "basis", "captured") == "captured":
        return v.speedup
    m = re.search(r"([0-9.]+)× on your tests' inputs", v.title)
    return float(m.group(1)) if m else None


def reasons(res: OptimizeResult) -> list[str]:
    """Why no variant: the run's error, then every rejected candidate's reason, then the run's notes."""
    out = [res.error] if res.error else []
    out += [f"{r['rule']}: {r['reason']}" for r in res.rejected]
    out += [f"note: {n}" for n in res.notes]
    return out


MISS_KINDS = [  # (category, what in the first reason shows it), first match wins
    ("refused as impure", "not optimized: it "),
    ("refused: non-deterministic", "two runs of the original"),
    ("inputs cannot tell it from a mutant", "the inputs cannot tell"),
    ("no inputs captured", "the workload never called"),
    ("original fails in the sandbox", "the original does not run"),
    ("no rule applies", "no rewrite rule applies"),
]


def miss_category(res: OptimizeResult) -> str:
    """One short label for why a function got no variant (the full reasons are printed under it)."""
    if res.error:
        return next((label for label, key in MISS_KINDS if key in res.error), "error: " + res.error[:40])
    why = [r["reason"] for r in res.rejected]
    slow = [w for w in why if w.startswith(("not measurably faster", "slower at"))]  # verified, then measured
    if why and len(slow) == len(why):
        return "candidates verified, not faster"
    if any("sandbox:" in w for w in why):
        return "candidate crashed the sandbox"
    if slow:
        return "candidates not faster or wrong"
    if why:
        return "candidates failed verification"
    return "no variant, no reason given"


def run_job(job: Job, ws: Path, heldout, proposer) -> dict[str, Any]:
    workload = Workload("pytest", f"{ws}/{job.test}")
    t0 = time.perf_counter()
    res = optimize_function(str(ws), str(ws / f"{job.module}.py"), job.qualname, workload, proposer=proposer)
    wall = time.perf_counter() - t0
    source = (ws / f"{job.module}.py").read_text()
    wrong = []
    held = heldout(job.qualname)
    for v in res.variants:
        verdict = verify(source, v.source, job.qualname, held, workspace=str(ws), module=job.module)
        if not verdict.ok:
            wrong.append(f"{v.rule_or_model}: {verdict.reason}")
            print(f"WRONG VARIANT for {job.qualname} ({v.rule_or_model}): {verdict.reason}", file=sys.stderr)
    at_size = [s for s in map(workload_speedup, res.variants) if s is not None]
    at10 = [s for s in map(scaled_speedup, res.variants) if s is not None]
    best = max(
        res.variants,
        key=lambda v: max(filter(None, (workload_speedup(v), scaled_speedup(v))), default=0.0),
        default=None,
    )
    # The real part's target counts a win at 10× too; the rules part's is at the workload's sizes.
    best_any = max(at_size + (at10 if job.part == "real" else []), default=None)
    return {
        "part": job.part,
        "function": f"{job.module}.{job.qualname}",
        "kind": job.kind,
        "found": bool(best),
        "source": best.rule_or_model if best else "",
        "speedup": max(at_size) if at_size else None,
        "speedup_10x": max(at10) if at10 else None,
        "basis": getattr(best, "basis", "captured") if best else "",
        "best": best_any,
        "hit": best_any is not None and best_any >= HIT[job.part],
        "ci": list(best.speedup_ci) if best else None,
        "mem_ratio": best.mem_ratio if best else None,
        "inputs": res.inputs,
        "generated": res.generated,
        "enriched": res.enriched,
        "derived": getattr(res, "derived", 0),  # inputs derived from the captured ones, where reported
        "verified": best.inputs_verified if best else 0,
        "heldout": len(held),
        "wall_s": wall,
        "wrong": len(wrong),
        "wrong_why": wrong,
        "must_refuse": job.must_refuse,
        "why_not": [] if best else reasons(res),
        "miss": "" if best else ("refused, as it must be" if job.must_refuse else miss_category(res)),
        "rejected": res.rejected,
        "notes": res.notes,
    }


def run_part(part: str, part_jobs: list[Job], proposer) -> tuple[list[dict[str, Any]], bool]:
    folder = REAL if part == "real" else SUITE
    with tempfile.TemporaryDirectory(prefix=f"slipstream-optimize-bench-{part}-") as tmp:
        ws = Path(tmp) / "suite"
        shutil.copytree(folder, ws, ignore=shutil.ignore_patterns("__pycache__", "real", ".pytest_cache"))
        before = tree_digest(ws)
        # the held-out inputs come from the copy, so instances pickle as the copy's classes
        heldout = _import_from(ws, "real_cases" if part == "real" else "cases").heldout
        print(f"\n── {part} part: {len(part_jobs)} functions ({folder.relative_to(ROOT)}) ──")
        print(HEADER)
        print("─" * len(HEADER))
        rows = []
        for job in part_jobs:
            rows.append(run_job(job, ws, heldout, proposer))
            _print_row(rows[-1])
        unchanged = tree_digest(ws) == before
    sys.path.remove(str(ws))
    return rows, unchanged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("real", "rules", "both"), default="both", help="which part to run")
    ap.add_argument("--only", default="", help="comma-separated functions (qualname or module.qualname)")
    ap.add_argument("--model", action="store_true", help="also ask the default model for variants (slow)")
    ap.add_argument("--json", default="", help="write the rows as JSON here")
    ap.add_argument("--no-isolation", action="store_true", help="run without bubblewrap (to compare its cost)")
    ap.add_argument(
        "--engine",
        choices=("none", "local", "openai", "llamacpp"),
        default="none",
        help="where model proposals come from (--model is --engine local)",
    )
    ap.add_argument("--endpoint", default="", help="the inference server's URL (--engine openai/llamacpp)")
    ap.add_argument("--remote-model", default="", help="the server's model name (remote engines)")
    ap.add_argument("--api-key-env", default="", help="the NAME of an environment variable holding the key")
    args = ap.parse_args()
    if args.model:
        args.engine = "local"
    args.model = ""  # cli/optimize.py's open_engine reads it as a GGUF path: the embedded model
    only = {n for n in args.only.split(",") if n}
    todo = jobs(args.part, only)
    if not todo:
        print(f"no function matches --only {args.only!r} in part {args.part!r}", file=sys.stderr)
        return 2
    proposer = engine = None
    if args.engine != "none":  # the same engine and proposer ``slipstream optimize`` uses
        from slipstream.cli.optimize import EngineError, UsageError, open_engine
        from slipstream.optimizer.model_proposals import engine_proposer

        try:
            engine, faults = open_engine(args)
        except (EngineError, UsageError) as exc:
            print(f"optimize.py: {exc}", file=sys.stderr)
            return 2
        proposer = engine_proposer(engine, fault=lambda: faults[-1] if faults else None)
    overhead = isolation_overhead()
    if args.no_isolation:
        os.environ["SLIPSTREAM_ISOLATION"] = "none"
        sandbox.isolation.cache_clear()
    print(f"isolation: {sandbox.isolation().describe()}")
    if engine is None:
        print("proposals: rules only")
    else:
        where = getattr(engine.model, "endpoint", None)
        print(f"proposals: rules and {engine.model.name}" + (f" at {where.display}" if where is not None else ""))
    results: dict[str, tuple[list[dict[str, Any]], bool]] = {}
    try:
        for part in ("rules", "real"):
            part_jobs = [j for j in todo if j.part == part]
            if part_jobs:
                results[part] = run_part(part, part_jobs, proposer)
    finally:
        if engine is not None:
            engine.close()
    print()
    summary(results)
    print(overhead)
    all_rows = [r for rows, _ in results.values() for r in rows]
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, indent=2, default=str))
    bad = any(r["wrong"] or (r["must_refuse"] and r["found"]) for r in all_rows)
    return 0 if all(u for _, u in results.values()) and not bad else 1


def isolation_overhead(n: int = 12) -> str:
    """One sandboxed run that does nothing, with and without bubblewrap, interleaved: the cost per run."""
    times: dict[str, list[float]] = {"isolated": [], "plain": []}
    for i in range(2 * n):
        label = ("isolated", "plain")[i % 2]
        os.environ["SLIPSTREAM_ISOLATION"] = "" if label == "isolated" else "none"
        sandbox.isolation.cache_clear()
        if label == "isolated" and not sandbox.isolation().available:
            return f"isolation overhead: not measured ({sandbox.isolation().reason})"
        t0 = time.perf_counter()
        res = sandbox.run("snippet", {"code": "RESULT = 1"})
        times[label].append(time.perf_counter() - t0)
        assert res.ok, res.reason
    os.environ.pop("SLIPSTREAM_ISOLATION", None)
    sandbox.isolation.cache_clear()
    iso, plain = statistics.median(times["isolated"]), statistics.median(times["plain"])
    return (
        f"isolation overhead per sandboxed run: {1000 * iso:.0f} ms with bubblewrap vs {1000 * plain:.0f} ms "
        f"without (median of {n} each, interleaved): +{1000 * (iso - plain):.0f} ms"
    )


HEADER = (
    f"{'function':44} {'verified':8} {'variant':22} {'speedup':>8} {'at 10×':>7} {'95% CI':>11} "
    f"{'inputs':>8} {'wall':>6}"
)


def _x(s: float | None) -> str:
    return "—" if s is None else f"{s:.2f}×"


def _print_row(r: dict[str, Any]) -> None:
    inputs = f"{r['inputs']}+{r['generated'] + r['enriched'] + r['derived']}"
    name = r["function"] if len(r["function"]) <= 44 else "…" + r["function"][-43:]
    ci = f"{r['ci'][0]:.2f}–{r['ci'][1]:.2f}" if r["ci"] else ""
    ci += f" @{r['basis']}" if r["basis"] not in ("", "captured") else ""  # the size the variant was offered on
    print(
        f"{name:44} {'yes' if r['found'] else 'no':8} {(r['source'] or '—')[:22]:22} {_x(r['speedup']):>8} "
        f"{_x(r['speedup_10x']):>7} {ci:>11} {inputs:>8} {r['wall_s']:5.1f}s"
    )
    if not r["found"]:
        print(f"    miss: {r['miss']}")
        for why in r["why_not"][:8] or ["(no reason given)"]:
            lines = textwrap.wrap(why, len(HEADER) - 6, max_lines=4, placeholder=" …")
            print("    · " + "\n      ".join(lines))
        if len(r["why_not"]) > 8:
            print(f"    · … and {len(r['why_not']) - 8} more (--json has them all)")
    for w in r["wrong_why"]:
        print(f"    ! WRONG on held-out inputs: {w[:150]}")
    sys.stdout.flush()


TARGET = {"rules": "≥ 70 % at ≥ 1.3×", "real": "≥ 40 % at ≥ 1.1×, wall median ≤ 20 s, max ≤ 60 s"}


def summary(results: dict[str, tuple[list[dict[str, Any]], bool]]) -> None:
    """One row per part: hit rate, any variant, wrong variants, impure functions given one, wall times."""
    head = (
        f"{'part':6} {'functions':>9} {'hit (speedup)':>17} {'any variant':>11} {'wrong':>5} {'impure+var':>10} "
        f"{'wall median':>11} {'wall max':>8} {'unchanged':>9}  target"
    )
    print(head)
    print("─" * len(head))
    for part, (rows, unchanged) in results.items():
        n = len(rows)
        hits = sum(r["hit"] for r in rows)
        found = sum(r["found"] for r in rows)
        walls = [r["wall_s"] for r in rows]
        refused = [r for r in rows if r["must_refuse"]]
        impure = f"{sum(r['found'] for r in refused)}/{len(refused)}" if refused else "—"
        hit = f"{hits}/{n} {hits / n:4.0%} ≥{HIT[part]}×"
        print(
            f"{part:6} {n:>9} {hit:>17} {found:>11} {sum(r['wrong'] for r in rows):>5} {impure:>10} "
            f"{statistics.median(walls):>10.1f}s {max(walls):>7.1f}s {'yes' if unchanged else 'NO':>9}  "
            f"{TARGET[part]}"
        )
    for part, (rows, _) in results.items():
        misses = Counter(r["miss"] for r in rows if not r["hit"] and r["miss"] and not r["must_refuse"])
        below = sum(1 for r in rows if r["found"] and not r["hit"])
        if below:
            misses[f"variant below {HIT[part]}×"] += below
        if misses:
            print(f"{part} misses: " + "; ".join(f"{k} {v}" for k, v in misses.most_common()))
    found = [r["speedup"] for rows, _ in results.values() for r in rows if r["found"]]
    if found:
        print(f"median speedup of offered variants: {statistics.median(found):.2f}×")


if __name__ == "__main__":
    raise SystemExit(main())
