"""Latency over LSP next to raw llama-cpp-python, side by side in one run.

For 20 cursor positions in a real file (each line cut at the cursor, as while typing), measure over
the real server on stdio: keystroke -> first streamed partial, and -> final answer. Then replay the
same prompts in-process with raw ``Llama.generate`` for the same number of tokens, in the same order
(so prefix reuse is the same for both). Prints a table and the overhead ratios.

Usage: .venv/bin/python bench/latency.py [--file F] [--positions 20] [--paces human,fast,30ms] [--speculation]
       [--llama-server PATH] [--rounds N]
       .venv/bin/python bench/latency.py --engine llamacpp|openai [--endpoint URL]   (bench/remote.py)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from slipstream.cli.demo import plain  # noqa: E402
from slipstream.completion.prepare import Options, PrepareRequest, prepare  # noqa: E402
from slipstream.inference.model import load_model  # noqa: E402
from slipstream.server.settings import Settings  # noqa: E402

from bench.replay import PACES, region_from, replay, summary  # noqa: E402


def pick_positions(text: str, n: int) -> list[tuple[int, int]]:
    """Mid-line cursor positions (line, column) spread over the file: after the first '(' or '= '."""
    lines = text.split("\n")
    candidates = []
    for i, line in enumerate(lines):
        s = line.strip()
        if len(s) < 12 or s.startswith(("#", '"""', "@")):
            continue
        for mark in ("(", "= ", "return ", "in "):
            j = line.find(mark)
            if 0 < j < len(line) - 3:
                candidates.append((i, j + len(mark)))
                break
    step = max(1, len(candidates) // n)
    return candidates[::step][:n]


def cut_line(text: str, line: int, col: int) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:col]
    return "\n".join(lines)


async def lsp_pass(text: str, positions: list[tuple[int, int]], threads: int) -> list[dict[str, Any]]:
    client = LanguageClient("bench", "0")
    first: dict[int, float] = {}

    @client.feature("slipstream/inlineCompletionPartial")
    def on_partial(params: Any) -> None:
        p = plain(params)
        first.setdefault(p["version"], time.perf_counter())

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: Any) -> None:
        pass

    await client.start_io(sys.executable, "-m", "slipstream.server")
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            # Pure overhead: no answers from the cache or from speculation.
            initialization_options={"threads": threads, "maxLines": 1, "cache": False, "speculate": False},
        )
    )
    client.initialized(types.InitializedParams())
    while plain(await client.protocol.send_request_async("slipstream/getStatus", {}))["state"] != "ready":
        await asyncio.sleep(0.1)
    uri = "file:///bench/sample.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=0, text=text)
        )
    )
    rows = []
    version = 0
    for line, col in positions:
        version += 1
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=cut_line(text, line, col))],
            )
        )
        t0 = time.perf_counter()
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=col),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
        )
        t1 = time.perf_counter()
        rec = plain(await client.protocol.send_request_async("slipstream/getStatus", {}))["recent"][-1]
        rows.append(
            {
                "pos": f"{line + 1}:{col + 1}",
                "tokens": rec["tokens"],
                "prompt_tokens": rec["prompt_tokens"],
                "reused": rec["reused_tokens"],
                "engine_first_ms": rec["first_ms"],
                "queued_ms": rec.get("queued_ms"),
                "prefill_ms": rec.get("prefill_ms"),
                "lsp_first_ms": (first[version] - t0) * 1000 if version in first else None,
                "lsp_final_ms": (t1 - t0) * 1000,
                "text": result.items[0].insert_text if result and result.items else "",
            }
        )
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return rows


def raw_pass(text: str, positions: list[tuple[int, int]], rows: list[dict[str, Any]], threads: int) -> None:
    """The same prompts through plain ``Llama.generate`` (greedy), same token counts, same order."""
    settings = Settings(threads=threads, max_lines=1)
    model = load_model(settings.model_config())
    llama = model.llama
    for (line, col), row in zip(positions, rows, strict=True):
        doc = cut_line(text, line, col)
        offset = sum(len(x) + 1 for x in doc.split("\n")[:line]) + col
        tokens = prepare(PrepareRequest(doc, offset, Options.from_settings(settings)), model).prompt.tokens
        want = max(1, row["tokens"])
        t0 = time.perf_counter()
        t_first = None
        n = 0
        for _tok in llama.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            n += 1
            if t_first is None:
                t_first = time.perf_counter()
            if n >= want:
                break
        t1 = time.perf_counter()
        row["raw_first_ms"] = (t_first - t0) * 1000
        row["raw_total_ms"] = (t1 - t0) * 1000


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def overhead(file: str, n_positions: int, threads: int) -> None:
    text = Path(file).read_text()
    positions = pick_positions(text, n_positions)
    rows = asyncio.run(lsp_pass(text, positions, threads))
    raw_pass(text, positions, rows, threads)
    overhead_table(rows, Path(file).name, threads)


