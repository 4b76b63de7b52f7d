"""Does the policy help? Raw generation vs Slipstream's policy + post-processing, same engine, same prompts.

Real code nobody here wrote: by default a fixed-seed sample of files from the installed CPython
standard library (or any directory given). For N cursor positions in four classes (mid-line, end of a
line in a block, an empty line after a block opener, inside an if body that has an else), the true
middle is the rest of the line (mid-line) or the rest of the block. (a) generates with a fixed token
limit and no post-processing; (b) uses Slipstream's plan, streaming stops and post-processing.

Token healing (inference/healing.py) is measured the same way: by default every variant runs with healing
off and on, on the same positions in the same run (``--healing off|on`` runs one side only). Variants of
one position run in an order rotated per position; before each, the KV cache holds the position's prompt
but its last ``WARM_TAIL`` tokens, so every job starts from the same state; (c) starts from (b)'s state, as
the server does when the background context first arrives (its first-token time includes that re-prefill).
Positions right after a space in mid-line code (``max(a, |``) are also run one character earlier (before
the space, its middle one space longer): a cursor after whitespace should get a suggestion at least as often
as one character earlier.

Usage: .venv/bin/python bench/fim_eval.py [DIR] [--n 60] [--seed 0] [--model M.gguf] [--raw-tokens 64]
       [--healing both|on|off] [--variants ab] [--time-budget-ms 2000] [--context] [--json ROWS.json]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import json
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
from slipstream.inference.healing import Vocabulary  # noqa: E402
from slipstream.inference.model import LoadedModel, load_model, token_pieces  # noqa: E402
from slipstream.inference.stops import StopRules  # noqa: E402
from slipstream.server.settings import Settings  # noqa: E402

from bench.replay import pct  # noqa: E402

CLASSES = ("mid_line", "end_of_line", "after_opener", "if_body")
WARM_TAIL = 8  # prompt tokens left to evaluate in each measured job (a keystroke's worth and some)


@dataclass
class Case:
    cls: str
    file: str
    prefix: str
    middle: str
    suffix: str
    if_indent: int = -1  # the if header's column (if_body cases)
    earlier: bool = False  # the companion of an after-space position, one character before it


def after_space(case: Case) -> bool:
    """The cursor right after a space that follows code on its line (not indentation)."""
    line = case.prefix[case.prefix.rfind("\n") + 1 :]
    return line.endswith(" ") and bool(line.strip()) and not line[:-1].endswith((" ", "\t"))


def one_earlier(case: Case) -> Case:
    """The same position one character before: the space moves into the middle."""
    return dataclasses.replace(case, prefix=case.prefix[:-1], middle=case.prefix[-1] + case.middle, earlier=True)


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


def vocabulary_cost(model: LoadedModel) -> None:
    """What token healing's per-model precomputation costs (it runs once, inside the model's load)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(model.llama.model)
    t0 = time.perf_counter()
    pieces = token_pieces(llama_cpp, vocab, llama_cpp.llama_vocab_n_tokens(vocab))
    t1 = time.perf_counter()
    index = Vocabulary(pieces)
    t2 = time.perf_counter()
    size = sum(sys.getsizeof(p) for p in pieces) + 8 * (len(pieces) + len(index._keys)) + index._ids.nbytes
    print(
        f"token healing's vocabulary: {len(pieces)} tokens read in {t1 - t0:.2f} s, sorted in {t2 - t1:.2f} s, "
        f"~{size / 2**20:.0f} MB"
    )


