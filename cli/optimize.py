"""``slipstream optimize`` and ``slipstream profile``: the optimizer without an editor (CI, pre-commit).

``profile PATH...`` runs the workload under the profiler and prints the hot functions of PATH (a table, or
``--json``). ``optimize PATH...`` does that too, picks the hottest functions (``--top``, ``--min-percent``;
or exactly the ``--function module:qualname`` given, without profiling) and runs each through the same
pipeline the editor's "Optimize this function" runs (optimizer/pipeline.py: capture, purity, verification
in the sandbox, measurement, the project's workload), with a progress bar on stderr; stdout holds only the
table or the JSON.

Guarantees:

- the user's source files are never written: only ``--patch``'s file is, and a path that names an existing
  Python file is refused;
- the patch is a unified diff (``git apply`` / ``patch -p1``) of the best *verified rule* variant of each
  function; model-written variants are listed separately for review and never put in the patch; two
  variants whose edits overlap (both add the same import: written once) keep the first;
- the exit status is 0 whenever the run completed, whether or not a faster variant was found; 2 for bad
  arguments (a path outside the project, an unknown function, a bad workload), 1 when the workload could
  not be profiled or the configured engine could not be opened; 130 when interrupted;
- model proposals only with ``--engine`` (local: the GGUF model here; openai/llamacpp: a team's server,
  which is then the only host contacted).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from slipstream.optimizer.capture import Workload
from slipstream.optimizer.functions import find_function
from slipstream.optimizer.profile import Profile, profile_workload
from slipstream.optimizer.sandbox import Limits
from slipstream.optimizer.workload import default_workload, module_name, parse_workload

if TYPE_CHECKING:  # the pipeline (libcst, the rules) takes 0.5 s to import: only ``optimize`` needs it
    from slipstream.optimizer.pipeline import OptimizeResult, Proposer, Variant

T = TypeVar("T")
TOP = 5  # functions optimized when none is named: the hottest of PATH that the workload called
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".tox", ".mypy_cache"}


class UsageError(Exception):
    """Bad arguments: one clear line, exit status 2."""


# -- the arguments ------------------------------------------------------------------------------------------
def add_parsers(sub: Any) -> None:
    """``optimize`` and ``profile`` on ``slipstream``'s subcommand parser."""
    opt = sub.add_parser(
        "optimize",
        help="profile the workload and optimize its hottest functions in PATH (prints a table; --patch writes a diff)",
    )
    _common(opt)
    opt.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="MODULE:QUALNAME",
        help="optimize this function (repeatable; no profile is run), e.g. shop.cart:Cart.total",
    )
    opt.add_argument("--patch", metavar="FILE", help="write a unified diff of the verified rule variants here")
    opt.add_argument("--min-speedup", type=float, default=1.10, help="offer a variant only above this (default 1.10)")
    opt.add_argument(
        "--min-percent",
        type=float,
        default=0.0,
        help="only functions taking at least this %% of the workload's time (default: any it called; a test "
        "run's share includes pytest's own start-up, seconds against the milliseconds of small tests)",
    )
    opt.add_argument("--engine", choices=("none", "local", "openai", "llamacpp"), default="none")
    opt.add_argument("--model", default="", help="a GGUF file for --engine local (default: the embedded model)")
    opt.add_argument("--endpoint", default="", help="the server's URL (--engine openai/llamacpp)")
    opt.add_argument("--remote-model", default="", help="the server's model name (remote engines)")
    opt.add_argument("--api-key-env", default="", help="the NAME of an environment variable holding the key")
    opt.set_defaults(run=optimize_main)
    prof = sub.add_parser("profile", help="profile the workload and print the hot functions in PATH")
    _common(prof)
    prof.set_defaults(run=profile_main)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders of the project whose functions count")
    p.add_argument("--workload", default="", help="pytest id or path, script.py, or '-m module' (default: the tests)")
    p.add_argument("--root", default="", help="the project's root (default: the current folder)")
    p.add_argument("--top", type=int, default=TOP, help=f"at most this many functions (default {TOP})")
    p.add_argument("--time-limit", type=int, default=300, help="seconds for one run of the workload (default 300)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


@dataclass
class Target:
    path: str  # absolute, resolved
    qualname: str
    module: str
    cpu_percent: float | None = None  # from the profile; None when named with --function
    line: int = 0

    @property
    def name(self) -> str:
        return f"{self.module}:{self.qualname}"


@dataclass
class Project:
    root: str
    files: set[str]  # every Python file under PATH (resolved)
    named: set[str]  # files named directly (tests count then)

    def owns(self, path: str) -> bool:
        real = os.path.realpath(path)
        if real not in self.files:
            return False
        base = os.path.basename(real)
        test = base.startswith("test_") or base.endswith("_test.py") or base == "conftest.py"
        return not test or real in self.named


def project(paths: list[str], root: str) -> Project:
    base = os.path.realpath(root or os.getcwd())
    if not os.path.isdir(base):
        raise UsageError(f"the project root {root} is not a folder")
    files: set[str] = set()
    named: set[str] = set()
    for p in paths:
        real = os.path.realpath(p)
        if not os.path.exists(real):
            raise UsageError(f"{p}: no such file or folder")
        if real != base and not real.startswith(base + os.sep):
            raise UsageError(f"{p} is outside the project root {base} (run from the project's root, or give --root)")
        if os.path.isfile(real):
            if not real.endswith(".py"):
                raise UsageError(f"{p} is not a Python file")
            files.add(real)
            named.add(real)
            continue
        for d, dirs, names in os.walk(real):
            dirs[:] = sorted(x for x in dirs if x not in _SKIP_DIRS and not x.startswith("."))
            files |= {os.path.join(d, n) for n in names if n.endswith(".py")}
    if not files:
        raise UsageError(f"no Python files in {' '.join(paths)}")
    return Project(base, files, named)


def workload_for(args: argparse.Namespace, proj: Project, path: str | None) -> Workload:
    """The ``--workload`` given, else the tests that import ``path``'s module (all tests for the profile)."""
    if args.workload:
        w = parse_workload(args.workload, proj.root, path or proj.root)
        target = w.target.split("::")[0]
        if w.kind != "module" and not os.path.exists(target):
            raise UsageError(f"--workload {args.workload}: {target} does not exist")
        return w
    return default_workload(proj.root, path) if path else Workload("pytest", proj.root)


def resolve_function(spec: str, proj: Project) -> Target:
    module, sep, qualname = spec.partition(":")
    if not sep or not module or not qualname:
        raise UsageError(f"--function {spec}: expected MODULE:QUALNAME, e.g. shop.cart:Cart.total")
    rel = Path(*module.split("."))
    for cand in (Path(proj.root) / rel.with_suffix(".py"), Path(proj.root) / rel / "__init__.py"):
        if cand.is_file():
            path = str(cand.resolve())
            break
    else:
        raise UsageError(f"--function {spec}: no module {module} under {proj.root}")
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise UsageError(f"--function {spec}: cannot read {path}: {exc}") from None
    node = find_function(tree, qualname)
    if node is None:
        raise UsageError(f"--function {spec}: {module} has no function {qualname}")
    return Target(path, qualname, module, None, node.lineno)


# -- progress on stderr ---------------------------------------------------------------------------------------
class Bar:
    """One updating line on a terminal; plain lines otherwise (CI logs); nothing with --quiet."""

    def __init__(self, stream: TextIO, total: int, quiet: bool) -> None:
        self.stream, self.total, self.quiet = stream, total, quiet
        self.tty = stream.isatty()
        self.done = 0
        self.label = ""
        self.t0 = time.monotonic()
        self._last = ""
        self._lock = threading.Lock()

    def start(self, label: str) -> None:
        self.label = label
        self.t0 = time.monotonic()

    def report(self, message: str) -> None:
        if self.quiet or message == self._last:
            return
        self._last = message
        with self._lock:
            if self.tty:
                width = shutil.get_terminal_size((100, 20)).columns
                filled = int(10 * self.done / max(1, self.total))
                head = f"[{'#' * filled}{'·' * (10 - filled)}] {self.done + 1}/{self.total} {self.label}"
                line = f"{head} — {message} ({time.monotonic() - self.t0:.0f} s)"
                self.stream.write("\r\x1b[K" + line[: width - 1])
            else:
                self.stream.write(f"[{self.done + 1}/{self.total}] {self.label}: {message}\n")
            self.stream.flush()

    def finish(self, summary: str) -> None:
        self.done += 1
        if self.quiet:
            return
        with self._lock:
            elapsed = time.monotonic() - self.t0
            self.stream.write(("\r\x1b[K" if self.tty else "") + f"[{self.done}/{self.total}] {self.label}: ")
            self.stream.write(f"{summary} ({elapsed:.0f} s)\n")
            self.stream.flush()


def say(message: str) -> None:
    print(f"slipstream: {message}", file=sys.stderr)


# -- profile --------------------------------------------------------------------------------------------------
def run_profile(args: argparse.Namespace, proj: Project, bar: Bar, cancel: threading.Event) -> Profile:
    workload = workload_for(args, proj, None)
    bar.start("profile")
    bar.report(f"profiling {workload.describe()}")
    limits = Limits(seconds=args.time_limit, memory_bytes=4 << 30, cancel=cancel)
    prof = _in_thread(lambda: profile_workload(proj.root, workload, limits), cancel)
    prof.functions = [f for f in prof.functions if proj.owns(f.path)]
    prof.lines = [ln for ln in prof.lines if proj.owns(ln.path)]
    return prof


def profile_table(prof: Profile, root: str, top: int) -> str:
    out = [f"profile of {prof.workload} ({prof.tool}, {prof.elapsed_s:.1f} s)"]
    if prof.status:
        out.append(f"the workload exited with status {prof.status}")
    if prof.note:
        out.append(f"note: {prof.note}")
    if not prof.functions:
        return "\n".join([*out, "no function of PATH shows in the profile"])
    rows = [(f, f"{module_name(root, f.path)}:{f.name}") for f in prof.functions[:top]]  # as --function takes it
    width = max(len("function"), *(len(name) for _, name in rows))
    out.append(f"{'share':>6}  {'peak':>6}  {'function':<{width}}  where")
    for f, name in rows:
        where = f"{os.path.relpath(f.path, root)}:{f.line}"
        peak = f"{f.peak_mb:.0f} MB" if f.peak_mb >= 1 else "—"
        out.append(f"{f.cpu_percent:>5.1f}%  {peak:>6}  {name:<{width}}  {where}")
    return "\n".join(out)


def profile_main(args: argparse.Namespace) -> int:
    return _interruptible(_profile, args)


def _interruptible(main: Callable[[argparse.Namespace, threading.Event], int], args: argparse.Namespace) -> int:
    """Ctrl-C cancels what runs (the sandboxed processes stop) and exits with 130."""
    cancel = threading.Event()
    try:
        return main(args, cancel)
    except KeyboardInterrupt:
        cancel.set()
        say("interrupted")
        return 130


def _profile(args: argparse.Namespace, cancel: threading.Event) -> int:
    try:
        proj = project(args.paths, args.root)
        bar = Bar(sys.stderr, 1, args.quiet)
        prof = run_profile(args, proj, bar, cancel)
    except UsageError as exc:
        say(str(exc))
        return 2
    bar.finish("failed" if prof.error else f"{len(prof.functions)} functions of PATH")
    if args.json:
        data = prof.as_json()
        data["functions"] = data["functions"][: args.top]
        print(json.dumps(data, indent=2))
    else:
        print(profile_table(prof, proj.root, args.top))
    if prof.error:
        say(prof.error)
        return 1
    return 0


# -- optimize -------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    target: Target
    result: OptimizeResult
    seconds: float

    @property
    def best_rule(self) -> Variant | None:
        return next((v for v in self.result.variants if not v.needs_review), None)

    @property
    def model_variants(self) -> list[Variant]:
        return [v for v in self.result.variants if v.needs_review]


@dataclass
class Patch:
    text: str = ""
    functions: list[str] = field(default_factory=list)  # in the patch
    left_out: list[str] = field(default_factory=list)  # "function: why" (edits overlapping an earlier one)


def unified_diff(old: str, new: str, rel: str) -> str:
    """``git apply``-ready: a/ b/ prefixes, and the marker for a last line without a newline."""
    lines = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
    ):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def build_patch(outcomes: list[Outcome], root: str) -> Patch:
    """The best verified rule variant of each function, per file, in one diff."""
    patch = Patch()
    by_file: dict[str, list[tuple[Outcome, Variant]]] = {}
    for o in outcomes:
        best = o.best_rule
        if best is not None:
            by_file.setdefault(o.target.path, []).append((o, best))
    for path in sorted(by_file):
        original = Path(path).read_text(encoding="utf-8")
        taken: list[tuple[int, int, str]] = []
        for o, v in by_file[path]:
            new = [e for e in v.edits if e not in taken]  # the same import added twice: once
            if any(_overlap(e, t) for e in new for t in taken):
                patch.left_out.append(f"{o.target.name}: its edits overlap those of a function before it")
                continue
            taken += new
            patch.functions.append(o.target.name)
        patch.text += unified_diff(original, apply_edits(original, taken), os.path.relpath(path, root))
    return patch


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Non-overlapping line edits (first line, end line exclusive, new text), 0-based; insertions at one
    place keep their order."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    for a, b, new in sorted(edits, key=lambda e: (e[0], e[1])):  # stable
        out += lines[pos:a]
        out.append(new)
        pos = max(pos, b)
    return "".join(out + lines[pos:])


