"""Command line: ``slipstream serve | complete FILE LINE:COL | demo | stats | models | optimize | profile``."""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse_line_col(spec: str) -> tuple[int, int]:
    line, _, col = spec.partition(":")
    if not line.isdigit() or not col.isdigit() or int(line) < 1 or int(col) < 1:
        raise argparse.ArgumentTypeError(f"expected LINE:COL, 1-based, e.g. 12:8; got {spec!r}")
    return int(line), int(col)


def complete_main(args: argparse.Namespace) -> int:
    """One completion at a position of a file, streamed to the terminal."""
    from slipstream.completion.prepare import Options, PrepareRequest, finish, prepare, request_for
    from slipstream.inference.api import FAILED
    from slipstream.inference.engine import Engine
    from slipstream.inference.host import open_remote
    from slipstream.inference.model import ModelLoadError, load_model
    from slipstream.inference.remote import RemoteConfig
    from slipstream.server.documents import Document
    from slipstream.server.settings import parse_settings

    try:
        with open(args.file, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        print(f"slipstream: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    settings, problems = parse_settings(
        {
            "modelPath": args.model or "",
            "threads": args.threads,
            "maxLines": args.max_lines,
            "engine": args.engine,
            "endpoint": args.endpoint,
            "model": args.remote_model,
            "apiKeyEnv": args.api_key_env,
        }
    )
    for p in problems:
        print(f"slipstream: {p}", file=sys.stderr)
    line, col = args.position
    doc = Document("file://" + os.path.abspath(args.file), 0, text, "utf-32")
    offset = doc.offset_at(line - 1, col - 1)
    config = settings.engine_config()
    faults: list[str | None] = []  # a remote engine's health after each exchange (None: it worked)
    try:
        if isinstance(config, RemoteConfig):
            engine = open_remote(config, faults.append)
            fault = engine.check()
            if fault is not None:
                engine.close()
                print(f"slipstream: {fault}", file=sys.stderr)
                return 2
        else:
            engine = Engine(load_model(config))
    except ModelLoadError as exc:
        print(f"slipstream: {exc}", file=sys.stderr)
        return 2
    model = engine.model
    prepared = prepare(PrepareRequest(text, offset, Options.from_settings(settings)), model)
    shown = [""]
    dim, reset = ("\x1b[2m", "\x1b[0m") if sys.stdout.isatty() else ("", "")

    def on_partial(t: str) -> None:
        if t.startswith(shown[0]):
            sys.stdout.write(dim + t[len(shown[0]) :] + reset)
            sys.stdout.flush()
            shown[0] = t

    sys.stdout.write(text[text.rfind("\n", 0, offset) + 1 : offset])  # the cursor line so far
    t0 = time.perf_counter()
    result = engine.submit(request_for(prepared, on_partial)).result()
    final = finish(prepared, result)
    if final != shown[0]:
        sys.stdout.write("\n" + "-" * 20 + " final:\n" + final)
    sys.stdout.write("\n")
    first = f"{result.t_first_token_s * 1000:.0f} ms" if result.t_first_token_s else "-"
    print(
        f"[{model.name}, {prepared.prompt.mode} prompt of {result.prompt_tokens} tokens, "
        f"{result.n_tokens} tokens, first token {first}, total {(time.perf_counter() - t0) * 1000:.0f} ms, "
        f"stop: {result.stop_reason}]",
        file=sys.stderr,
    )
    engine.close()
    if result.stop_reason == FAILED:
        print(f"slipstream: {faults[-1] if faults and faults[-1] else 'the engine failed'}", file=sys.stderr)
        return 1
    return 0


def stats_main(storage: str | None) -> int:
    """A table of what was shown, accepted and still there later, per context class."""
    from slipstream.completion.telemetry import Telemetry
    from slipstream.server.settings import Settings

    directory = os.path.join(storage or Settings().storage_dir(), "telemetry")
    if not os.path.isdir(directory):
        print(f"no statistics yet in {directory}")
        return 0
    telemetry = Telemetry(directory)
    data = telemetry.stats()
    telemetry.close()
    print(f"local statistics in {directory}")
    print(f"{'context':<20}{'shown':>7}{'accepted':>10}{'rate':>7}{'chars':>7}{'kept 30s':>10}{'kept 2m':>9}")

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.0%}"

    for cls, row in sorted(data["classes"].items()):
        chars = "—" if row["mean_accepted_chars"] is None else f"{row['mean_accepted_chars']:.0f}"
        print(
            f"{cls:<20}{row['shown']:>7}{row['accepted']:>10}{pct(row['accept_rate']):>7}{chars:>7}"
            f"{pct(row['retention_30s']):>10}{pct(row['retention_120s']):>9}"
        )
    for cls, factor in data["line_factors"].items():
        print(f"adapted: multi-line suggestions in {cls} shortened to {factor:.0%} of maxLines")
    return 0


def models_main(folders: list[str], as_json: bool) -> int:
    """The GGUF models on this machine (inference/discovery.py), as a table or as JSON."""
    import json

    from slipstream.inference.discovery import discover_models, table

    found = discover_models(folders)
    print(json.dumps(found.as_dict(), indent=2) if as_json else table(found))
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="slipstream", description="Local AI pair programmer for Python")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("rest", nargs=argparse.REMAINDER)
    comp = sub.add_parser("complete", help="print one completion at FILE LINE:COL (1-based), streaming")
    comp.add_argument("file")
    comp.add_argument("position", type=parse_line_col)
    comp.add_argument("--model", help="a GGUF file (default: the embedded Gemma 3 270M)")
    comp.add_argument("--threads", type=int, default=None)
    comp.add_argument("--max-lines", type=int, default=8)
    comp.add_argument("--engine", choices=("local", "openai", "llamacpp"), default="local")
    comp.add_argument("--endpoint", help="the server's URL (remote engines)")
    comp.add_argument("--remote-model", default="", help="the server's model name (remote engines)")
    comp.add_argument("--api-key-env", default="", help="the NAME of an environment variable holding the key")
    demo = sub.add_parser("demo", help="drive the real server over stdio on a sample file, as an editor would")
    demo.add_argument("--file", help="the Python file to type in (default: examples/inventory.py)")
    demo.add_argument("--model", help="a GGUF file (default: the embedded Gemma 3 270M)")
    stats = sub.add_parser("stats", help="print the local acceptance statistics (never sent anywhere)")
    stats.add_argument("--storage", help="the storage directory (default: ~/.cache/slipstream)")
    models = sub.add_parser("models", help="list the GGUF models on this machine (Hugging Face, LM Studio, Ollama)")
    models.add_argument("--json", action="store_true", help="print JSON (as slipstream/listModels answers)")
    models.add_argument("--dir", action="append", default=[], help="also look in this folder (repeatable)")
    from slipstream.cli.optimize import add_parsers

    add_parsers(sub)  # optimize, profile: cli/optimize.py
    args = parser.parse_args(argv)
    if args.cmd in ("optimize", "profile"):
        sys.exit(args.run(args))
    if args.cmd == "models":
        sys.exit(models_main(args.dir, args.json))
    if args.cmd == "stats":
        sys.exit(stats_main(args.storage))
    if args.cmd == "serve":
        from slipstream.server.__main__ import serve_main

        serve_main(args.rest)
    elif args.cmd == "complete":
        sys.exit(complete_main(args))
    else:
        from slipstream.cli.demo import demo_main

        sys.exit(demo_main(args.file, args.model))


if __name__ == "__main__":
    main()
