"""Reach into the helpers: the rules applied to the module-level functions a hot function calls.

Real code's hot function is often a thin wrapper whose time is spent in a helper it calls: the standard
library's pure-Python ``insort_right(a, x)`` is ``a.insert(bisect_right(a, x), x)``, and its time is the
binary search in ``bisect_right``. No rule applies to the wrapper; one applies to the helper. So besides
the rules' rewrites of the function asked for, the optimizer tries their rewrites of each helper it calls,
and judges them by the function asked for: verified on its captured inputs, measured on them, and run
with its workload, like any candidate. (Measured on ``insort_right`` over 1,500 inserts: see the README.)

Guarantees:

- a helper is a plain ``def`` (not ``async``, no decorators: a rewrite installed for the project's tests
  re-runs the def, and a decorator may register or wrap it) at the module's top level that the function
  calls by its plain name, not the function itself, and whose name the module binds exactly once (no other
  def, class, assignment, import, ``except ... as`` or ``global`` of it; the function, its lambdas and
  nested defs do not bind it), so the call means that def; one level deep, the first ``HELPERS`` in call
  order;
- a helper's rewrite is one of the rules' own rewrites of that def, with the same guarantees (only that
  def changes, plus the imports and constants the rule adds); ``Rewrite.helper`` names it, so the result
  can say which function the variant changes;
- nothing here runs code: which helpers exist is read from the source.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from slipstream.optimizer.functions import parse_function
from slipstream.optimizer.rules.engine import Rewrite, Rule, candidates
from slipstream.optimizer.rules.inlining import bindings

HELPERS = 3  # each rewrite costs a verification and a measurement (~5-10 s); wrappers call one or two


def called_helpers(source: str, qualname: str) -> list[str]:
    """The module-level functions ``qualname`` calls by plain name, in the order of their first call."""
    parsed = parse_function(source, qualname)
    if parsed is None:
        return []
    tree, target = parsed
    top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.decorator_list}
    counts = bindings(tree)
    found = [name for name in plain_calls(target) if name in top and name != qualname and counts.get(name) == 1]
    return found[:HELPERS]


def plain_calls(target: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The names ``target`` calls by plain name, in the order of their first call, but those it, its lambdas or
    its nested defs bind (there the name is not the module's)."""
    local: set[str] = set()
    for n in ast.walk(target):
        if isinstance(n, ast.arg):
            local.add(n.arg)
        elif isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            local.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not target:
            local.add(n.name)
    found: list[str] = []
    calls = [n for n in ast.walk(target) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        name = call.func.id  # type: ignore[attr-defined]
        if name not in local and name not in found:
            found.append(name)
    return found


def helper_candidates(source: str, qualname: str, rules: Sequence[Rule]) -> list[Rewrite]:
    """Every rule's rewrite of every helper ``qualname`` calls, named ``"<rule> in <helper>"``."""
    out: list[Rewrite] = []
    for helper in called_helpers(source, qualname):
        for c in candidates(source, helper, rules):
            title = f"{c.title} (in {helper}, which {qualname} calls)"
            reach = f"by rewriting {helper}(), which it calls"
            out.append(Rewrite(f"{c.rule} in {helper}", title, c.source, helper, reach))
    return out