def _overlap(x: tuple[int, int, str], y: tuple[int, int, str]) -> bool:
    """Do two edits touch the same lines (two insertions at one place: which goes first is unknown)?"""
    (a, b, _), (c, d, _) = x, y
    if a == b and c == d:
        return a == c
    if a == b:
        return c < a < d
    if c == d:
        return a < c < b
    return a < d and c < b


def variant_json(v: Variant, original: str, rel: str) -> dict[str, Any]:
    return {
        "title": v.title,
        "rule_or_model": v.rule_or_model,
        "speedup": v.speedup,
        "speedup_ci": list(v.speedup_ci),
        "mem_ratio": v.mem_ratio,
        "inputs_verified": v.inputs_verified,
        "checks": v.checks,
        "needs_review": v.needs_review,
        "diff": unified_diff(original, v.source, rel),
    }


def outcome_json(o: Outcome, root: str) -> dict[str, Any]:
    rel = os.path.relpath(o.target.path, root)
    original = Path(o.target.path).read_text(encoding="utf-8")
    data = o.result.as_json()
    data["variants"] = [variant_json(v, original, rel) for v in o.result.variants]
    return {
        "function": o.target.name,
        "path": rel,
        "line": o.target.line,
        "cpu_percent": o.target.cpu_percent,
        "seconds": round(o.seconds, 1),
        "best_rule_variant": o.best_rule.rule_or_model if o.best_rule else None,
        "result": data,
    }


