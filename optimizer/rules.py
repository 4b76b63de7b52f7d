"""Behaviour-preserving rewrites with libcst: minimal changes first (data structures, then loops).

Each rule has a precise precondition and changes only the target function. A rewrite is a
candidate, never an answer: it is offered only after verification on real inputs and measurement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer import rules_loops as rl
from slipstream.optimizer.cstutil import MUTATORS, is_simple_literal, merge_pairs, names_in


@dataclass(frozen=True)
class Rewrite:
    rule: str
    title: str
    source: str  # the whole module with the function rewritten


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    transform: Callable[[cst.FunctionDef], cst.FunctionDef]
    imports: tuple[str, ...] = ()  # modules the rewrite refers to


class _KeysMembership(cst.CSTTransformer):
    """``k in d.keys()`` -> ``k in d``: a view lookup through a method call is slower than the dict's own."""

    def leave_ComparisonTarget(self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget):
        if isinstance(updated.operator, (cst.In, cst.NotIn)) and m.matches(
            updated.comparator, m.Call(func=m.Attribute(attr=m.Name("keys")), args=[])
        ):
            return updated.with_changes(comparator=updated.comparator.func.value)
        return updated


class _SortedIndex(cst.CSTTransformer):
    """``sorted(x)[0]`` -> ``min(x)`` and ``sorted(x)[-1]`` -> ``max(x)`` (one argument, no key/reverse)."""

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript):
        if not m.matches(updated.value, m.Call(func=m.Name("sorted"), args=[m.Arg(keyword=None, star="")])):
            return updated
        if len(updated.slice) != 1 or not isinstance(updated.slice[0].slice, cst.Index):
            return updated
        idx = updated.slice[0].slice.value
        if m.matches(idx, m.Integer("0")):
            fn = "min"
        elif m.matches(idx, m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1"))):
            fn = "max"
        else:
            return updated
        return cst.Call(func=cst.Name(fn), args=[updated.value.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)])


class _SumOfList(cst.CSTTransformer):
    """``sum([e for x in xs])`` -> ``sum(e for x in xs)``: no intermediate list."""

    def leave_Call(self, original: cst.Call, updated: cst.Call):
        if m.matches(updated, m.Call(func=m.Name("sum"), args=[m.Arg(value=m.ListComp(), keyword=None, star="")])):
            comp = updated.args[0].value
            gen = cst.GeneratorExp(elt=comp.elt, for_in=comp.for_in, lpar=[], rpar=[])
            return updated.with_changes(args=[cst.Arg(gen)])
        return updated


class _LiteralListMembership(cst.CSTTransformer):
    """``x in [1, 2, 3]`` -> ``x in {1, 2, 3}`` when every element is a hashable literal."""

    def leave_ComparisonTarget(self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget):
        comp = updated.comparator
        if (
            isinstance(updated.operator, (cst.In, cst.NotIn))
            and isinstance(comp, (cst.List, cst.Tuple))
            and len(comp.elements) >= 3
            and all(isinstance(e, cst.Element) and is_simple_literal(e.value) for e in comp.elements)
        ):
            return updated.with_changes(comparator=cst.Set(elements=comp.elements))
        return updated


def _loop_to_builder(fn: cst.FunctionDef, kind: str) -> cst.FunctionDef:
    """``acc = []; for x in xs: acc.append(e)`` -> a comprehension; ``s = ""; for x in xs: s += e`` -> join.

    Preconditions: the two statements are adjacent in the same block, the loop has no ``else``, its body
    is that one statement (optionally under one ``if`` without ``else``), the target is a plain name
    not used after the loop, and the accumulator is not read inside the loop.
    """
    return merge_pairs(fn, lambda body, i: _try_pair(body, i, kind))


