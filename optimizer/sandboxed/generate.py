"""Driver: more inputs for verification, built in the sandbox against the real module.

``mode == "hints"``: derandomized hypothesis examples from the type hints of a plain function whose
positional parameters are all annotated. ``mode == "perturb"``: neighbours of the captured inputs
(other numbers in the same containers, longer and shorter sequences, reordered items), for when the
captured ones cannot tell trivial mutants of the function apart. Either way an example is kept only when
the original finishes on it within ``per_call_s`` (raising is fine: exceptions are compared too).
"""

from __future__ import annotations

import base64
import copy
import importlib
import inspect
import pickle
import signal
import typing
import warnings
from typing import Any

from . import loader


class _TooSlow(Exception):
    pass


def _too_slow(*_: Any) -> None:
    raise _TooSlow


def _finishes(fn: Any, args: tuple, kwargs: dict, seconds: float) -> bool:
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    except _TooSlow:
        return False
    except BaseException:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return True


def _neighbours(x: Any, k: int) -> Any:
    """The ``k``-th neighbour of a value: same shape, other contents."""
    t = type(x)
    if t is bool or x is None:
        return x
    if t is int:
        return (x + 1, -x - 3, x * 2 + 7, x // 2 - 1)[k % 4]
    if t is float:
        return (x * 1.5 + 0.25, -x - 1.0, x / 3 + 2.0, x + 10.0)[k % 4]
    if t is str:
        return (x + "a", x[::-1], x[: len(x) // 2], x.upper() + "Z")[k % 4]
    if t is list:
        items = [_neighbours(e, k + i) for i, e in enumerate(x)]
        return (items, items[::-1] + items[:1], items[: len(items) // 2], items + items)[k % 4]
    if t is tuple:
        return tuple(_neighbours(e, k + i) for i, e in enumerate(x))
    if t is dict:
        return {key: _neighbours(v, k + i) for i, (key, v) in enumerate(x.items())}
    if t is set:
        return {_neighbours(e, k + i) for i, e in enumerate(x)}
    return x


def _perturbed(fn: Any, p: dict[str, Any]) -> tuple[list[bytes], str]:
    seen, out = {bytes(b) for b in p["inputs"]}, []
    for args, kwargs in loader.load_inputs(p)[:20]:
        for k in range(4):
            new = (_neighbours(args, k), {key: _neighbours(v, k) for key, v in kwargs.items()})
            try:
                blob = pickle.dumps(new)
            except Exception:
                continue
            if blob in seen:
                continue
            seen.add(blob)
            if _finishes(fn, new[0], new[1], p["per_call_s"]):
                out.append(blob)
            if len(out) >= p["n"]:
                return out, ""
    return out, "" if out else "the captured inputs have no numbers, strings or containers to vary"


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
    blobs, reason = (_perturbed if p["mode"] == "perturb" else _from_hints)(fn, p)
    return {"inputs": [base64.b64encode(b).decode() for b in blobs], "reason": reason}