def run(
    cases: list[Case],
    settings: Settings,
    raw_tokens: int,
    with_context: bool = False,
    healing: tuple[bool, ...] = (False, True),
    variants: tuple[str, ...] = ("a", "b"),
) -> list[dict]:
    model = load_model(settings.model_config())
    vocabulary_cost(model)
    engine = Engine(model)
    rows = []
    base = Options.from_settings(settings)
    try:
        for i, case in enumerate(cases):
            doc = case.prefix + case.suffix
            these = ("b",) if case.earlier else (*variants, "c") if with_context else variants
            jobs = [(v, h) for h in healing for v in these]
            jobs = jobs[i % len(jobs) :] + jobs[: i % len(jobs)]  # rotate who goes first (the machine warms up)
            for variant, heal in jobs:
                options = dataclasses.replace(base, token_healing=heal)
                extra = context_for(case) if variant == "c" else ""
                prepared = prepare(PrepareRequest(doc, len(case.prefix), options, extra=extra), model)
                # The same KV state before every job: all but the prompt's last WARM_TAIL tokens evaluated, as
                # after the previous keystroke. Each job then evaluates its own tail (so first-token times
                # compare), and identical prompts give identical text (a different batch split can flip a
                # greedy pick: one unhealed position's overrun moved 51 → 151 chars between two orders).
                # (c) starts from (b)'s state instead: the server computes the context in the background and puts
                # it ahead of the window once ready, so the keystroke that first uses it evaluates the prompt
                # again from there; that is the latency the setting costs, and (c)'s first-token time shows it.
                plain = prepared if variant != "c" else prepare(PrepareRequest(doc, len(case.prefix), options), model)
                tokens = plain.prompt.tokens
                warm = dataclasses.replace(plain.prompt, tokens=tokens[: max(1, len(tokens) - WARM_TAIL)], heal=None)
                engine.submit(GenerationRequest(warm, StopRules(max_tokens=1))).result()
                t0 = time.perf_counter()
                if variant == "a":
                    raw = StopRules(max_tokens=raw_tokens, max_lines=10**6, time_budget_s=60)
                    r = engine.submit(GenerationRequest(prepared.prompt, raw)).result()
                    text = r.text
                else:  # (b) Slipstream's plan and post-processing; (c) the same with jedi project context
                    r = engine.submit(request_for(prepared)).result()
                    text = finish(prepared, r)
                dt = time.perf_counter() - t0
                rows.append(
                    {
                        "cls": case.cls,
                        "variant": variant,
                        "heal": heal,
                        "healed": prepared.prompt.heal is not None,
                        "after_space": after_space(case),
                        "earlier": case.earlier,
                        "key": (case.file, len(case.prefix) + case.earlier),
                        "exact": text.strip() == case.middle.strip(),
                        "sim": difflib.SequenceMatcher(None, text.strip(), case.middle.strip()).ratio(),
                        "overrun": overrun(text, case.middle),
                        "tokens": r.n_tokens,
                        "ms": dt * 1000,
                        "first_ms": (r.t_first_token_s or 0) * 1000,
                        "stop": r.stop_reason,
                        "breaks": bool(text.strip()) and breaks_syntax(case.prefix, text, case.suffix),
                        "else": writes_else(text, case),
                        "shown": bool(text.strip()),
                        "context": bool(extra.strip()),
                    }
                )
    finally:
        engine.close()
    return rows


def _mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows) if rows else 0.0


