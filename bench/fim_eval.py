"""Does the policy help? Raw generation vs Slipstream's policy + post-processing, same engine, same prompts.

Real code nobody here wrote: by default a fixed-seed sample of files from the installed CPython
standard library (or any directory given). For N cursor positions in four classes (mid-line, end of a
line in a block, an empty line after a block opener, inside an if body that has an else), the true
middle is the rest of the line (mid-line) or the rest of the block. (a) generates with a fixed token
limit and no post-processing; (b) uses Slipstream's plan, streaming stops and post-processing.

Usage: .venv/bin/python bench/fim_eval.py [DIR] [--n 60] [--seed 0] [--model M.gguf] [--raw-tokens 64]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import random
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slipstream.completion.prepare import Options, PrepareRequest, finish, prepare, request_for  # noqa: E402
from slipstream.heuristics.postprocess import breaks_syntax  # noqa: E402
from slipstream.inference.engine import Engine, GenerationRequest  # noqa: E402
from slipstream.inference.model import load_model  # noqa: E402
from slipstream.inference.stops import StopRules  # noqa: E402
from slipstream.server.settings import Settings  # noqa: E402

CLASSES = ("mid_line", "end_of_line", "after_opener", "if_body")


@dataclass
class Case:
    cls: str
    file: str
    prefix: str
    middle: str
    suffix: str
    if_indent: int = -1  # the if header's column (if_body cases)


def _lines_offset(lines: list[str], row: int) -> int:
    return sum(len(x) + 1 for x in lines[:row])


def cases_from_file(path: Path, rng: random.Random) -> dict[str, list[Case]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    lines = text.split("\n")
    out: dict[str, list[Case]] = {c: [] for c in CLASSES}
    blocks = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.For, ast.While, ast.With, ast.If))]
    for node in blocks:
        body = node.body
        if not body or body[0].lineno <= node.lineno or node.end_lineno is None:
            continue
        first, last = body[0].lineno - 1, body[-1].end_lineno - 1  # 0-based rows of the body
        body_lines = lines[first : last + 1]
        indent = body_lines[0][: len(body_lines[0]) - len(body_lines[0].lstrip())]
        if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            continue  # a docstring body: prose, another benchmark
        # An empty line after the block opener: the middle is the whole body.
        start = _lines_offset(lines, first)
        end = _lines_offset(lines, last) + len(lines[last])
        out["after_opener"].append(
            Case("after_opener", path.name, text[:start] + indent, "\n".join(body_lines).lstrip(), text[end:])
        )
        # Inside an if body that has an else: the middle is the rest of the body.
        if isinstance(node, ast.If) and node.orelse and len(body) >= 2:
            k = rng.randrange(1, len(body))
            row = body[k].lineno - 1
            s = _lines_offset(lines, row)
            out["if_body"].append(
                Case("if_body", path.name, text[:s] + indent, text[s + len(indent) : end], text[end:], node.col_offset)
            )
        # End of a statement line inside the block: the middle is the rest of the block.
        if len(body) >= 2:
            stmt = body[rng.randrange(0, len(body) - 1)]
            if stmt.end_lineno == stmt.lineno:
                row = stmt.lineno - 1
                s = _lines_offset(lines, row) + len(lines[row])
                out["end_of_line"].append(Case("end_of_line", path.name, text[:s], text[s:end], text[end:]))
    # Mid-line: a code line cut after an opening bracket, '=' or a keyword.
    for row, line in enumerate(lines):
        s = line.strip()
        if len(s) < 16 or s.startswith(("#", '"', "'", "@")) or s.endswith(":"):
            continue
        marks = [i + 1 for i, c in enumerate(line) if c in "(=[," and len(line.lstrip()) > 0 and i > len(line) // 4]
        marks = [m for m in marks if 3 <= len(line) - m]
        if not marks:
            continue
        col = rng.choice(marks)
        if line[col : col + 1] == " ":
            col += 1
        off = _lines_offset(lines, row)
        out["mid_line"].append(Case("mid_line", path.name, text[: off + col], line[col:], text[off + len(line) :]))
    return out


def pick_cases(root: Path, n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    files = sorted(p for p in root.glob("*.py") if not p.name.startswith(("test", "_")))
    rng.shuffle(files)
    pools: dict[str, list[Case]] = {c: [] for c in CLASSES}
    for f in files[:40]:
        for cls, cs in cases_from_file(f, rng).items():
            pools[cls].extend(cs)
    per = max(1, n // len(CLASSES))
    chosen: list[Case] = []
    for cls in CLASSES:
        pool = [c for c in pools[cls] if len(c.middle) < 1500]
        chosen.extend(rng.sample(pool, min(per, len(pool))))
    return chosen


def writes_else(text: str, case: Case) -> bool:
    """Does the suggestion write an else/elif of the enclosing if (a line at the if header's column)?"""
    if case.if_indent < 0:
        return False
    first_col = len(case.prefix) - case.prefix.rfind("\n") - 1
    for i, ln in enumerate(text.split("\n")):
        col = first_col + len(ln) - len(ln.lstrip()) if i == 0 else len(ln.expandtabs(4)) - len(ln.lstrip())
        if ln.strip().startswith(("else", "elif")) and col <= case.if_indent:
            return True
    return False


def overrun(text: str, middle: str) -> int:
    return max(0, len(text.rstrip()) - len(middle.rstrip()))


def context_for(case: Case) -> str:
    from slipstream.completion.project_context import project_context

    doc = case.prefix + case.suffix
    line = case.prefix.count("\n")
    col = len(case.prefix) - case.prefix.rfind("\n") - 1
    return project_context(doc, None, line, col)


def run(cases: list[Case], settings: Settings, raw_tokens: int, with_context: bool = False) -> list[dict]:
    model = load_model(settings.model_config())
    engine = Engine(model)
    rows = []
    try:
        for case in cases:
            doc = case.prefix + case.suffix
            prepared = prepare(PrepareRequest(doc, len(case.prefix), Options.from_settings(settings)), model)
            raw_req = GenerationRequest(
                prepared.prompt, StopRules(max_tokens=raw_tokens, max_lines=10**6, time_budget_s=60)
            )
            variants = ("a", "b", "c") if with_context else ("a", "b")
            for variant in variants:
                t0 = time.perf_counter()
                if variant == "a":
                    r = engine.submit(raw_req).result()
                    text = r.text
                elif variant == "b":
                    r = engine.submit(request_for(prepared)).result()
                    text = finish(prepared, r)
                else:  # (b) with jedi project context ahead of the prefix
                    with_ctx = prepare(
                        PrepareRequest(doc, len(case.prefix), Options.from_settings(settings), extra=context_for(case)),
                        model,
                    )
                    r = engine.submit(request_for(with_ctx)).result()
                    text = finish(with_ctx, r)
                dt = time.perf_counter() - t0
                rows.append(
                    {
                        "cls": case.cls,
                        "variant": variant,
                        "exact": text.strip() == case.middle.strip(),
                        "sim": difflib.SequenceMatcher(None, text.strip(), case.middle.strip()).ratio(),
                        "overrun": overrun(text, case.middle),
                        "tokens": r.n_tokens,
                        "ms": dt * 1000,
                        "breaks": bool(text.strip()) and breaks_syntax(case.prefix, text, case.suffix),
                        "else": writes_else(text, case),
                        "shown": bool(text.strip()),
                    }
                )
    finally:
        engine.close()
    return rows


def table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    hdr = (
        f"{'class':<13}{'var':>4}{'n':>4}{'exact':>7}{'edit sim':>9}{'overrun':>9}{'tokens':>8}{'ms':>7}"
        f"{'syntax✗':>9}{'else':>6}{'shown':>7}"
    )
    print(hdr)
    print("─" * len(hdr))
    for cls in (*CLASSES, "overall"):
        for v in ("a", "b", "c"):
            rs = [r for r in rows if r["variant"] == v and (cls == "overall" or r["cls"] == cls)]
            if not rs:
                continue
            n = len(rs)
            print(
                f"{cls:<13}{v:>4}{n:>4}{sum(r['exact'] for r in rs) / n:>7.0%}"
                f"{statistics.mean(r['sim'] for r in rs):>9.2f}{statistics.mean(r['overrun'] for r in rs):>9.1f}"
                f"{statistics.mean(r['tokens'] for r in rs):>8.1f}{statistics.median(r['ms'] for r in rs):>7.0f}"
                f"{sum(r['breaks'] for r in rs) / n:>9.0%}{sum(r['else'] for r in rs):>6}"
                f"{sum(r['shown'] for r in rs) / n:>7.0%}"
            )
    a = [r for r in rows if r["variant"] == "a"]
    b = [r for r in rows if r["variant"] == "b"]
    ta, tb = sum(r["tokens"] for r in a), sum(r["tokens"] for r in b)
    oa, ob = sum(r["overrun"] for r in a), sum(r["overrun"] for r in b)
    sa, sb = sum(r["breaks"] for r in a), sum(r["breaks"] for r in b)
    print("─" * len(hdr))
    print(
        f"(b) vs (a): tokens {1 - tb / max(1, ta):.0%} fewer, overrun {1 - ob / max(1, oa):.0%} less, "
        f"syntax-breaking {sa} → {sb}, exact {sum(r['exact'] for r in a)} → {sum(r['exact'] for r in b)}, "
        f"edit sim {statistics.mean(r['sim'] for r in a):.3f} → {statistics.mean(r['sim'] for r in b):.3f}, "
        f"else written {sum(r['else'] for r in a)} → {sum(r['else'] for r in b)}"
    )
    c = [r for r in rows if r["variant"] == "c"]
    if c:
        print(
            f"(c) jedi project context vs (b): exact {sum(r['exact'] for r in b)} → {sum(r['exact'] for r in c)}, "
            f"edit sim {statistics.mean(r['sim'] for r in b):.3f} → {statistics.mean(r['sim'] for r in c):.3f}, "
            f"median latency {statistics.median(r['ms'] for r in b):.0f} → "
            f"{statistics.median(r['ms'] for r in c):.0f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="")
    ap.add_argument("--raw-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", action="store_true", help="also (c): (b) with jedi project context")
    args = ap.parse_args()
    cases = pick_cases(Path(args.dir), args.n, args.seed)
    settings = Settings(model_path=args.model, threads=args.threads, max_lines=8, max_tokens=128)
    rows = run(cases, settings, args.raw_tokens, args.context)
    name = Path(args.model).name if args.model else "default model (Gemma 3 270M, prefix-driven)"
    table(
        rows,
        f"FIM eval — {len(cases)} positions from {args.dir} (seed {args.seed}), {name}; "
        f"(a) raw, {args.raw_tokens} tokens; (b) Slipstream policy + post-processing",
    )


if __name__ == "__main__":
    main()
