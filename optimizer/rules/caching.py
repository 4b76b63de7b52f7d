"""Caching rules: a pure, self-recursive function remembers its results (``functools.cache``).

A cached call returns the result of an earlier call with equal arguments and skips the body, so the
function must be a function of its arguments and do nothing else: no call the purity vocabulary
(optimizer/purity.py) lists, of either kind (what the result reads, or what the call does), no
``global``/``nonlocal``, no ``yield``, no write into an object. The arguments must be hashable, which
verification on the real inputs checks.
"""

from __future__ import annotations

import ast

import libcst as cst
from slipstream.optimizer.cstutil import code, is_simple_literal
from slipstream.optimizer.purity import why_impure


def cache_recursion(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``@functools.cache`` on a pure function that calls itself, has positional parameters only (no
    ``*args``/``**kwargs``), literal defaults (a mutable default could be changed between calls) and no
    decorators already."""
    if fn.decorators or fn.params.star_kwarg is not None or isinstance(fn.params.star_arg, cst.Param):
        return fn
    if any(p.default is not None and not is_simple_literal(p.default) for p in fn.params.params):
        return fn
    try:
        # The def alone: the module is not in sight, so names are read as the modules they spell.
        node = ast.parse(code(fn)).body[0]
    except SyntaxError:
        return fn
    name = fn.name.value
    calls_self = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(node)
    )
    if not calls_self or why_impure(node, None, effects=True):
        return fn
    deco = cst.Decorator(decorator=cst.Attribute(value=cst.Name("functools"), attr=cst.Name("cache")))
    return fn.with_changes(decorators=[deco])
