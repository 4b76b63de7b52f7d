"""Hoisting rules: work a loop repeats on every iteration, done once before it; work every call repeats
(compiling a literal regex), done once at import.

Every transform takes the target ``FunctionDef`` and returns it unchanged when its preconditions do not
hold. What is hoisted reads only names the loop neither rebinds nor mutates, and nothing inside a
``lambda`` or a nested def (which may run later, or never) is touched; each hoisted value gets a fresh
local name, assigned where the loop stood (its blank lines and comments go first).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import (
    bound_names,
    code,
    expand_blocks,
    free_module_name,
    fresh,
    fresh_name,
    mutated_names,
    names_in,
    statement,
)
from slipstream.optimizer.rules.engine import WithPrelude

_SCALAR_BUILTINS = {"len"}
_CONTAINER_BUILTINS = {"set", "frozenset", "tuple", "sorted", "list"}
# re functions and how many positional arguments they take without flags.
_RE_ARGS = {"match": 2, "search": 2, "fullmatch": 2, "findall": 2, "finditer": 2, "split": 2, "sub": 3, "subn": 3}


class _ThisScope(cst.CSTVisitor):
    """Visits only what runs in the function's own scope (not lambdas or nested defs)."""

    def visit_Lambda(self, n: cst.Lambda) -> bool:
        return False

    def visit_FunctionDef(self, n: cst.FunctionDef) -> bool:
        return False


class _ThisScopeRewrite(cst.CSTTransformer):
    def visit_Lambda(self, n: cst.Lambda) -> bool:
        return False


def _loop_fields(loop: cst.For | cst.While) -> tuple[str, ...]:
    """What a loop evaluates on every iteration: its body, and a ``while``'s test."""
    return ("body", "test") if isinstance(loop, cst.While) else ("body",)


def _comp_repeated(comp: cst.CSTNode) -> list[cst.CSTNode]:
    """The parts of a comprehension evaluated once per element (all but the first iterable)."""
    first: cst.CompFor = comp.for_in  # type: ignore[attr-defined]
    parts: list[cst.CSTNode] = [*first.ifs]
    if first.inner_for_in is not None:
        parts.append(first.inner_for_in)
    parts += [comp.key, comp.value] if isinstance(comp, cst.DictComp) else [comp.elt]  # type: ignore[attr-defined]
    return parts


def _locals_for(fn: cst.FunctionDef, bases: dict[str, str], before: cst.BaseStatement):
    """Fresh local names for hoisted expressions (source text → base name), and their assignments, placed
    where ``before`` stood (its blank lines and comments go first)."""
    names: dict[str, str] = {}
    pre = []
    for text, base in bases.items():
        name = fresh(fn, base)
        while name in names.values():
            name += "_"
        names[text] = name
        pre.append(statement(f"{name} = {text}\n"))
    pre[0] = pre[0].with_changes(leading_lines=before.leading_lines)
    return names, pre


# ── loop-invariant len / set(...) ─────────────────────────────────────────────────────────────────────────


def _hoist(
    fn: cst.FunctionDef,
    stmt: cst.BaseStatement,
    repeated: list[cst.CSTNode],
    pick: Callable[[cst.Call, bool], cst.BaseExpression | None],
    base: Callable[[cst.BaseExpression], str],
    fields: tuple[str, ...] = (),
) -> list[cst.BaseStatement]:
    """``stmt``, preceded by the assignments of what ``pick`` takes out of the calls in ``repeated`` (the code
    ``stmt`` runs again and again), each once, to a fresh local named after ``base``; in ``stmt`` (only its
    ``fields`` where given) the calls then use the locals.

    ``pick(call, in_test)``: the call itself, or its callee, when it may be hoisted; ``in_test``: the call is
    the container of an ``in``/``not in`` test."""
    found: dict[str, cst.BaseExpression] = {}

    class Find(_ThisScope):
        def visit_Call(self, n: cst.Call) -> None:
            self.add(pick(n, False))

        def visit_ComparisonTarget(self, n: cst.ComparisonTarget) -> None:
            if isinstance(n.operator, (cst.In, cst.NotIn)) and isinstance(n.comparator, cst.Call):
                self.add(pick(n.comparator, True))

        def add(self, expr: cst.BaseExpression | None) -> None:
            if expr is not None:
                found.setdefault(code(expr), expr)

    for part in repeated:
        part.visit(Find())
    if not found:
        return [stmt]
    names, pre = _locals_for(fn, {text: base(expr) for text, expr in found.items()}, stmt)

    class Replace(_ThisScopeRewrite):
        def leave_Call(self, original: cst.Call, updated: cst.Call):
            expr = pick(original, True)
            name = names.get(code(expr)) if expr is not None else None
            if name is None:
                return updated
            return cst.Name(name) if expr is original else updated.with_changes(func=cst.Name(name))

    if fields:
        new = stmt.with_changes(**{f: getattr(stmt, f).visit(Replace()) for f in fields}, leading_lines=[])
    else:
        new = stmt.visit(Replace()).with_changes(leading_lines=[])
    return [*pre, new]


# ── loop-invariant len / set(...) ─────────────────────────────────────────────────────────────────────────