def _try_pair(body: list[cst.BaseStatement], i: int, kind: str) -> cst.BaseStatement | None:
    if i + 1 >= len(body):
        return None
    init, loop = body[i], body[i + 1]
    if not (isinstance(init, cst.SimpleStatementLine) and len(init.body) == 1 and isinstance(loop, cst.For)):
        return None
    assign = init.body[0]
    if not (
        isinstance(assign, cst.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name)
    ):
        return None
    acc = assign.targets[0].target.value
    if loop.orelse is not None or loop.asynchronous is not None or not isinstance(loop.target, cst.Name):
        return None
    if not isinstance(loop.body, cst.IndentedBlock) or len(loop.body.body) != 1:
        return None
    stmt = loop.body.body[0]
    cond: cst.BaseExpression | None = None
    if (
        isinstance(stmt, cst.If)
        and stmt.orelse is None
        and isinstance(stmt.body, cst.IndentedBlock)
        and len(stmt.body.body) == 1
    ):
        cond, stmt = stmt.test, stmt.body.body[0]
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    inner = stmt.body[0]
    if kind == "append":
        if not m.matches(assign.value, m.List(elements=[])):
            return None
        if not m.matches(
            inner,
            m.Expr(
                m.Call(func=m.Attribute(value=m.Name(acc), attr=m.Name("append")), args=[m.Arg(keyword=None, star="")])
            ),
        ):
            return None
        elt = inner.value.args[0].value
    else:
        if not m.matches(assign.value, m.SimpleString()) or assign.value.evaluated_value != "":
            return None
        if not (
            isinstance(inner, cst.AugAssign)
            and isinstance(inner.operator, cst.AddAssign)
            and m.matches(inner.target, m.Name(acc))
        ):
            return None
        elt = inner.value
    used_inside = names_in(elt) | (names_in(cond) if cond is not None else set()) | names_in(loop.iter)
    if acc in used_inside:
        return None
    # The loop variable must not be read after the loop: a comprehension does not leave it set.
    if any(loop.target.value in names_in(s) for s in body[i + 2 :]):
        return None
    ifs = [cst.CompIf(test=cond)] if cond is not None else []
    comp_for = cst.CompFor(target=loop.target, iter=loop.iter, ifs=ifs)
    if kind == "append":
        value: cst.BaseExpression = cst.ListComp(elt=elt, for_in=comp_for)
    else:
        value = cst.Call(
            func=cst.Attribute(value=cst.SimpleString('""'), attr=cst.Name("join")),
            args=[cst.Arg(cst.GeneratorExp(elt=elt, for_in=comp_for, lpar=[], rpar=[]))],
        )
    return init.with_changes(body=[assign.with_changes(value=value)], leading_lines=init.leading_lines)


_IMPURE_CALLS = {"print", "open", "input", "exec", "eval", "setattr", "delattr", "globals", "vars"}
_IMPURE_MODULES = {"random", "time", "datetime", "os", "sys", "secrets", "uuid", "itertools"}


def _cache_recursive(fn: cst.FunctionDef) -> cst.FunctionDef:
    """A pure, self-recursive function with positional parameters gets ``@functools.cache``.

    Preconditions: it calls itself; it has no ``global``/``nonlocal``, no attribute or subscript
    assignment, no ``yield``, no calls to I/O, time or randomness; no ``*args``/``**kwargs``
    defaults that could be mutable; no decorators already.
    """
    name = fn.name.value
    if fn.decorators or fn.params.star_kwarg is not None or isinstance(fn.params.star_arg, cst.Param):
        return fn
    if any(p.default is not None and not is_simple_literal(p.default) for p in fn.params.params):
        return fn
    calls_self = impure = False

    class V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            nonlocal calls_self, impure
            if m.matches(node.func, m.Name(name)):
                calls_self = True
            if isinstance(node.func, cst.Name) and node.func.value in _IMPURE_CALLS:
                impure = True
            if (
                isinstance(node.func, cst.Attribute)
                and m.matches(node.func.value, m.Name())
                and node.func.value.value in _IMPURE_MODULES
            ):
                impure = True
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in MUTATORS:
                impure = True  # mutates an argument or shared state: not a function of its arguments

        def visit_Global(self, node: cst.Global) -> None:
            nonlocal impure
            impure = True

        def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
            nonlocal impure
            impure = True

        def visit_Yield(self, node: cst.Yield) -> None:
            nonlocal impure
            impure = True

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            nonlocal impure
            if isinstance(node.target, (cst.Attribute, cst.Subscript)):
                impure = True

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            nonlocal impure
            if isinstance(node.target, (cst.Attribute, cst.Subscript)):
                impure = True

    fn.body.visit(V())
    if not calls_self or impure:
        return fn
    deco = cst.Decorator(decorator=cst.Attribute(value=cst.Name("functools"), attr=cst.Name("cache")))
    return fn.with_changes(decorators=[deco])


