"""Soak: a long editing session against one server — does it stay fast, small and error-free?

Types ``--keys`` keystrokes (default 10,000) of real code from the standard library, line by line, into
a new document per 20-line region, never the same text twice in a run (didChange + inlineCompletion per
key, 40–110 ms apart, pauses at line ends), and runs ``slipstream.optimizeFunction`` a few times along
the way. Reports per 1,000 keystrokes the first-ghost-text latency (p50/p95), the server's RSS (median of
samples every 100 keystrokes) and the answers that came from the cache or were typed through, then: RSS
growth after the warm-up (the first 1,000 keystrokes) to the last 1,000, the peak sample, the last
1,000's p95 against the p95 of the 1,000 after the warm-up, and every error.

    python bench/soak.py [--keys 10000] [--optimize 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slipstream.cli.demo import plain  # noqa: E402

from bench.replay import insert_text, is_code_line  # noqa: E402

SOURCES = [
    "json/decoder.py", "csv.py", "textwrap.py", "statistics.py", "difflib.py", "fractions.py", "argparse.py",
    "configparser.py", "shlex.py", "tarfile.py", "zipfile/__init__.py", "pydoc.py", "inspect.py", "ast.py",
]  # fmt: skip
FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
FIB_TEST = "from shop import fib\n\n\ndef test_fib():\n    assert fib(18) == 2584\n"


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident MB, of which anonymous: heap and stacks). The rest is file-backed: mostly the model's
    weights, memory-mapped and paged in as new tokens' embeddings are first used; the kernel can drop
    those pages at any time."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("RssAnon", float("nan"))


def code_lines(rng: random.Random) -> list[tuple[str, list[str], int]]:
    """(file name, its lines, first line of a 20-line region of indented code): every such region of the
    sources that does not overlap another, in a random order, and never two with the same text — a soak
    must not retype what it typed before (the completion cache would answer, and the run would look faster
    the longer it goes)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    out, seen = [], set()
    for name in SOURCES:
        try:
            lines = (lib / name).read_text().split("\n")
        except OSError:
            continue
        i = 0
        while i < len(lines) - 20:
            region = lines[i : i + 20]
            if all(is_code_line(x) for x in region) and "\n".join(region) not in seen:
                seen.add("\n".join(region))
                out.append((name, lines, i))
                i += 20
            else:
                i += 1
    rng.shuffle(out)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def soak(n_keys: int, n_optimize: int, seed: int, trace: bool = False) -> int:
    rng = random.Random(seed)
    client = LanguageClient("soak", "0")
    first: dict[tuple[str, int], float] = {}
    errors: list[str] = []

    @client.feature("slipstream/inlineCompletionPartial")
    def on_partial(params: Any) -> None:
        p = plain(params)
        if p["text"]:
            first.setdefault((p["uri"], p["version"]), time.perf_counter())

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: Any) -> None:
        if params.type == types.MessageType.Error:
            errors.append(f"log: {params.message}")

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_show(params: Any) -> None:
        if params.type == types.MessageType.Error:
            errors.append(f"message: {params.message}")

    @client.feature("slipstream/status")
    def on_status(params: Any) -> None:
        pass

    tmp = Path(tempfile.mkdtemp(prefix="slipstream-soak-"))
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "shop.py").write_text(FIB)
    (ws / "test_shop.py").write_text(FIB_TEST)
    await client.start_io(sys.executable, "-m", "slipstream.server")
    pid = client._server.pid
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=ws.as_uri(),
            initialization_options={"storagePath": str(tmp / "storage"), "optimizer": {"modelProposals": False}},
        )
    )
    client.initialized(types.InitializedParams())
    while plain(await client.protocol.send_request_async("slipstream/getStatus", {}))["state"] != "ready":
        await asyncio.sleep(0.1)
    sources = code_lines(rng)
    latencies: list[float | None] = []
    reuse: list[tuple[int, int, int]] = []  # (keystrokes, cache hits, typed-through answers) every 1,000 keys
    rss: list[tuple[int, tuple[float, float]]] = [(0, rss_mb(pid))]
    optimize_at = {n_keys * (k + 1) // (n_optimize + 1) for k in range(n_optimize)}
    optimized: list[str] = []
    tasks: list[asyncio.Future] = []
    keys = 0
    doc_no = 0

    async def ask(uri: str, version: int, line: int, col: int, sent: float, slot: int) -> None:
        try:
            res = await client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=col),
                    context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
                )
            )
            done = time.perf_counter()
            t = first.get((uri, version))
            if t is None and res and res.items:
                t = done
            latencies[slot] = (t - sent) * 1000 if t is not None else None
        except Exception as exc:  # superseded/cancelled are the normal flow; anything else is an error
            code = getattr(exc, "code", None)
            if code not in (-32801, -32800):
                errors.append(f"request: {exc!r}")

    while keys < n_keys:
        if doc_no >= len(sources):
            errors.append(f"ran out of distinct regions to type after {keys} keystrokes")
            break
        name, lines, r0 = sources[doc_no]
        doc_no += 1
        uri = f"file:///soak/{doc_no}-{name.replace('/', '_')}"
        typed = lines[r0 : r0 + 20]
        doc = lines[:r0] + [""] + lines[r0 + 20 :]
        version = 1
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text="\n".join(doc))
            )
        )
        for i, text in enumerate(typed):
            row = r0 + i
            if i:
                version += 1
                insert_text(client, uri, version, row - 1, len(typed[i - 1]), "\n")
            for col, ch in enumerate(text):
                if keys >= n_keys:
                    break
                version += 1
                insert_text(client, uri, version, row, col, ch)
                latencies.append(None)
                tasks.append(asyncio.ensure_future(ask(uri, version, row, col + 1, time.perf_counter(), keys)))
                keys += 1
                if keys % 100 == 0:
                    rss.append((keys, rss_mb(pid)))
                if keys % 1000 == 0:
                    st = plain(await client.protocol.send_request_async("slipstream/getStatus", {}))["stats"]
                    reuse.append((keys, st["cache_hits"], st["typed_through"]))
                if keys in optimize_at:
                    optimized.append(await _optimize(client, ws, errors))
                await asyncio.sleep(rng.uniform(0.04, 0.11))
            await asyncio.sleep(rng.uniform(0.3, 0.8))
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
    await asyncio.gather(*tasks)
    rss.append((keys, rss_mb(pid)))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    if trace:
        print("RSS samples (keystrokes: total/anon MB):", " ".join(f"{k}:{a:.0f}/{b:.0f}" for k, (a, b) in rss))
    return report(latencies, rss, errors, optimized, reuse)