def hoist_invariant_calls(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``len(ys)`` anywhere in a loop or comprehension, and ``x in set(ys)``/``sorted``/``tuple``/``list``/
    ``frozenset`` as the container of a membership test there, computed once before the loop (or the
    statement holding the comprehension) when ``ys`` (plain names only) is neither rebound nor mutated in
    it. The container is only read by ``in``, so sharing one object is safe."""

    def expand(stmt: cst.BaseStatement, before: list[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        if isinstance(stmt, (cst.For, cst.While)):
            repeated = [getattr(stmt, f) for f in _loop_fields(stmt)]
        elif isinstance(stmt, cst.SimpleStatementLine):
            comps = m.findall(stmt, m.ListComp() | m.SetComp() | m.DictComp() | m.Call(args=[m.Arg(m.GeneratorExp())]))
            parts = [c.args[0].value if isinstance(c, cst.Call) else c for c in comps]
            repeated = [p for c in parts for p in _comp_repeated(c)]
        else:
            return None
        variant = bound_names(stmt) | mutated_names(stmt)

        def pick(call: cst.Call, in_test: bool) -> cst.BaseExpression | None:
            kinds = _SCALAR_BUILTINS | _CONTAINER_BUILTINS if in_test else _SCALAR_BUILTINS
            if (
                isinstance(call.func, cst.Name)
                and call.func.value in kinds
                and len(call.args) == 1
                and call.args[0].keyword is None
                and not call.args[0].star
                and isinstance(call.args[0].value, cst.Name)
                and call.args[0].value.value not in variant
            ):
                return call
            return None

        return _hoist(fn, stmt, repeated, pick, lambda c: f"_{c.func.value}_{c.args[0].value.value}")

    return expand_blocks(fn, expand)


# ── method and attribute lookups ──────────────────────────────────────────────────────────────────────────


def hoist_method_lookups(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``out.append(x)`` / ``math.sqrt(x)`` called inside a loop → the bound method or function looked up
    once before the loop (``_out_append = out.append``), when the name is not rebound in the loop and none
    of its attributes is assigned there. Offered before 3.11 only (``until`` in the registry): 3.11's
    specialised method calls beat a call through a local bound method, and bench/optimize.py measured it at
    0.88–1.04× on every function it applied to (0.90× on textwrap's ``_wrap_chunks`` and ``normpath``)."""

    def expand(loop: cst.BaseStatement, before: list[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        if not isinstance(loop, (cst.For, cst.While)):
            return None
        rebound = bound_names(loop)
        attr_assigned = {
            t.target.value.value  # type: ignore[union-attr]
            for t in m.findall(loop, m.AssignTarget(target=m.Attribute(value=m.Name())) | m.Del(target=m.Attribute()))
        }

        def pick(call: cst.Call, in_test: bool) -> cst.BaseExpression | None:
            f = call.func
            if not m.matches(f, m.Attribute(value=m.Name())):
                return None
            owner = f.value.value
            if owner in rebound or owner in attr_assigned or owner in ("super", "self"):
                return None
            return f

        fields = _loop_fields(loop)
        repeated = [getattr(loop, f) for f in fields]
        return _hoist(fn, loop, repeated, pick, lambda a: f"_{a.value.value}_{a.attr.value}", fields)

    return expand_blocks(fn, expand)


# ── re.<fn>(literal, ...) → one pattern compiled at import ───────────────────────────────────────────────


def _compiles(literal: cst.BaseExpression) -> bool:
    """The literal is a pattern ``re.compile`` accepts (compiled at import, a bad one would break the import
    where the original only failed when called)."""
    try:
        re.compile(ast.literal_eval(code(literal)))
    except Exception:
        return False
    return True


def compile_regex(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef | WithPrelude:
    """``re.match(r"...", s)`` (and search, fullmatch, findall, finditer, split, sub, subn) with a literal
    pattern and no flags → a pattern compiled once, at import, in a module-level constant just before the
    def: each call skips ``re``'s cache lookup (type checks, a dict lookup keyed by pattern and flags).
    Measured on 3.11: ``re.split(r"\\n|\\r\\n|\\r", s)`` 2.1× faster compiled on a 6-character line, 1.19×
    on 110 characters, 1.07× on 400; in a loop the saving is per iteration. The pattern must compile
    (checked here), and ``re`` must mean the module everywhere in the source (``free_module_name``)."""
    if not free_module_name(module, "re") or not isinstance(fn.body, cst.IndentedBlock):
        return fn
    patterns: dict[str, str] = {}
    taken = names_in(module)
    base = f"_{fn.name.value.lstrip('_')}_re"

    def ok(n: cst.Call) -> bool:
        f = n.func
        return (
            m.matches(f, m.Attribute(value=m.Name("re")))
            and f.attr.value in _RE_ARGS
            and len(n.args) == _RE_ARGS[f.attr.value]
            and all(a.keyword is None and not a.star for a in n.args)
            and isinstance(n.args[0].value, (cst.SimpleString, cst.ConcatenatedString))
            and _compiles(n.args[0].value)
        )

    class T(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call):
            if not ok(original):
                return updated
            pat = code(original.args[0].value)
            if pat not in patterns:
                patterns[pat] = fresh_name(base, taken)
                taken.add(patterns[pat])
            return updated.with_changes(
                func=cst.Attribute(cst.Name(patterns[pat]), updated.func.attr),
                args=[a.with_changes() for a in updated.args[1:]],
            )

    new = fn.visit(T())
    if not patterns:
        return fn
    return WithPrelude(new, tuple(statement(f"{name} = re.compile({pat})\n") for pat, name in patterns.items()))