def summary(o: Outcome) -> str:
    best = o.best_rule
    if best is not None:
        lo, hi = best.speedup_ci
        return (
            f"{best.rule_or_model}: {best.speedup:.2f}× faster (95 % CI {lo:.2f}–{hi:.2f}), verified on "
            f"{best.inputs_verified} inputs"
        )
    r = o.result
    if r.error:
        return r.error
    if o.model_variants:
        return "model variants only (listed for review below)"
    tried = len(r.rejected)
    return f"no faster variant ({tried} candidate{'s' * (tried != 1)} rejected)" if tried else "no faster variant"


def optimize_table(outcomes: list[Outcome], root: str, patch: Patch | None, patch_path: str | None) -> str:
    rows = [
        (o.target.name, _share(o.target), f"{os.path.relpath(o.target.path, root)}:{o.target.line}", summary(o))
        for o in outcomes
    ]
    w = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(("function", "share", "where"))]
    out = [f"{'function':<{w[0]}}  {'share':>{w[1]}}  {'where':<{w[2]}}  result"]
    for name, share, where, text in rows:
        out.append(f"{name:<{w[0]}}  {share:>{w[1]}}  {where:<{w[2]}}  {text}")
    reviews = [(o, v) for o in outcomes for v in o.model_variants]
    if reviews:
        out += ["", "model variants (written by a model: review them; never in the patch):"]
        for o, v in reviews:
            rel = os.path.relpath(o.target.path, root)
            out.append(f"  {o.target.name}: {v.title}")
            original = Path(o.target.path).read_text(encoding="utf-8")
            out += ["    " + line for line in unified_diff(original, v.source, rel).splitlines()]
    if patch is not None and patch_path:
        out.append("")
        if patch.functions:
            out.append(f"patch: {patch_path} ({len(patch.functions)} function(s): {', '.join(patch.functions)})")
        else:
            out.append(f"patch: {patch_path} is empty (no verified rule variant)")
        out += [f"  not in the patch: {x}" for x in patch.left_out]
    return "\n".join(out)


