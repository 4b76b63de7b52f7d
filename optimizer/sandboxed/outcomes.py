"""Driver: run one or more functions on every input and report what each call did, as canonical data.

Per call: how it ended (returned or raised, with the exception's type and message), the returned
value, the arguments afterwards (mutation), what it printed, and which files it wrote or deleted (seen
by an audit hook: friendly detail; the parent also compares the work directories themselves). Each call
gets fresh deep copies of the inputs. The parent compares these reports from separate processes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
from typing import Any

from . import canonical, loader

_FS_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "shutil.rmtree", "os.symlink")
MAX_STDOUT = 10_000


class _Effects:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.on = False
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple) -> None:
        if not self.on:
            return
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1] or "r", args[2] or 0
            if any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                self.seen.append(f"writes {os.fsdecode(args[0])!r}")
        elif event in _FS_EVENTS and args:
            what = os.fsdecode(args[0]) if isinstance(args[0], (str, bytes)) else args[0]
            self.seen.append(f"{event} {what!r}")


def outcome(fn: Any, args: tuple, kwargs: dict, effects: _Effects, budget: int) -> dict[str, Any]:
    a, k = copy.deepcopy(args), copy.deepcopy(kwargs)
    buf = io.StringIO()
    effects.seen = []
    effects.on = True
    try:
        with contextlib.redirect_stdout(buf):
            value = fn(*a, **k)
        out: dict[str, Any] = {"k": "return", "v": canonical.encode(value, budget)}
    except BaseException as exc:
        out = {"k": "raise", "e": canonical.type_name(type(exc)), "m": str(exc)[:200]}
    finally:
        effects.on = False
    out["a"] = canonical.encode((a, k), budget)
    out["o"] = buf.getvalue()[:MAX_STDOUT]
    out["f"] = effects.seen[:10]
    return out


def main(p: dict[str, Any]) -> dict[str, Any]:
    effects = _Effects()
    fns = [loader.load_function(p, source) for source in p["functions"]]
    inputs = loader.load_inputs(p)
    return {"runs": [[outcome(fn, args, kwargs, effects, p["budget"]) for args, kwargs in inputs] for fn in fns]}
