"""Driver: run the workload and record the target function's arguments as it is called.

A profile hook sees every call of the function (matched by file and qualified name) and keeps up to
``limit`` distinct argument sets, pickled as they were on entry (at most ``max_bytes`` in all); calls
whose arguments cannot be pickled are counted. The pickles travel to the parent as base64 text that the
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


def main(p: dict[str, Any]) -> dict[str, Any]:
    if p.get("variant"):
        module = importlib.import_module(p["module"])
        loader.variant_in(module, p["qualname"].split("."), p["variant"], in_place=True)
    target = os.path.realpath(p["path"])
    qualname = p["qualname"]
    blobs: list[bytes] = []
    seen: set[bytes] = set()
    stats = {"calls": 0, "skipped": 0, "bytes": 0}

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if getattr(code, "co_qualname", code.co_name) != qualname and code.co_name != qualname:
            return
        if os.path.realpath(code.co_filename) != target:
            return
        stats["calls"] += 1
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
        if blob in seen or len(blobs) >= p["limit"]:
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