def overhead_table(rows: list[dict[str, Any]], name: str, threads: int) -> None:
    print(
        f"\nOverhead: latency over LSP vs raw llama-cpp-python — {name}, {len(rows)} positions, "
        f"{threads} threads, default model\n"
    )
    hdr = (
        f"{'pos':>7} {'prompt':>6} {'reused':>6} {'tok':>4} │ {'LSP first':>9} {'engine':>6} {'raw first':>9} │ "
        f"{'LSP final':>9} {'raw total':>9} │ {'ratio':>5}"
    )
    print(hdr)
    print("─" * len(hdr))
    for r in rows:
        lf = f"{r['lsp_first_ms']:.0f}" if r["lsp_first_ms"] is not None else "—"
        ef = f"{r['engine_first_ms']:.0f}" if r["engine_first_ms"] is not None else "—"
        print(
            f"{r['pos']:>7} {r['prompt_tokens']:>6} {r['reused']:>6} {r['tokens']:>4} │ {lf:>9} {ef:>6} "
            f"{r['raw_first_ms']:>9.0f} │ {r['lsp_final_ms']:>9.0f} {r['raw_total_ms']:>9.0f} │ "
            f"{r['lsp_final_ms'] / r['raw_total_ms']:>5.2f}"
        )
    warm = rows[1:]  # the first prompt is cold for both
    lf = [r["lsp_first_ms"] for r in warm if r["lsp_first_ms"] is not None]
    rf = [r["raw_first_ms"] for r in warm]
    lt = [r["lsp_final_ms"] for r in warm]
    rt = [r["raw_total_ms"] for r in warm]
    print("─" * len(hdr))
    print(
        f"warm positions (n={len(warm)}):  first token p50 LSP {statistics.median(lf):.0f} ms vs raw "
        f"{statistics.median(rf):.0f} ms; p95 LSP {pct(lf, 0.95):.0f} vs raw {pct(rf, 0.95):.0f} ms"
    )
    print(
        f"                         final p50 LSP {statistics.median(lt):.0f} ms vs raw {statistics.median(rt):.0f} ms;"
        f" p95 LSP {pct(lt, 0.95):.0f} vs raw {pct(rt, 0.95):.0f} ms"
    )
    print(
        f"overhead ratio (LSP / raw), medians: first {statistics.median(lf) / statistics.median(rf):.2f}×, "
        f"final {statistics.median(lt) / statistics.median(rt):.2f}×; "
        f"sum of finals {sum(lt) / sum(rt):.2f}×"
    )


def q(values: list[float], p: float) -> float:
    return pct(values, p) if values else float("nan")


