"""Driver: a persistent process the parent times from outside, batch by batch.

Requests (one JSON object a line): ``prepare {repeat}`` builds the inputs for one batch (fresh deep
copies when a call mutates its arguments; copying is not timed), ``run`` performs ``repeat`` passes over
all inputs (that is what the parent times), ``digest`` then answers with the digest of the last pass's
outcomes (so the timed calls are checked against the verified ones; encoding them is not timed: a large
result would dilute the ratio), ``empty`` does the same passes with a function that does nothing, ``peak``
returns the tracemalloc peak of one pass. The parent's clock around ``run`` is the measurement: nothing
in this process can change it.
"""

from __future__ import annotations

import copy
import pickle
import tracemalloc
from typing import Any

from . import canonical, loader


def _empty(*args: Any, **kwargs: Any) -> None:
    return None


def _mutates(fn: Any, inputs: list[tuple[tuple, dict]]) -> bool:
    for args, kwargs in inputs:
        a, k = copy.deepcopy(args), copy.deepcopy(kwargs)
        try:
            before = pickle.dumps((a, k))
        except Exception:
            return True
        try:
            fn(*a, **k)
        except BaseException:
            pass
        try:
            if pickle.dumps((a, k)) != before:
                return True
        except Exception:
            return True
    return False


def last_pass(fn: Any, batch: list[tuple[tuple, dict]]) -> list[tuple[str, Any]]:
    """The outcomes of one pass, kept as they are (encoded later, outside the timed request)."""
    rows: list[tuple[str, Any]] = []
    for args, kwargs in batch:
        try:
            rows.append(("return", fn(*args, **kwargs)))
        except BaseException as exc:
            rows.append(("raise", exc))
    return rows


def digest_of(rows: list[tuple[str, Any]], budget: int) -> str:
    encoded = [
        ["return", canonical.encode(v, budget)] if kind == "return" else ["raise", canonical.type_name(type(v))]
        for kind, v in rows
    ]
    return canonical.digest(encoded)


def serve(p: dict[str, Any], channel: Any) -> None:
    fn = loader.load_function(p, p["function"])
    inputs = loader.load_inputs(p)
    fresh = _mutates(fn, inputs)
    clear = getattr(fn, "cache_clear", lambda: None)
    batches: list[list[list[tuple[tuple, dict]]]] = []
    kept: list[tuple[str, Any]] = []
    channel.send({"ready": True, "mutates": fresh})
    while (req := channel.receive()) is not None:
        op = req.get("op")
        if op == "prepare":
            repeat = int(req["repeat"])
            copies = fresh or bool(req.get("fresh"))
            batches = [copy.deepcopy(inputs) if copies else inputs for _ in range(repeat)]
            channel.send({"ok": True})
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
            channel.send({"digest": digest_of(kept, p["budget"])})
            kept = []
        elif op == "peak":
            clear()
            batch = copy.deepcopy(inputs)
            tracemalloc.start()
            for args, kwargs in batch:
                try:
                    fn(*args, **kwargs)
                except BaseException:
                    pass
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            channel.send({"peak": peak})
        else:
            channel.send({"error": f"unknown request {op!r}"})
