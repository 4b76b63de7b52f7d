"""Driver: a persistent process the parent times from outside, batch by batch.

Input sets: ``"1"`` is the captured inputs; ``derive {scale, base}`` adds the set ``str(scale)``, the
captured inputs at ``base`` grown ``scale``-fold (scaled.py). Requests (one JSON object a line):

- ``check {set, idx, per_call_s, total_s, rows, budget}``: each input once, on a fresh whole copy, under an alarm
  (``per_call_s``, one per input or one for all; 0: none) and while the pass has lasted less than
  ``total_s``: the seconds each call took (for planning only: the parent's clock is the measurement), how
  it ended (``return``, ``raise``, ``slow``, ``skip``), which parts of its arguments it changed (paths:
  ``[arg]`` or ``[arg, attribute or key]``), and with ``rows`` the outcome as canonical data (the value,
  the arguments afterwards, ``budget`` nodes each) for the parent to compare with the other process's.
- ``prepare {set, idx, repeat, paths}``: the inputs of ``repeat`` passes. Only the parts in ``paths``
  (what either process's function changed on that input) are fresh in each pass: they are pickled once
  and loaded per pass, which costs a fraction of ``copy.deepcopy`` of the whole input; the rest (a large
  read-only table) is shared by all passes, which is sound because no call changes it. Not timed.
- ``run`` performs the prepared passes (what the parent times); ``digest`` then answers with the digest of
  the last pass's outcomes (encoded after the clock stopped); ``empty`` does the same passes with a
  function that does nothing; ``peak {set, idx, paths, total_s}`` returns the tracemalloc peak of one pass
  (``cut``: stopped after ``total_s``, since tracing slows some code tens of times).

The parent's clock around ``run`` is the measurement: nothing in this process can change it.
"""

from __future__ import annotations

import copy
import pickle
import signal
import time
import tracemalloc
from typing import Any

from . import canonical, loader, scaled

Input = tuple[tuple, dict]
Path = tuple[Any, ...]  # (argument,) or (argument, attribute or key): an int argument is positional


class _TooSlow(BaseException):  # not an Exception: the user's ``except Exception`` does not swallow it
    pass


def _too_slow(*_: Any) -> None:
    raise _TooSlow


def _empty(*args: Any, **kwargs: Any) -> None:
    return None


def _dump(x: Any) -> bytes | None:
    try:
        return pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None


_SPLITTABLE: dict[type, bool] = {}


def _parts(x: Any) -> dict | None:
    """The components of an argument that are copied one by one: a plain dict's values (str or int keys),
    a plain instance's attributes; None when the argument is copied whole."""
    t = type(x)
    if t is dict:
        return x if all(type(k) in (str, int) for k in x) else None
    ok = _SPLITTABLE.get(t)
    if ok is None:
        ok = (
            not isinstance(x, (type, list, set, tuple, str, bytes, bytearray, int, float, complex, frozenset))
            and type(getattr(x, "__dict__", None)) is dict
            and not hasattr(t, "__slots__")
            and getattr(t, "__getstate__", None) is getattr(object, "__getstate__", None)
            and not hasattr(t, "__setstate__")
            and not hasattr(t, "__copy__")
            and not hasattr(t, "__deepcopy__")
        )
        if ok:
            try:
                object.__new__(t)  # a plain Python class: its shallow copy is a new instance with the same dict
            except TypeError:
                ok = False
        _SPLITTABLE[t] = ok
    return vars(x) if ok else None


def _shallow(x: Any) -> Any:
    if type(x) is dict:
        return dict(x)
    new = object.__new__(type(x))
    new.__dict__.update(x.__dict__)
    return new


def _arguments(inp: Input) -> list[tuple[Any, Any]]:
    args, kwargs = inp
    return [*enumerate(args), *kwargs.items()]


def _pieces(inp: Input) -> dict[Path, Any]:
    out: dict[Path, Any] = {}
    for key, x in _arguments(inp):
        parts = _parts(x)
        if parts is None:
            out[(key,)] = _dump(x)
        else:
            out[(key,)] = ("keys", type(x).__name__, list(parts))
            for sub, v in parts.items():
                out[(key, sub)] = _dump(v)
    return out


def _changed(before: dict[Path, Any], after: dict[Path, Any]) -> list[Path]:
    """What a call changed (unpicklable parts count as changed: they are always copied)."""
    whole = [p for p, b in before.items() if len(p) == 1 and (b is None or after.get(p) != b)]
    gone = {p[0] for p in whole}
    parts = [p for p, b in before.items() if len(p) == 2 and p[0] not in gone and (b is None or after.get(p) != b)]
    return whole + parts