def _share(t: Target) -> str:
    return "—" if t.cpu_percent is None else f"{t.cpu_percent:.1f}%"


def pick_targets(prof: Profile, proj: Project, top: int, min_percent: float) -> list[Target]:
    out: list[Target] = []
    for f in prof.functions:  # hottest first
        if f.cpu_percent < min_percent or len(out) >= top:  # sorted: the rest are colder
            break
        real = os.path.realpath(f.path)
        if any(t.path == real and t.qualname == f.name for t in out):
            continue
        out.append(Target(real, f.name, module_name(proj.root, real), f.cpu_percent, f.line))
    return out


def check_patch_path(path: str | None, proj: Project) -> None:
    if not path:
        return
    real = os.path.realpath(path)
    if real in proj.files or (os.path.exists(real) and real.endswith((".py", ".pyi"))):
        raise UsageError(f"--patch {path} would overwrite a Python file; give a new file name (e.g. slipstream.diff)")
    if os.path.isdir(real):
        raise UsageError(f"--patch {path} is a folder")
    if not os.path.isdir(os.path.dirname(real)):
        raise UsageError(f"--patch {path}: the folder {os.path.dirname(path)} does not exist")


class EngineError(Exception):
    """The engine asked for could not be opened: exit status 1."""


def open_engine(args: argparse.Namespace) -> tuple[Any, list[str | None]]:
    """The engine ``--engine`` names (None for none) and the list its faults are reported into."""
    if args.engine == "none":
        return None, []
    from slipstream.inference.engine import Engine
    from slipstream.inference.host import open_remote
    from slipstream.inference.model import ModelLoadError, load_model
    from slipstream.inference.remote import RemoteConfig
    from slipstream.server.settings import parse_settings

    settings, problems = parse_settings(
        {
            "engine": args.engine,
            "modelPath": args.model,
            "endpoint": args.endpoint or "http://127.0.0.1:8080",
            "model": args.remote_model,
            "apiKeyEnv": args.api_key_env,
        }
    )
    if problems:
        raise UsageError("; ".join(problems))
    config = settings.engine_config()
    faults: list[str | None] = []
    try:
        if isinstance(config, RemoteConfig):
            engine: Any = open_remote(config, faults.append)
            fault = engine.check()
            if fault is not None:
                engine.close()
                raise EngineError(fault)
        else:
            engine = Engine(load_model(config))
    except ModelLoadError as exc:
        raise EngineError(str(exc)) from None
    return engine, faults