def _membership_set(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``x in items`` inside a loop, ``items`` a parameter never rebound or mutated → a set built once.

    Preconditions: the membership test sits inside a ``for``/``while`` body or a comprehension; the
    container is a plain parameter name; the function never assigns to it, never calls a method on it
    that could mutate it, never deletes from it. Element hashability and container kind (a ``str``
    parameter does substring tests) are left to verification on real inputs.
    """
    params = {p.name.value for p in (*fn.params.params, *fn.params.kwonly_params, *fn.params.posonly_params)}
    touched: set[str] = set()
    used_in_loop: set[str] = set()

    class Scan(cst.CSTVisitor):
        depth = 0

        def _enter(self, node: cst.CSTNode) -> None:
            self.depth += 1

        def _leave(self, node: cst.CSTNode) -> None:
            self.depth -= 1

        visit_For = visit_While = visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _enter
        leave_For = leave_While = leave_ListComp = leave_SetComp = leave_GeneratorExp = leave_DictComp = _leave

        def visit_ComparisonTarget(self, node: cst.ComparisonTarget) -> None:
            if self.depth and isinstance(node.operator, (cst.In, cst.NotIn)) and isinstance(node.comparator, cst.Name):
                used_in_loop.add(node.comparator.value)

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            touched.update(names_in(node.target))

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            touched.update(names_in(node.target))

        def visit_Del(self, node: cst.Del) -> None:
            touched.update(names_in(node.target))

        def visit_For(self, node: cst.For) -> None:  # noqa: F811 - the loop target is rebound too
            self.depth += 1
            touched.update(names_in(node.target))

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name):
                if node.func.attr.value in MUTATORS:
                    touched.add(node.func.value.value)

    fn.visit(Scan())
    targets = sorted((used_in_loop & params) - touched)
    if not targets or not isinstance(fn.body, cst.IndentedBlock):
        return fn
    renamed = {name: f"_{name}_set" for name in targets}

    class Rename(cst.CSTTransformer):
        depth = 0

        def visit_For(self, node: cst.For) -> None:
            self.depth += 1

        def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
            self.depth -= 1
            return updated

        visit_While = visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_For

        def leave_While(self, original, updated):
            self.depth -= 1
            return updated

        leave_ListComp = leave_SetComp = leave_GeneratorExp = leave_DictComp = leave_While

        def leave_ComparisonTarget(self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget):
            c = updated.comparator
            if (
                self.depth
                and isinstance(updated.operator, (cst.In, cst.NotIn))
                and isinstance(c, cst.Name)
                and c.value in renamed
            ):
                return updated.with_changes(comparator=cst.Name(renamed[c.value]))
            return updated

    new = fn.visit(Rename())
    body = list(new.body.body)
    pos = 1 if body and m.matches(body[0], m.SimpleStatementLine(body=[m.Expr(m.SimpleString())])) else 0
    builds = [cst.parse_statement(f"{renamed[n]} = set({n})\n") for n in targets]
    return new.with_changes(body=new.body.with_changes(body=body[:pos] + builds + body[pos:]))


RULES: tuple[Rule, ...] = (
    Rule("keys-membership", "`k in d.keys()` → `k in d`", lambda f: f.visit(_KeysMembership())),
    Rule("sorted-index", "`sorted(x)[0]`/`[-1]` → `min`/`max`", lambda f: f.visit(_SortedIndex())),
    Rule("sum-generator", "`sum([...])` → `sum(...)` without the list", lambda f: f.visit(_SumOfList())),
    Rule("literal-set-membership", "membership in a literal list → set", lambda f: f.visit(_LiteralListMembership())),
    Rule("append-loop-comprehension", "append loop → list comprehension", lambda f: _loop_to_builder(f, "append")),
    Rule("string-concat-join", 'string `+=` loop → `"".join`', lambda f: _loop_to_builder(f, "concat")),
    Rule("cache-pure-recursion", "pure recursive function → `functools.cache`", _cache_recursive, ("functools",)),
    Rule("membership-set", "membership in a parameter inside a loop → a set built once", _membership_set),
    Rule("search-loop-builtin", "search loop → `any`/`next`", rl.search_loop),
    Rule("deque-queue", "`list.pop(0)`/`insert(0, x)` queue → `collections.deque`", rl.deque_queue, ("collections",)),
    Rule("hoist-invariant-call", "loop-invariant `len`/`set(...)` hoisted out of the loop", rl.hoist_invariant_calls),
    Rule("hoist-method-lookup", "method/attribute lookups hoisted out of the loop", rl.hoist_method_lookups),
    Rule("compile-regex", "`re` calls with a literal pattern → one compiled pattern", rl.compile_regex),
    Rule("counter-loop", "manual counting → `collections.Counter`", rl.count_loop, ("collections",)),
    Rule("sum-loop", "`+=` accumulation loop → `sum`", rl.sum_loop),
    Rule("pairwise-index", "nested-loop equality match → a dict index", rl.pairwise_index),
    Rule("range-len-index", "`for i in range(len(xs))` → direct iteration", rl.range_len_index),
    Rule("square-multiply", "`x ** 2` → `x * x`", rl.square_multiply),
    Rule("seen-set-dedupe", "`not in` a growing list → a companion set", rl.seen_set),
    Rule("sorted-slice-heapq", "`sorted(xs)[:k]` → `heapq.nsmallest`/`nlargest`", rl.sorted_slice_heapq, ("heapq",)),
)


def _find_function(module: cst.Module, qualname: str) -> list[str] | None:
    parts = qualname.split(".")
    body = module.body
    path: list[str] = []
    for k, part in enumerate(parts):
        node = next((n for n in body if isinstance(n, (cst.FunctionDef, cst.ClassDef)) and n.name.value == part), None)
        if node is None:
            return None
        path.append(part)
        if k < len(parts) - 1:
            if not isinstance(node, cst.ClassDef) or not isinstance(node.body, cst.IndentedBlock):
                return None
            body = node.body.body
        elif not isinstance(node, cst.FunctionDef):
            return None
    return path


class ReplaceFunction(cst.CSTTransformer):
    """Apply ``transform`` to the one function at ``path`` (``["Class", "method"]``); ``changed`` says if it did."""

    def __init__(self, path: list[str], transform: Callable[[cst.FunctionDef], cst.FunctionDef]) -> None:
        self.path, self.transform, self.stack = path, transform, []  # type: ignore[var-annotated]
        self.changed = False

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack.append(node.name.value)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef):
        self.stack.pop()
        return updated

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.stack.append(node.name.value)
        return False  # the rule transforms the whole function itself

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
        here = list(self.stack)
        self.stack.pop()
        if here != self.path:
            return updated
        new = self.transform(updated)
        self.changed = not new.deep_equals(updated)
        return new


def _ensure_import(module: cst.Module, name: str) -> cst.Module:
    if re.search(rf"^import {name}\b", module.code, re.MULTILINE):
        return module
    stmt = cst.parse_statement(f"import {name}\n")
    body = list(module.body)
    pos = 0
    if body and m.matches(body[0], m.SimpleStatementLine(body=[m.Expr(m.SimpleString())])):
        pos = 1  # after the module docstring
    while pos < len(body) and m.matches(
        body[pos], m.SimpleStatementLine(body=[m.ImportFrom(module=m.Name("__future__"))])
    ):
        pos += 1
    body.insert(pos, stmt)
    return module.with_changes(body=body)


def candidates(source: str, qualname: str) -> list[Rewrite]:
    """Every rule that applies to ``qualname`` (``func`` or ``Class.method``), each as a whole module."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return []
    path = _find_function(module, qualname)
    if path is None:
        return []
    out: list[Rewrite] = []
    for rule in RULES:
        t = ReplaceFunction(path, rule.transform)
        new = module.visit(t)
        if not t.changed:
            continue
        for name in rule.imports:
            new = _ensure_import(new, name)
        try:
            compile(new.code, "<rewrite>", "exec")
        except SyntaxError:  # a rule's bug must cost a candidate, never produce broken code
            continue
        out.append(Rewrite(rule.name, rule.title, new.code))
    return out


def compose(source: str, qualname: str, names: list[str]) -> Rewrite | None:
    """The named rules applied one after another (in the registry's order): several small wins at once."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return None
    path = _find_function(module, qualname)
    if path is None:
        return None
    applied: list[str] = []
    for rule in RULES:
        if rule.name not in names:
            continue
        t = ReplaceFunction(path, rule.transform)
        new = module.visit(t)
        if t.changed:
            for name in rule.imports:
                new = _ensure_import(new, name)
            module = new
            applied.append(rule.name)
    if len(applied) < 2:
        return None
    try:
        compile(module.code, "<rewrite>", "exec")
    except SyntaxError:
        return None
    return Rewrite("+".join(applied), "combined: " + ", ".join(applied), module.code)