async def _optimize(client: LanguageClient, ws: Path, errors: list[str]) -> str:
    t = time.perf_counter()
    try:
        res = plain(
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="slipstream.optimizeFunction", arguments=[(ws / "shop.py").as_uri(), 0]
                )
            )
        )
    except Exception as exc:
        errors.append(f"optimize: {exc!r}")
        return "error"
    found = ", ".join(f"{v['rule_or_model']} {v['speedup']:.0f}×" for v in res["variants"]) or res["error"]
    return f"{found} ({time.perf_counter() - t:.1f} s)"


def report(
    latencies: list[float | None],
    rss: list[tuple[int, tuple[float, float]]],
    errors: list[str],
    optimized: list[str],
    reuse: list[tuple[int, int, int]] | None = None,
) -> int:
    print(
        f"{'keystrokes':>12} {'shown':>6} {'p50 ms':>7} {'p95 ms':>7} {'RSS MB':>7} {'anon MB':>8} "
        f"{'cache hits':>10} {'typed-thru':>10}"
    )
    counts = dict((k, (c, t)) for k, c, t in (reuse or []))
    blocks = []
    for a in range(0, len(latencies), 1000):
        block = [x for x in latencies[a : a + 1000] if x is not None]
        inside = [m for k, m in rss if a < k <= a + 1000] or [(float("nan"), float("nan"))]
        mem, anon = statistics.median(m[0] for m in inside), statistics.median(m[1] for m in inside)
        blocks.append(block)
        shown = len(block) / max(1, len(latencies[a : a + 1000]))
        end = min(a + 1000, len(latencies))
        c0, t0 = counts.get(a, (0, 0))
        c1, t1 = counts.get(a + 1000, (float("nan"), float("nan")))
        print(
            f"{a + 1:>5}–{end:<6} {shown:6.0%} {pct(block, 0.5):7.0f} {pct(block, 0.95):7.0f} {mem:7.0f} {anon:8.0f} "
            f"{c1 - c0:>10.0f} {t1 - t0:>10.0f}"
        )
    # Resident memory swings by tens of MB from one sample to the next (buffers of a generation, freed and
    # trimmed when the model is idle), so growth compares like with like: the median of the samples in
    # the 1,000 keystrokes after the warm-up against the median of the last 1,000's. The peak is shown too.
    after_warm = [m for k, m in rss if 1000 < k <= 2000] or [m for _, m in rss]
    last = [m for k, m in rss if k > len(latencies) - 1000] or [rss[-1][1]]
    warm = (statistics.median(m[0] for m in after_warm), statistics.median(m[1] for m in after_warm))
    end = (statistics.median(m[0] for m in last), statistics.median(m[1] for m in last))
    peak = (max(m[0] for _, m in rss), max(m[1] for _, m in rss))
    growth, anon_growth = end[0] - warm[0], end[1] - warm[1]
    # Drift compares the block after the warm-up (the second 1,000: the first holds the model's cold start
    # and the warm-up) with the last one.
    p95_first, p95_last = pct(blocks[min(1, len(blocks) - 1)], 0.95), pct(blocks[-1], 0.95)
    ratio = p95_last / p95_first if p95_first else float("nan")
    print()
    print(f"optimize runs: {len(optimized)}: " + "; ".join(optimized))
    print(
        f"RSS (median of 100-keystroke samples) after warm-up {warm[0]:.0f} MB, last 1,000 {end[0]:.0f} MB: "
        f"growth {growth:+.0f} MB (target < 50); peak sample {peak[0]:.0f} MB ({peak[0] - warm[0]:+.0f}); "
        f"anonymous {warm[1]:.0f} → {end[1]:.0f} MB ({anon_growth:+.0f}), peak {peak[1]:.0f} MB"
    )
    print(
        f"p95 first ghost text: after warm-up (keys 1,001-2,000) {p95_first:.0f} ms, last 1,000 {p95_last:.0f} ms: "
        f"{ratio:.2f}× (target ≤ 1.20)"
    )
    print(f"errors: {len(errors)}" + "".join(f"\n  {e}" for e in errors[:20]))
    return 0 if growth < 50 and ratio <= 1.2 and not errors else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--optimize", type=int, default=4, help="optimize runs spread over the session")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trace", action="store_true", help="print every RSS sample (one per 100 keystrokes)")
    args = ap.parse_args()
    return asyncio.run(soak(args.keys, args.optimize, args.seed, args.trace))


if __name__ == "__main__":
    raise SystemExit(main())