def optimize_main(args: argparse.Namespace) -> int:
    return _interruptible(_optimize, args)


def _optimize(args: argparse.Namespace, cancel: threading.Event) -> int:
    from slipstream.optimizer.model_proposals import engine_proposer
    from slipstream.optimizer.pipeline import optimize_function

    try:
        proj = project(args.paths, args.root)
        check_patch_path(args.patch, proj)
        named = [resolve_function(spec, proj) for spec in args.function]
        if args.min_speedup < 1.0:
            raise UsageError("--min-speedup must be at least 1.0")
        if not args.function:
            workload_for(args, proj, None)  # a bad --workload is an error before anything runs
    except UsageError as exc:
        say(str(exc))
        return 2
    prof: Profile | None = None
    if named:
        targets = named
    else:
        prof = run_profile(args, proj, Bar(sys.stderr, 1, args.quiet), cancel)
        if prof.error:
            say(f"the workload could not be profiled: {prof.error}")
            return 1
        targets = pick_targets(prof, proj, args.top, args.min_percent)
        if not args.quiet:
            print(f"profiled {prof.workload} ({prof.tool}, {prof.elapsed_s:.1f} s)", file=sys.stderr)
    try:
        engine, faults = open_engine(args) if targets else (None, [])
    except UsageError as exc:
        say(str(exc))
        return 2
    except EngineError as exc:
        say(f"--engine {args.engine}: {exc}")
        return 1
    bar = Bar(sys.stderr, len(targets), args.quiet)
    outcomes: list[Outcome] = []
    try:
        for t in targets:
            bar.start(t.name)
            try:
                workload = workload_for(args, proj, t.path)
            except UsageError as exc:
                say(str(exc))
                return 2
            proposer: Proposer | None = None
            if engine is not None:
                hot = [ln for ln in (prof.lines if prof else []) if os.path.realpath(ln.path) == t.path]
                proposer = engine_proposer(engine, hot_lines=hot, fault=lambda: _last(faults), cancel=cancel)
            t0 = time.monotonic()
            result = _in_thread(
                lambda t=t, w=workload, p=proposer: optimize_function(
                    proj.root,
                    t.path,
                    t.qualname,
                    w,
                    bar.report,
                    cancel,
                    args.min_speedup,
                    proposer=p,
                    limits=Limits(seconds=args.time_limit),
                ),
                cancel,
            )
            outcomes.append(Outcome(t, result, time.monotonic() - t0))
            bar.finish(summary(outcomes[-1]))
    finally:
        if engine is not None:
            engine.close()
    patch = build_patch(outcomes, proj.root) if args.patch else None
    if patch is not None:
        try:
            Path(args.patch).write_text(patch.text, encoding="utf-8")
        except OSError as exc:
            say(f"cannot write --patch {args.patch}: {exc.strerror}")
            return 2
    if args.json:
        data = {
            "root": proj.root,
            "profile": _profile_json(prof),
            "functions": [outcome_json(o, proj.root) for o in outcomes],
            "patch": None
            if patch is None
            else {"path": args.patch, "functions": patch.functions, "left_out": patch.left_out},
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif not targets:
        hot = f"takes at least {args.min_percent:g} % of the workload's time" if prof else "was named"
        print(f"no function of {' '.join(args.paths)} {hot}")
        if prof is not None:
            print(profile_table(prof, proj.root, args.top))
    else:
        print(optimize_table(outcomes, proj.root, patch, args.patch))
    return 0


def _last(faults: list[str | None]) -> str | None:
    return next((f for f in reversed(faults) if f), None)


def _profile_json(prof: Profile | None) -> dict[str, Any] | None:
    if prof is None:
        return None
    data = prof.as_json()
    data["lines"] = data["lines"][:50]  # the hottest are what a reader wants; all of them can be thousands
    return data


def _in_thread(job: Callable[[], T], cancel: threading.Event) -> T:
    """Run ``job`` on a worker thread so Ctrl-C reaches this one: it cancels the run (the sandboxed processes
    stop), waits for it to end, and goes on as an interrupt."""
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(_catch(job)), name="slipstream-optimize", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(60)
        raise
    value = box[0]
    if isinstance(value, BaseException):
        raise value
    return value


def _catch(job: Callable[[], T]) -> T | BaseException:
    try:
        return job()
    except Exception as exc:  # reported in the main thread, with its traceback
        return exc
