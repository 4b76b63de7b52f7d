"""Does a variant behave like the original on real inputs? Checked in the sandbox, call by call.

Compared per input: the return value (exact equality and the same type; a relative tolerance of 1e-9
only for floats, where the original returns floats or lists, tuples or dicts of them), the raised
exception's type, how the arguments were mutated, what was printed, and which files it wrote or deleted
(even inside the sandbox, where that is allowed). Each call gets fresh deep copies of the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optimizer.loader import LOADER
from optimizer.sandbox import Limits, run

FLOAT_REL_TOL = 1e-9

_DRIVER = (
    LOADER
    + r"""
import contextlib, io, math, os

# File-system effects of a call, even inside the sandbox's own directory (where they are allowed): a
# variant that writes or deletes files the original does not is not the same function.
_effects, _watching = [], [False]
_FS_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "shutil.rmtree", "os.symlink")

def _watch(event, args):
    if not _watching[0]:
        return
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1] or "r", args[2] or 0
        if any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            _effects.append(f"writes {os.fsdecode(args[0])!r}")
    elif event in _FS_EVENTS and args:
        _effects.append(f"{event} {os.fsdecode(args[0]) if isinstance(args[0], (str, bytes)) else args[0]!r}")

sys.addaudithook(_watch)

def outcome(fn, args, kwargs):
    a, k = copy.deepcopy(args), copy.deepcopy(kwargs)
    buf = io.StringIO()
    del _effects[:]
    _watching[0] = True
    try:
        with contextlib.redirect_stdout(buf):
            value = fn(*a, **k)
        result = ("return", value)
    except BaseException as exc:
        result = ("raise", type(exc).__name__, str(exc)[:120])
    finally:
        _watching[0] = False
    try:
        after = pickle.dumps((a, k))
    except Exception:
        after = repr((a, k))
    return result, after, buf.getvalue(), list(_effects)

def same(x, y, tol):
    if type(x) is not type(y):
        return False
    if isinstance(x, float):
        return x == y or (tol and math.isclose(x, y, rel_tol=tol)) or (x != x and y != y)
    if tol and isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(same(a, b, tol) for a, b in zip(x, y))
    if tol and isinstance(x, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k], tol) for k in x)
    return x == y

def has_float(v, depth=0):
    if isinstance(v, float):
        return True
    if depth < 3 and isinstance(v, (list, tuple)):
        return any(has_float(e, depth + 1) for e in v[:1000])
    if depth < 3 and isinstance(v, dict):
        return any(has_float(e, depth + 1) for e in list(v.values())[:1000])
    return False

p = PAYLOAD
original, variant, inputs = load_pair(p)
rows = []
for args, kwargs in inputs:
    (ro, ao, so, fo), (rv, av, sv, fv) = outcome(original, args, kwargs), outcome(variant, args, kwargs)
    tol = p["tol"] if ro[0] == "return" and has_float(ro[1]) else 0.0
    if ro[0] != rv[0]:
        raised = ro if ro[0] == "raise" else rv
        rows.append(f"original {ro[0]}s, variant {rv[0]}s ({raised[1]}: {raised[2]})")
    elif ro[0] == "raise" and ro[1] != rv[1]:
        rows.append(f"raises {rv[1]} ({rv[2]}) instead of {ro[1]}")
    elif ro[0] == "return" and not same(ro[1], rv[1], tol):
        rows.append(f"returns {rv[1]!r:.80} instead of {ro[1]!r:.80}")
    elif ao != av:
        rows.append("mutates its arguments differently")
    elif so != sv:
        rows.append("prints differently")
    elif fo != fv:
        rows.append(f"touches files differently: {(fv or fo)[:3]}")
    else:
        rows.append("")
RESULT = rows
"""
)


@dataclass
class Verdict:
    ok: bool
    inputs: int
    reason: str = ""  # the first mismatch, or the sandbox's reason
    mismatches: list[str] = field(default_factory=list)


def verify(
    module_source: str,
    variant_source: str,
    name: str,
    inputs: list[tuple[tuple, dict]] | list[bytes],
    limits: Limits | None = None,
    workspace: str | None = None,
    module: str | None = None,
) -> Verdict:
    """Run original and variant (``name``, e.g. ``f`` or ``Class.method``) on every input; any
    difference rejects. ``inputs`` may be captured pickles; with ``workspace`` and ``module`` the
    original is the real module (see optimizer/loader.py)."""
    if not inputs:
        return Verdict(False, 0, "no inputs to verify on")
    payload: dict[str, Any] = {
        "original": module_source,
        "variant": variant_source,
        "name": name,
        "inputs": inputs,
        "tol": FLOAT_REL_TOL,
        "workspace": workspace,
        "module": module,
    }
    res = run(_DRIVER, payload, limits, workspace=workspace)
    if not res.ok:
        return Verdict(False, 0, f"sandbox: {res.reason}")
    bad = [f"input {i}: {r}" for i, r in enumerate(res.value) if r]
    return Verdict(not bad, len(inputs), bad[0] if bad else "", bad)