def table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    hdr = (
        f"{'class':<13}{'var':>4}{'heal':>5}{'n':>4}{'healed':>7}{'exact':>7}{'edit sim':>9}{'overrun':>9}"
        f"{'tokens':>8}{'ms':>7}{'1st ms':>7}{'time✗':>7}{'syntax✗':>9}{'else':>6}{'shown':>7}"
    )
    print(hdr)
    print("─" * len(hdr))
    main = [r for r in rows if not r["earlier"]]
    for cls in (*CLASSES, "overall"):
        for v in ("a", "b", "c"):
            for heal in (False, True):
                rs = [r for r in main if r["variant"] == v and r["heal"] == heal and cls in ("overall", r["cls"])]
                if not rs:
                    continue
                n = len(rs)
                print(
                    f"{cls:<13}{v:>4}{'on' if heal else 'off':>5}{n:>4}{sum(r['healed'] for r in rs) / n:>7.0%}"
                    f"{sum(r['exact'] for r in rs) / n:>7.0%}{_mean(rs, 'sim'):>9.3f}{_mean(rs, 'overrun'):>9.1f}"
                    f"{_mean(rs, 'tokens'):>8.1f}{statistics.median(r['ms'] for r in rs):>7.0f}"
                    f"{statistics.median(r['first_ms'] for r in rs):>7.0f}"
                    f"{sum(r['stop'] == 'time' for r in rs):>7}"
                    f"{sum(r['breaks'] for r in rs) / n:>9.0%}{sum(r['else'] for r in rs):>6}"
                    f"{sum(r['shown'] for r in rs) / n:>7.0%}"
                )
    print("─" * len(hdr))
    for heal in sorted({r["heal"] for r in rows}):
        a = [r for r in main if r["variant"] == "a" and r["heal"] == heal]
        b = [r for r in main if r["variant"] == "b" and r["heal"] == heal]
        ta, tb = sum(r["tokens"] for r in a), sum(r["tokens"] for r in b)
        oa, ob = sum(r["overrun"] for r in a), sum(r["overrun"] for r in b)
        if a and b:
            print(
                f"healing {'on' if heal else 'off'}: (b) vs (a): tokens {1 - tb / max(1, ta):.0%} fewer, "
                f"overrun {1 - ob / max(1, oa):.0%} less, syntax-breaking {sum(r['breaks'] for r in a)} → "
                f"{sum(r['breaks'] for r in b)}, exact {sum(r['exact'] for r in a)} → {sum(r['exact'] for r in b)}, "
                f"edit sim {_mean(a, 'sim'):.3f} → {_mean(b, 'sim'):.3f}, "
                f"else written {sum(r['else'] for r in a)} → {sum(r['else'] for r in b)}"
            )
        c = [r for r in main if r["variant"] == "c" and r["heal"] == heal]
        if c:
            print(
                f"healing {'on' if heal else 'off'}: (c) jedi project context vs (b): exact "
                f"{sum(r['exact'] for r in b)} → {sum(r['exact'] for r in c)}, edit sim {_mean(b, 'sim'):.3f} → "
                f"{_mean(c, 'sim'):.3f}, median latency {statistics.median(r['ms'] for r in b):.0f} → "
                f"{statistics.median(r['ms'] for r in c):.0f} ms, first token "
                f"{statistics.median(r['first_ms'] for r in b):.0f} → "
                f"{statistics.median(r['first_ms'] for r in c):.0f} ms (p95 {pct([r['first_ms'] for r in b], 0.95):.0f}"
                f" → {pct([r['first_ms'] for r in c], 0.95):.0f});"
                f" jedi gave context at {sum(r['context'] for r in c)} of {len(c)} positions"
            )
    heals = sorted({r["heal"] for r in rows})
    if len(heals) == 2:
        print("\nhealing off → on, same positions, same run:")
        for v in ("a", "b", "c"):
            off = [r for r in main if r["variant"] == v and not r["heal"]]
            on = [r for r in main if r["variant"] == v and r["heal"]]
            if not off or not on:
                continue
            print(
                f"  ({v}) exact {sum(r['exact'] for r in off)} → {sum(r['exact'] for r in on)} of {len(on)}, "
                f"edit sim {_mean(off, 'sim'):.3f} → {_mean(on, 'sim'):.3f}, "
                f"overrun {_mean(off, 'overrun'):.1f} → {_mean(on, 'overrun'):.1f} chars, "
                f"shown {sum(r['shown'] for r in off)} → {sum(r['shown'] for r in on)}, "
                f"median ms {statistics.median(r['ms'] for r in off):.0f} → "
                f"{statistics.median(r['ms'] for r in on):.0f}, "
                f"median first-token ms {statistics.median(r['first_ms'] for r in off):.0f} → "
                f"{statistics.median(r['first_ms'] for r in on):.0f}"
            )
            # Paired by position: what healing changes where both showed something, and the first token's
            # time on/off at the same position (the machine's load moves both alike).
            by_key = {r["key"]: r for r in off}
            pairs = [(by_key[r["key"]], r) for r in on if r["key"] in by_key]
            both = [(x, y) for x, y in pairs if x["shown"] and y["shown"]]
            ratios = [y["first_ms"] / x["first_ms"] for x, y in pairs if x["first_ms"] > 0 and y["first_ms"] > 0]
            if both:
                print(
                    f"      where both showed ({len(both)}): overrun "
                    f"{statistics.mean(x['overrun'] for x, _ in both):.1f} → "
                    f"{statistics.mean(y['overrun'] for _, y in both):.1f} chars, exact "
                    f"{sum(x['exact'] for x, _ in both)} → {sum(y['exact'] for _, y in both)}; shown only with "
                    f"healing off {sum(x['shown'] and not y['shown'] for x, y in pairs)}, only on "
                    f"{sum(y['shown'] and not x['shown'] for x, y in pairs)}"
                )
            if ratios:
                q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
                print(
                    f"      first token, on/off at the same position: median {statistics.median(ratios):.2f}×, "
                    f"quartiles {q[0]:.2f}–{q[2]:.2f}×"
                )
    after = [r for r in main if r["variant"] == "b" and r["after_space"]]
    earlier = [r for r in rows if r["earlier"]]
    if after and earlier:
        print("\n(b) after a space vs one character earlier (before the space), same positions:")
        print(f"  {'heal':<6}{'n':>4}{'shown after':>13}{'shown before':>14}{'exact after':>13}{'exact before':>14}")
        for heal in heals:
            aft = [r for r in after if r["heal"] == heal]
            bef = [r for r in earlier if r["heal"] == heal]
            ok = "≥" if sum(r["shown"] for r in aft) >= sum(r["shown"] for r in bef) else "<"
            print(
                f"  {'on' if heal else 'off':<6}{len(aft):>4}{sum(r['shown'] for r in aft):>13}"
                f"{sum(r['shown'] for r in bef):>14}{sum(r['exact'] for r in aft):>13}"
                f"{sum(r['exact'] for r in bef):>14}   after {ok} before"
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
    ap.add_argument("--variants", default="ab", help="which of (a) raw and (b) policy to run (default: ab)")
    ap.add_argument("--json", default="", help="also write every row to this file")
    ap.add_argument("--time-budget-ms", type=int, default=2000, help="(b)'s budget (the setting's default)")
    ap.add_argument("--healing", choices=("both", "on", "off"), default="both", help="token healing (default: both)")
    args = ap.parse_args()
    cases = pick_cases(Path(args.dir), args.n, args.seed)
    cases += [one_earlier(c) for c in cases if after_space(c)]
    settings = Settings(
        model_path=args.model, threads=args.threads, max_lines=8, max_tokens=128, time_budget_ms=args.time_budget_ms
    )
    healing = {"both": (False, True), "on": (True,), "off": (False,)}[args.healing]
    variants = tuple(v for v in "ab" if v in args.variants) or ("b",)
    rows = run(cases, settings, args.raw_tokens, args.context, healing, variants)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    name = Path(args.model).name if args.model else "default model (Gemma 3 270M, prefix-driven)"
    table(
        rows,
        f"FIM eval — {len(cases)} positions from {args.dir} (seed {args.seed}), {name}; "
        f"(a) raw, {args.raw_tokens} tokens; (b) Slipstream policy + post-processing",
    )


if __name__ == "__main__":
    main()