def _normal(paths: list[Any]) -> tuple[Path, ...]:
    """Paths from the parent (JSON lists) as tuples; a whole argument covers its parts."""
    tuples = {tuple(p) for p in paths if isinstance(p, list) and 1 <= len(p) <= 2}
    whole = {p[0] for p in tuples if len(p) == 1}
    return tuple(sorted((p for p in tuples if len(p) == 1 or p[0] not in whole), key=repr))


class _Fresh:
    """Fresh copies of one input's changed parts: pickled once, loaded per pass; the rest is shared."""

    def __init__(self, inp: Input, paths: tuple[Path, ...]) -> None:
        self.inp, self.paths = inp, paths
        values = [self._get(p) for p in paths]
        self.blob = _dump(values) if paths else b""
        self.values = values if self.blob is None else None  # deep-copied instead, per pass

    def _get(self, path: Path) -> Any:
        args, kwargs = self.inp
        x = args[path[0]] if isinstance(path[0], int) else kwargs[path[0]]
        if len(path) == 1:
            return x
        parts = _parts(x)
        if parts is None:
            raise KeyError(path)
        return parts[path[1]]

    @property
    def nbytes(self) -> int:
        return len(self.blob) if self.blob is not None else 0

    def make(self) -> Input:
        if not self.paths:
            return self.inp
        values = pickle.loads(self.blob) if self.blob is not None else copy.deepcopy(self.values)
        args, kwargs = list(self.inp[0]), dict(self.inp[1])
        own: dict[Any, Any] = {}
        for path, v in zip(self.paths, values, strict=True):
            key = path[0]
            if len(path) == 1:
                if isinstance(key, int):
                    args[key] = v
                else:
                    kwargs[key] = v
                continue
            if key not in own:
                own[key] = _shallow(args[key] if isinstance(key, int) else kwargs[key])
                if isinstance(key, int):
                    args[key] = own[key]
                else:
                    kwargs[key] = own[key]
            holder = own[key]
            if type(holder) is dict:
                holder[path[1]] = v
            else:
                holder.__dict__[path[1]] = v
        return tuple(args), kwargs


class _Set:
    """Inputs, with what makes a whole fresh copy of each (its pickle) and the per-pass copiers."""

    def __init__(self, inputs: list[Input], blobs: list[bytes | None], origin: list[int]) -> None:
        self.inputs, self.blobs, self.origin = inputs, blobs, origin
        self._fresh: dict[tuple[int, tuple[Path, ...]], _Fresh] = {}

    def whole_copy(self, i: int) -> Input:
        blob = self.blobs[i]
        return pickle.loads(blob) if blob is not None else copy.deepcopy(self.inputs[i])

    def fresh(self, i: int, paths: tuple[Path, ...]) -> _Fresh:
        key = (i, paths)
        if key not in self._fresh:
            try:
                self._fresh[key] = _Fresh(self.inputs[i], paths)
            except (KeyError, IndexError, TypeError):  # a path this process's copy of the input lacks
                self._fresh[key] = _Fresh(self.inputs[i], _normal([[k] for k in {p[0] for p in paths}]))
        return self._fresh[key]


def last_pass(fn: Any, batch: list[Input]) -> list[tuple[str, Any]]:
    """The outcomes of one pass, kept as they are (encoded later, outside the timed request); an exception by
    its class only (its traceback would hold this frame in a cycle, freed by the collector in a later pass)."""
    rows: list[tuple[str, Any]] = []
    for args, kwargs in batch:
        try:
            rows.append(("return", fn(*args, **kwargs)))
        except BaseException as exc:
            rows.append(("raise", type(exc)))
    return rows


def digest_of(rows: list[tuple[str, Any]], budget: int) -> str:
    encoded = [
        ["return", canonical.encode(v, budget)] if kind == "return" else ["raise", canonical.type_name(v)]
        for kind, v in rows
    ]
    return canonical.digest(encoded)


def _check_one(fn: Any, inp: Input, limit: float, rows: bool, budget: int) -> dict[str, Any]:
    before = _pieces(inp)
    out: dict[str, Any] = {}
    value: Any = None
    start = time.perf_counter()
    try:  # the alarm may also ring between the call's end and its cancelling: slow all the same
        try:
            if limit > 0:
                signal.setitimer(signal.ITIMER_REAL, limit)
            value = fn(*inp[0], **inp[1])
            out["k"] = "return"
        except _TooSlow:
            raise
        except BaseException as exc:
            out.update(k="raise", e=canonical.type_name(type(exc)), m=str(exc)[:200])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _TooSlow:
        out = {"k": "slow"}
    out["s"] = time.perf_counter() - start
    if out["k"] == "slow":
        return {**out, "mut": []}
    out["mut"] = [list(p) for p in _changed(before, _pieces(inp))]
    if rows:
        if out["k"] == "return":
            out["v"] = canonical.encode(value, budget)
        # Arguments no call changed are the same grown ones in both processes: not worth encoding again.
        out["a"] = canonical.encode(inp, budget) if out["mut"] else ["N"]
    return out


