"""Driver: run the workload and record the target function's arguments as it is called.

A profile hook sees every call of the function (matched by file and qualified name) and keeps up to
``limit`` distinct argument sets, pickled as they were on entry (at most ``max_bytes`` in all); calls
whose arguments cannot be pickled are counted. Watching stops once there are ``limit`` inputs or after
``WATCHED_CALLS`` calls of the function. The pickles travel to the parent as base64 text that the
parent stores and hands to other sandboxed processes, never loads. With ``variant``, the variant is
installed in the real module first (the project's workload run against it).
"""

from __future__ import annotations

import base64
import importlib
import os
import pickle
import sys
import threading
from typing import Any

from . import loader
from .workload import run_workload

# Each watched call costs ~2 µs (recursive fib's 3 M calls in a 0.1 s workload took 5.4 s to watch, 21
# distinct arguments among them): after this many calls of the function the rest go unwatched.
WATCHED_CALLS = 100_000


def main(p: dict[str, Any]) -> dict[str, Any]:
    if p.get("variant"):
        module = importlib.import_module(p["module"])
        loader.variant_in(module, p["qualname"].split("."), p["variant"], in_place=True, original=p.get("original"))
    target = os.path.realpath(p["path"])
    qualname = p["qualname"]
    blobs: list[bytes] = []
    seen: set[bytes] = set()
    matched: dict[tuple[Any, str], bool] = {}  # (code object, file) -> is it the target's
    stats = {"calls": 0, "skipped": 0, "bytes": 0}

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        where = (code, code.co_filename)  # code objects compare equal across files
        ours = matched.get(where)
        if ours is None:  # once per code object: realpath costs ~10 µs of system calls
            named = qualname in (getattr(code, "co_qualname", code.co_name), code.co_name)
            ours = matched[where] = named and os.path.realpath(code.co_filename) == target
        if not ours:
            return
        stats["calls"] += 1
        if len(blobs) >= p["limit"] or stats["calls"] > WATCHED_CALLS:
            sys.setprofile(None)  # enough: the rest of the workload runs at full speed in this thread
            threading.setprofile(None)
            return
        n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
        names = code.co_varnames
        local = frame.f_locals
        args = [local[n] for n in names[:n_pos]]
        kwargs = {n: local[n] for n in names[n_pos : n_pos + n_kw]}
        i = n_pos + n_kw
        if code.co_flags & 0x04:  # *args
            args.extend(local[names[i]])
            i += 1
        if code.co_flags & 0x08:  # **kwargs
            kwargs.update(local[names[i]])
        try:
            blob = pickle.dumps((tuple(args), kwargs))
        except Exception:
            stats["skipped"] += 1
            return
        if blob in seen:
            return
        if stats["bytes"] + len(blob) > p["max_bytes"]:
            stats["skipped"] += 1
            return
        seen.add(blob)
        blobs.append(blob)
        stats["bytes"] += len(blob)

    if p["limit"]:
        sys.setprofile(hook)
        threading.setprofile(hook)
    try:
        status, digest = run_workload(p)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return {
        "inputs": [base64.b64encode(b).decode() for b in blobs],
        "status": status,
        "stdout": digest,
        "calls": stats["calls"],
        "skipped": stats["skipped"],
    }
