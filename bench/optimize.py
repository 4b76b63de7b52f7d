"""The optimizer on a suite of realistic slow functions: how often it finds a verified faster variant.

Runs the real pipeline (capture from each function's test → rules → verification → measurement → the
project's tests with the variant) on a temporary copy of ``bench/optimize_suite``; every offered variant is
then checked again on held-out inputs the optimizer never saw (a failure there is a *wrong variant*), and
the workspace is hashed before and after. Prints one row per function and a summary, and what OS
isolation costs: a sandboxed run started with and without bubblewrap, side by side (``--no-isolation``
runs the whole suite without it, for the per-function comparison).

    python bench/optimize.py [--only fib,dot] [--model] [--no-isolation] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slipstream.optimizer import sandbox  # noqa: E402
from slipstream.optimizer.capture import Workload  # noqa: E402
from slipstream.optimizer.pipeline import optimize_function  # noqa: E402
from slipstream.optimizer.verify import verify  # noqa: E402

SUITE = ROOT / "bench" / "optimize_suite"
MANIFEST = [  # (module, function, kind of slowness)
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


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated function names")
    ap.add_argument("--model", action="store_true", help="also ask the default model for variants")
    ap.add_argument("--json", default="", help="write the rows as JSON here")
    ap.add_argument("--no-isolation", action="store_true", help="run without bubblewrap (to compare its cost)")
    args = ap.parse_args()
    overhead = isolation_overhead()
    if args.no_isolation:
        os.environ["SLIPSTREAM_ISOLATION"] = "none"
        sandbox.isolation.cache_clear()
    print(f"isolation: {sandbox.isolation().describe()}\n")
    only = {n for n in args.only.split(",") if n}
    sys.path.insert(0, str(SUITE))
    import cases  # the suite's own data: held-out inputs

    proposer = engine = None
    if args.model:  # the default model through the same engine and proposer the server uses
        from slipstream.inference.engine import Engine
        from slipstream.inference.model import ModelConfig, load_model
        from slipstream.optimizer.model_proposals import engine_proposer

        engine = Engine(load_model(ModelConfig()))
        proposer = engine_proposer(engine)
    rows = []
    with tempfile.TemporaryDirectory(prefix="slipstream-optimize-bench-") as tmp:
        ws = Path(tmp) / "suite"
        shutil.copytree(SUITE, ws, ignore=shutil.ignore_patterns("__pycache__"))
        before = tree_digest(ws)
        for module, func, kind in MANIFEST:
            if only and func not in only:
                continue
            workload = Workload("pytest", f"{ws}/test_{module}.py::test_{func}")
            t0 = time.perf_counter()
            res = optimize_function(str(ws), str(ws / f"{module}.py"), func, workload, proposer=proposer)
            wall = time.perf_counter() - t0
            source = (ws / f"{module}.py").read_text()
            wrong = 0
            for v in res.variants:
                held = verify(source, v.source, func, cases.heldout(func), workspace=str(ws), module=module)
                if not held.ok:
                    wrong += 1
                    print(f"WRONG VARIANT for {func} ({v.rule_or_model}): {held.reason}", file=sys.stderr)
            best = res.variants[0] if res.variants else None
            rows.append(
                {
                    "function": f"{module}.{func}",
                    "kind": kind,
                    "found": bool(best),
                    "source": best.rule_or_model if best else "",
                    "speedup": best.speedup if best else None,
                    "ci": list(best.speedup_ci) if best else None,
                    "mem_ratio": best.mem_ratio if best else None,
                    "inputs": res.inputs,
                    "generated": res.generated,
                    "verified": best.inputs_verified if best else 0,
                    "wall_s": wall,
                    "wrong": wrong,
                    "why_not": "" if best else (res.error or _best_reason(res.rejected)),
                }
            )
            _print_row(rows[-1])
        unchanged = tree_digest(ws) == before
    if engine is not None:
        engine.close()
    _summary(rows, unchanged)
    print(overhead)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if unchanged and not any(r["wrong"] for r in rows) else 1


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


def _best_reason(rejected: list[dict[str, str]]) -> str:
    if not rejected:
        return ""
    r = rejected[0]
    return f"{r['rule']}: {r['reason']}"


HEADER = f"{'function':32} {'variant':24} {'speedup':>8} {'95% CI':>13} {'mem':>5} {'inputs':>8} {'wall':>6}"


def _print_row(r: dict) -> None:
    if not hasattr(_print_row, "done"):
        print(HEADER)
        print("─" * len(HEADER))
        _print_row.done = True  # type: ignore[attr-defined]
    inputs = f"{r['inputs']}+{r['generated']}"
    if r["found"]:
        ci = f"{r['ci'][0]:.2f}–{r['ci'][1]:.2f}"
        print(
            f"{r['function']:32} {r['source'][:24]:24} {r['speedup']:7.2f}× {ci:>13} {r['mem_ratio']:5.2f} "
            f"{inputs:>8} {r['wall_s']:5.1f}s"
        )
    else:
        print(f"{r['function']:32} {'—':24} {'':>8} {'':>13} {'':>5} {inputs:>8} {r['wall_s']:5.1f}s")
        print(f"    {r['why_not'][:150]}")
    sys.stdout.flush()


def _summary(rows: list[dict], unchanged: bool) -> None:
    if not rows:
        print("no functions run")
        return
    n = len(rows)
    good = [r for r in rows if r["found"] and r["speedup"] >= 1.3]
    found = [r for r in rows if r["found"]]
    walls = [r["wall_s"] for r in rows]
    print("─" * len(HEADER))
    print(f"verified variant ≥ 1.3×: {len(good)}/{n} = {len(good) / n:.0%}   (any verified variant: {len(found)}/{n})")
    if found:
        print(f"median speedup of offered variants: {statistics.median(r['speedup'] for r in found):.2f}×")
    print(f"wrong variants offered (failed held-out inputs): {sum(r['wrong'] for r in rows)}")
    print(f"wall time per function: median {statistics.median(walls):.1f} s, max {max(walls):.1f} s")
    print(f"workspace unchanged: {'yes' if unchanged else 'NO'}")


if __name__ == "__main__":
    raise SystemExit(main())
