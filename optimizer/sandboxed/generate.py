"""Driver: more inputs for verification, built in the sandbox against the real module.

``mode == "hints"``: derandomized hypothesis examples from the type hints of a plain function whose
positional parameters are all annotated; then, from the captured inputs (``inputs``, pickles loaded
only here), as many derived ones as it takes to reach ``min_checks`` inputs in all (``extra`` at least
when the hints gave none). ``mode == "perturb"``: ``n`` more derived inputs, none of those in ``skip``.
Derived inputs are neighbours by type and shape (derive.py): a method's ``self`` is varied too. An input
is kept only when the original finishes on it in time (raising is fine: exceptions are compared too;
see ``_derived`` for the time, size and raising limits).
"""

from __future__ import annotations

import base64
import copy
import importlib
import inspect
import itertools
import pickle
import signal
import time
import typing
import warnings
from typing import Any

from . import derive, loader

MAX_SOURCES = 20  # captured inputs derived from (interleaved: the first derived inputs vary each of them)
MAX_TRIED = 2000  # neighbours tried at most
GENERATIONS = 3  # neighbours of neighbours of ... the captured inputs, when the first ones are too few
MIN_CALL_S = 0.02  # a derived input may take this long whatever the captured ones took
CALL_FACTOR = 4  # ... or this many times the slowest captured call (at most per_call_s)
MIN_PASS_S = 0.5  # all derived inputs together may take this long, or as long as all captured ones
MAX_DERIVED_BYTES = 16 << 20  # pickled derived inputs in all (they travel back as base64 JSON) ...
MIN_DERIVED_BYTES = 128 << 10  # ... and at most as many as the captured ones take, or this: every verifying
# process copies, runs, encodes and reports each input (bfs over a 4,000-node graph, 1 captured input: 19
# full-size derived ones made the original's determinism check 17 s and the mutants' 21 s)
SMALL_BYTES = 4096  # a captured input larger than this also gets a miniature (halved) to derive from ...
MAX_HALVINGS = 16  # ... halved at most this many times


class _TooSlow(BaseException):  # not an Exception: the user's ``except Exception`` must not swallow it
    pass


def _too_slow(*_: Any) -> None:
    raise _TooSlow


def _trial(fn: Any, args: tuple, kwargs: dict, seconds: float) -> tuple[bool, bool, float]:
    """Run the original once on copies: (finished within ``seconds``, raised, seconds taken)."""
    raised = False
    start = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))  # 0 would mean no alarm at all
        try:
            fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except _TooSlow:
            raise
        except BaseException:
            raised = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _TooSlow:  # also when it rang just as the call raised something else
        return False, True, time.perf_counter() - start
    took = time.perf_counter() - start
    return took <= seconds, raised, took  # past it: the alarm was caught by the code itself


def _finishes(fn: Any, args: tuple, kwargs: dict, seconds: float) -> bool:
    return _trial(fn, args, kwargs, seconds)[0]


def _is_method(fn: Any, p: dict[str, Any], captured: list[tuple[tuple, dict]]) -> bool:
    """Captured calls of ``Class.method`` carry the instance first (optimizer/sandboxed/capture.py)."""
    parts = p["name"].split(".")
    if len(parts) < 2 or not captured:
        return False
    try:
        owner = loader.resolve(importlib.import_module(p["module"]), parts[:-1])
    except Exception:
        return False
    first = captured[0][0][:1]
    return isinstance(owner, type) and bool(first) and isinstance(first[0], owner)