def replay_section(
    file: str,
    n_lines: int,
    seed: int,
    threads: int,
    llama_server: str | None = None,
    paces: tuple[str, ...] = PACES,
    compare_speculation: bool = False,
    rounds: int = 1,
) -> None:
    from slipstream.inference.model import default_model_path

    rng = random.Random(seed)
    big = Path(file).read_text()
    region = region_from(big, n_lines, rng)
    lines = big.split("\n")
    # The same region near the end of a ~100 KB file, and inside a ~1 KB one (a few lines around it).
    filler = lines[: region[0]]
    while len("\n".join(filler)) < 100_000:
        filler = filler + lines[: region[0]]
    large_lines = filler[-len(filler) :] + lines[region[0] : region[1] + 3]
    large = "\n".join(large_lines)
    large_region = (len(filler), len(filler) + n_lines)
    lo = max(0, region[0] - 8)
    small = "\n".join(lines[lo : region[1] + 3])
    small_region = (region[0] - lo, region[0] - lo + n_lines)
    model_mb = Path(default_model_path()).stat().st_size / 2**20
    print(
        f"\nTyping replay — {n_lines} lines of {Path(file).name} (seed {seed}) typed key by key; paces: human "
        f"(60-140 ms between keys, pauses at line ends), fast (the next key when the previous answer arrived), "
        f"30ms (a fixed gap); {threads} threads, default model; every keystroke counts; {rounds} round(s), each "
        f"replaying both files (the first alternating) with the setups in turn, every round's keys pooled"
    )
    hdr = (
        f"{'who':<13}{'pace':<7}{'file':<12}{'keys':>6}{'ghost':>7}{'first p50':>10}{'first p95':>10}"
        f"{'p95 all':>9}{'full p50':>9}{'reused':>8}{'peak RSS':>10}"
    )
    print(hdr)
    print("─" * len(hdr))
    rows: dict[tuple[str, str, str], dict] = {}
    setups = [("slipstream", "Slipstream", {})]
    if compare_speculation:  # the same keys with speculation off: does it still pay at this pace?
        setups.append(("no-speculation", "  spec. off", {"speculate": False}))
    files = (("small", small, small_region), ("large", large, large_region))
    for pace in paces:
        # Each round replays both files, each with every setup once, in turn (the 1 KB file with Slipstream,
        # speculation off and llama-server, then the 100 KB one; the next round the 100 KB file first): a slow
        # minute of the machine falls on both sides of every ratio (all rounds of one file, then all of the
        # other, put a drift of the machine's speed into the size ratio), and every round's keys are pooled.
        firsts: dict[tuple[str, str], list[float | None]] = {}
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for i in range(rounds):
            for label, doc, reg in files if i % 2 == 0 else files[::-1]:
                for key, _who, settings in setups:
                    r = asyncio.run(replay(doc, reg, seed, threads, label, pace, **settings))
                    firsts.setdefault((key, label), []).extend(r["every_first"])
                    runs.setdefault((key, label), []).append(r)
                if llama_server:
                    from bench.llama_server import replay_llama_server

                    t = asyncio.run(replay_llama_server(llama_server, doc, reg, seed, threads, pace))
                    firsts.setdefault(("llama-server", label), []).extend(t["every_first"])
        for label, _doc, _reg in files:
            for key, who, _settings in setups:
                sm = rows[key, pace, label] = summary(firsts[key, label])
                rs = runs[key, label]
                reused = sum(r["typed_through"] + r["cache_hits"] for r in rs) / max(1, sum(r["answered"] for r in rs))
                final = [f for r in rs for f in r["final"]]
                print(
                    f"{who:<13}{pace:<7}{label + ' ' + str(round(rs[0]['chars'] / 1000)) + ' KB':<12}{sm['keys']:>6}"
                    f"{sm['share']:>7.1%}{sm['p50']:>10.1f}{sm['p95']:>10.0f}{sm['p95_all']:>9.0f}"
                    f"{q(final, 0.5):>9.0f}{reused:>8.0%}{max(r['rss_mb'] for r in rs):>7.0f} MB"
                )
            if llama_server:
                st = rows["llama-server", pace, label] = summary(firsts["llama-server", label])
                print(
                    f"{'llama-server':<13}{pace:<7}{label:<12}{st['keys']:>6}{st['share']:>7.1%}{st['p50']:>10.1f}"
                    f"{st['p95']:>10.0f}{st['p95_all']:>9.0f}"
                )
    print("─" * len(hdr))
    for pace in paces:
        s_, b_ = rows["slipstream", pace, "small"], rows["slipstream", pace, "large"]
        line = f"{pace:<6} 100 KB / 1 KB first ghost text: p50 {b_['p50'] / s_['p50']:.2f}, "
        line += f"p95 {b_['p95'] / s_['p95']:.2f}"
        if compare_speculation:
            for label in ("small", "large"):
                o, n = rows["slipstream", pace, label], rows["no-speculation", pace, label]
                line += f"; {label} speculation on/off p50 ×{o['p50'] / n['p50']:.2f}, p95 ×{o['p95'] / n['p95']:.2f}"
        if llama_server:
            for label in ("small", "large"):
                o, t = rows["slipstream", pace, label], rows["llama-server", pace, label]
                line += f"; {label} vs llama-server p50 ×{o['p50'] / t['p50']:.2f}, p95 ×{o['p95'] / t['p95']:.2f}"
        print(line)
    print(f"(model file {model_mb:.0f} MB; 'p95 all' counts a keystroke with no ghost text as never shown)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", default=str(Path(sysconfig.get_paths()["stdlib"]) / "argparse.py"))
    ap.add_argument("--lines", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--positions", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-replay", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true", help="only the typing replay")
    ap.add_argument("--paces", default=",".join(PACES), help="typing paces to replay (bench/replay.py PACES)")
    ap.add_argument("--llama-server", metavar="PATH", help="also replay against this llama-server binary")
    ap.add_argument("--speculation", action="store_true", help="also replay every pace with speculation off")
    ap.add_argument("--rounds", type=int, default=1, help="replay each setup this many times, in turn; keys pooled")
    ap.add_argument("--engine", choices=("openai", "llamacpp"), help="Slipstream over this remote engine vs direct")
    ap.add_argument("--endpoint", help="with --engine: the server (default: start one on loopback)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be 1 or more")
    if args.engine:
        from bench.remote import main as remote_main

        remote_main(args.engine, args.endpoint, str(ROOT / "examples" / "inventory.py"), args.positions, args.threads)
        return
    if not args.skip_replay:
        paces = tuple(p for p in args.paces.split(",") if p)
        replay_section(
            args.file, args.lines, args.seed, args.threads, args.llama_server, paces, args.speculation, args.rounds
        )
    if not args.skip_overhead:
        overhead(str(ROOT / "examples" / "inventory.py"), args.positions, args.threads)


if __name__ == "__main__":
    main()