def _derive(base: _Set, indices: list[int], k: int) -> _Set:
    inputs: list[Input] = []
    blobs: list[bytes | None] = []
    origin: list[int] = []
    for i in indices:
        grown = scaled.grow(*base.whole_copy(i), k)
        if grown is not None:
            inputs.append(grown)
            blobs.append(_dump(grown))
            origin.append(i)
    return _Set(inputs, blobs, origin)


def serve(p: dict[str, Any], channel: Any) -> None:
    signal.signal(signal.SIGALRM, _too_slow)
    fn = loader.load_function(p, p["function"])
    captured = loader.load_inputs(p)
    blobs = [bytes(b) if isinstance(b, (bytes, bytearray)) else None for b in p["inputs"]]
    sets = {"1": _Set(captured, blobs, list(range(len(captured))))}
    clear = getattr(fn, "cache_clear", lambda: None)
    batches: list[list[Input]] = []
    kept: list[tuple[str, Any]] = []
    channel.send({"ready": True, "n": len(captured)})
    while (req := channel.receive()) is not None:
        op = req.get("op")
        if op == "derive":
            k = int(req["scale"])
            sets[str(k)] = grown = _derive(sets["1"], [int(i) for i in req["base"]], k)
            channel.send({"origin": grown.origin, "bytes": sum(len(b or b"") for b in grown.blobs)})
        elif op == "check":
            s, idx = sets[req["set"]], [int(i) for i in req["idx"]]
            limits = req.get("per_call_s", 0)
            limits = limits if isinstance(limits, list) else [limits] * len(idx)
            calls, spent = [], 0.0
            for i, limit in zip(idx, limits, strict=True):
                if spent > float(req.get("total_s") or float("inf")):
                    calls.append({"k": "skip", "s": 0.0, "mut": []})
                    continue
                clear()
                rows, budget = bool(req.get("rows")), int(req.get("budget") or p["budget"])
                calls.append(_check_one(fn, s.whole_copy(i), float(limit), rows, budget))
                spent += calls[-1]["s"]
            channel.send({"calls": calls})
        elif op == "prepare":
            s, idx = sets[req["set"]], [int(i) for i in req["idx"]]
            makers = [s.fresh(i, _normal(paths)) for i, paths in zip(idx, req["paths"], strict=True)]
            batches = []  # the previous batch's copies go before the new ones are made
            batches = [[m.make() for m in makers] for _ in range(int(req["repeat"]))]
            channel.send({"ok": True, "bytes": sum(m.nbytes for m in makers)})
        elif op in ("run", "empty"):
            target = fn if op == "run" else _empty
            for batch in batches[:-1]:
                clear()  # a cache a rewrite added starts empty each pass, as in a fresh process
                for args, kwargs in batch:
                    try:
                        target(*args, **kwargs)
                    except BaseException:
                        pass
            clear()
            kept = last_pass(target, batches[-1])
            channel.send({"ok": True})
        elif op == "digest":  # of the last timed pass: encoding its results is not part of the time
            digest = digest_of(kept, p["budget"])
            kept = []  # freed before the reply: the other process, next on this CPU, would share it with the frees
            channel.send({"digest": digest})
        elif op == "peak":
            s, idx = sets[req["set"]], [int(i) for i in req["idx"]]
            batch = [s.fresh(i, _normal(paths)).make() for i, paths in zip(idx, req["paths"], strict=True)]
            batches = []
            clear()
            cut = False
            tracemalloc.start()  # tracing slows some code tens of times: the pass stops at total_s
            try:
                signal.setitimer(signal.ITIMER_REAL, float(req.get("total_s") or 0))
                for args, kwargs in batch:
                    try:
                        fn(*args, **kwargs)
                    except _TooSlow:
                        raise
                    except BaseException:
                        pass
                signal.setitimer(signal.ITIMER_REAL, 0)
            except _TooSlow:
                cut = True
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            channel.send({"peak": peak, "cut": cut})
        else:
            channel.send({"error": f"unknown request {op!r}"})