def _derived(fn: Any, p: dict[str, Any], n: int) -> tuple[list[bytes], str]:
    """Up to ``n`` neighbours of the captured inputs (optimizer/sandboxed/derive.py), breadth first: when
    the neighbours of the captured inputs are not enough, the neighbours of those kept (up to
    ``GENERATIONS`` steps away). A large captured input also gets a miniature (``_miniature``), itself a
    derived input, whose neighbours come first.

    Kept: those the original finishes on, each within ``CALL_FACTOR`` times the slowest captured call (at
    most ``per_call_s``), all of them together within about what a pass over the captured inputs takes
    (at least ``MIN_PASS_S``) and in about as many bytes (at least ``MIN_DERIVED_BYTES``, half of them
    for large ones): every verification pass copies, runs, encodes and reports them all, so derived
    inputs may at most double its cost; past that, only cheaper ones are kept. At most a quarter of them
    (at least 2) may make the original raise: inputs it was not meant for tell less than ones it
    handles. ``budget_s`` bounds the search's own trial runs."""
    everything = loader.load_inputs(p)
    captured = everything[:MAX_SOURCES]
    if n <= 0 or not captured:
        return [], ""
    deadline = time.perf_counter() + p.get("budget_s", 4.0)
    times: list[float] = []
    for args, kwargs in captured:
        times.append(_trial(fn, args, kwargs, p["per_call_s"])[2])
        if time.perf_counter() > deadline:
            break
    per_call = min(p["per_call_s"], max(MIN_CALL_S, CALL_FACTOR * max(times)))
    pass_left = max(MIN_PASS_S, sum(times) * len(everything) / len(times))
    max_blob = 4 * max(len(bytes(b)) for b in p["inputs"][:MAX_SOURCES]) + 4096
    byte_budget = min(MAX_DERIVED_BYTES, max(MIN_DERIVED_BYTES, sum(len(bytes(b)) for b in p["inputs"])))
    seen = {bytes(b) for b in p["inputs"]} | {bytes(b) for b in p.get("skip", [])}
    method = _is_method(fn, p, captured)
    out: list[bytes] = []
    size = large_size = raising = tried = slow = 0
    max_raising = max(2, n // 4)
    minis = [m for a, k in captured if (m := _miniature(a, k)) is not None]
    sources = minis + captured
    for generation in range(GENERATIONS):
        kept: list[tuple[tuple, dict]] = []
        neighbours = derive.argument_sets(sources, method)
        if generation == 0:
            neighbours = itertools.chain(minis, neighbours)
        while len(out) < n and tried < MAX_TRIED and time.perf_counter() < deadline:
            try:
                args, kwargs = next(neighbours)
                blob = pickle.dumps((args, kwargs))
            except StopIteration:
                break
            except Exception:  # the user's own __eq__, __copy__ or __reduce__ on a neighbour
                continue
            large = len(blob) > 2 * SMALL_BYTES
            if blob in seen or len(blob) > max_blob or size + len(blob) > byte_budget:
                continue
            if large and large_size + len(blob) > byte_budget // 2:
                continue  # half the bytes for neighbours of miniatures: many cheap inputs over a few large ones
            seen.add(blob)
            tried += 1
            if pass_left < MIN_CALL_S / 4:
                break  # the derived inputs already take as long as the captured ones
            finished, raised, took = _trial(fn, args, kwargs, min(per_call, pass_left))
            if not finished:
                slow += 1
                continue
            if raised and raising >= max_raising:
                continue
            raising += raised
            pass_left -= took
            out.append(blob)
            size += len(blob)
            large_size += len(blob) if large else 0
            if not raised:
                kept.append((args, kwargs))
        sources = kept[:MAX_SOURCES]
        if len(out) >= n or not sources:
            break
    if out or not n:
        return out, ""
    if not tried:
        return [], "the captured values have no numbers, strings, containers or attributes to vary"
    if slow == tried:
        return [], f"the original took too long on all {tried} neighbours of the captured inputs"
    return [], f"the original raised on all {tried} neighbours of the captured inputs"


def _miniature(args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    """A large captured input halved (derive.halved) until its pickle is at most ``SMALL_BYTES``; None for
    a small one, or one that halving does not shrink."""
    try:
        size = len(pickle.dumps((args, kwargs)))
        if size <= SMALL_BYTES:
            return None
        for _ in range(MAX_HALVINGS):
            args, kwargs = tuple(derive.halved(a) for a in args), {k: derive.halved(v) for k, v in kwargs.items()}
            smaller = len(pickle.dumps((args, kwargs)))
            if smaller >= size:
                return None
            if smaller <= SMALL_BYTES:
                return args, kwargs
            size = smaller
    except Exception:  # the user's own __copy__ or __reduce__
        return None
    return args, kwargs


def _from_hints(fn: Any, p: dict[str, Any]) -> tuple[list[bytes], str]:
    if len(p["name"].split(".")) > 1:
        return [], "a method: examples would need an instance"
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        return [], f"its type hints do not resolve ({exc})"
    params = list(sig.parameters.values())
    if any(q.kind not in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD) for q in params):
        return [], "it takes *args, **kwargs or keyword-only parameters"
    missing = [q.name for q in params if q.name not in hints]
    if missing or not params:
        return [], "no type hints on " + ", ".join(missing) if missing else "no parameters"
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    seen: set[bytes] = set()
    out: list[bytes] = []

    @settings(
        max_examples=p["n"],
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(st.tuples(*[st.from_type(hints[q.name]) for q in params]))
    def collect(args: tuple) -> None:
        try:
            blob = pickle.dumps((args, {}))
        except Exception:
            return
        if blob in seen:
            return
        if _finishes(fn, args, {}, p["per_call_s"]):
            seen.add(blob)
            out.append(blob)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            collect()
        except Exception as exc:
            return out, f"hypothesis could not build examples ({type(exc).__name__}: {str(exc)[:120]})"
    return out, ""


def main(p: dict[str, Any]) -> dict[str, Any]:
    signal.signal(signal.SIGALRM, _too_slow)
    fn = loader.resolve(importlib.import_module(p["module"]), p["name"].split("."))
    hinted, reason = ([], "") if p["mode"] == "perturb" else _from_hints(fn, p)
    if p["mode"] == "perturb":
        wanted = p["n"]
    else:  # enough for ``min_checks`` in all; a few more where the hints gave none
        wanted = max(p.get("min_checks", 0) - len(p["inputs"]) - len(hinted), 0 if hinted else p.get("extra", 0))
    derived, derived_reason = _derived(fn, p, wanted)
    return {
        "inputs": [base64.b64encode(b).decode() for b in hinted],
        "reason": reason,
        "derived": [base64.b64encode(b).decode() for b in derived],
        "derived_reason": derived_reason,
    }
