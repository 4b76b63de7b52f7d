"""The judge: compares what two separate sandboxed processes reported, here, in the trusted process.

Reports are canonical trees (optimizer/sandboxed/canonical.py) parsed from JSON: no user class's
``__eq__`` is called, nothing is unpickled. Floats compare with a relative tolerance (``FLOAT_REL_TOL``:
summing in another order changes the last bits); everything else compares exactly. The checks on a
report's shape make a malformed or forged one a rejection, never an exception.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

FLOAT_REL_TOL = 1e-9
_ROW_KEYS = {"k", "v", "e", "m", "a", "o", "f"}


def is_tree(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and isinstance(x[0], str)


def valid_row(row: Any) -> bool:
    """The shape of one call's report (see optimizer/sandboxed/outcomes.py)."""
    if not isinstance(row, dict) or not set(row) <= _ROW_KEYS:
        return False
    if row.get("k") == "return":
        ok = is_tree(row.get("v"))
    elif row.get("k") == "raise":
        ok = isinstance(row.get("e"), str) and isinstance(row.get("m"), str)
    else:
        return False
    return (
        ok
        and is_tree(row.get("a"))
        and isinstance(row.get("o"), str)
        and isinstance(row.get("f"), list)
        and all(isinstance(x, str) for x in row["f"])
    )


def same_tree(x: Any, y: Any, tol: float = FLOAT_REL_TOL) -> bool:
    if isinstance(x, list) and isinstance(y, list):
        if len(x) == 2 and len(y) == 2 and x[0] == "f" and y[0] == "f" and isinstance(x[1], str):
            return _same_float(x[1], y[1], tol)
        return len(x) == len(y) and all(same_tree(a, b, tol) for a, b in zip(x, y, strict=False))
    return type(x) is type(y) and x == y


def _same_float(a: Any, b: Any, tol: float) -> bool:
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if fa == fb or (math.isnan(fa) and math.isnan(fb)):
        return True
    return bool(tol) and math.isclose(fa, fb, rel_tol=tol)


def short_type(name: str) -> str:
    return name.removeprefix("builtins.")


def show(tree: Any, width: int = 80) -> str:
    """A tree as Python-like text, cut to ``width``."""
    text = _show(tree, [width * 2])
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(t: Any, room: list[int]) -> str:
    room[0] -= 1
    if room[0] < 0 or not is_tree(t):
        return "…"
    tag = t[0]
    if tag == "N":
        return "None"
    if tag in ("b",):
        return repr(t[1])
    if tag in ("i", "f", "c"):
        return str(t[1])
    if tag == "s":
        return repr(t[1])
    if tag == "y":
        return f"bytes({len(str(t[2])) // 2})"
    if tag in ("l", "t", "S", "g", "q") and len(t) >= 3 and isinstance(t[2], list):
        inner = ", ".join(_show(e, room) for e in t[2][:20]) + (", …" if len(t[2]) > 20 else "")
        if tag in ("l", "q"):
            return f"[{inner}]" if tag == "l" else f"deque([{inner}])"
        if tag == "t":
            return f"({inner})"
        if tag == "S":
            return "{" + inner + "}" if inner else "set()"
        return f"<{short_type(str(t[1]))} of [{inner}]>"
    if tag in ("d", "D") and len(t) >= 3 and isinstance(t[2], list):
        pairs = [
            f"{_show(kv[0], room)}: {_show(kv[1], room)}" for kv in t[2][:20] if isinstance(kv, list) and len(kv) == 2
        ]
        return "{" + ", ".join(pairs) + "}"
    if tag == "o" and len(t) >= 3 and isinstance(t[2], list):
        attrs = [f"{kv[0]}={_show(kv[1], room)}" for kv in t[2][:10] if isinstance(kv, list) and len(kv) == 2]
        return f"{short_type(str(t[1]))}({', '.join(attrs)})"
    if tag == "e" and len(t) >= 3:
        return f"{short_type(str(t[1]))}(…)"
    if tag == "ref" and len(t) >= 3:
        return str(t[2])
    if tag == "r" and len(t) >= 3:
        return str(t[2])
    return f"<{tag}>"


def compare_rows(original: dict[str, Any], variant: dict[str, Any], tol: float = FLOAT_REL_TOL) -> str:
    """ "" when the variant's call behaved like the original's, else what differed."""
    ko, kv = original["k"], variant["k"]
    if ko != kv:
        raised = original if ko == "raise" else variant
        return f"original {ko}s, variant {kv}s ({short_type(raised['e'])}: {raised['m']})"
    if ko == "raise" and original["e"] != variant["e"]:
        return f"raises {short_type(variant['e'])} ({variant['m']}) instead of {short_type(original['e'])}"
    if ko == "return" and not same_tree(original["v"], variant["v"], tol):
        return f"returns {show(variant['v'])} instead of {show(original['v'])}"
    if not same_tree(original["a"], variant["a"], tol):
        return "mutates its arguments differently"
    if original["o"] != variant["o"]:
        return "prints differently"
    if original["f"] != variant["f"]:
        return f"touches files differently: {(variant['f'] or original['f'])[:3]}"
    return ""


def outcome_digest(rows: list[dict[str, Any]]) -> str:
    """The digest the timing driver computes for a pass over the same inputs (how each call ended)."""
    compact = [["return", r["v"]] if r["k"] == "return" else ["raise", r["e"]] for r in rows]
    return hashlib.sha256(json.dumps(compact, separators=(",", ":")).encode("utf-8", "surrogatepass")).hexdigest()
