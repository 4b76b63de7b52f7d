"""Loop rules: a whole loop replaced by a comprehension or a builtin that does the same work in C.

Every transform takes the target ``FunctionDef`` and returns it unchanged when its preconditions do not
hold. The shared ones (optimizer/cstutil.py's ``acc_pair``): the loop has no ``else``, is not ``async``,
has a plain name as target that nothing after it reads (a comprehension would not leave it set), and its
body is one statement. What no syntax check can see (a ``dict`` passed where a list was expected, an
iterator instead of a collection) is left to verification on the real inputs: a rewrite is a candidate.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import (
    acc_pair,
    bound_names,
    code,
    fresh,
    generator_source,
    guarded,
    has_unsafe,
    merge_pairs,
    mutated_names,
    names_in,
    one_comparison,
    parens,
    rewrite_blocks,
    single,
    small,
    statement,
)

# ── accumulator + loop → comprehension, join, sum, Counter ────────────────────────────────────────────────


def append_comprehension(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``acc = []; for x in xs: acc.append(e)`` (optionally under one ``if`` without ``else``) → a list
    comprehension; the accumulator is not read inside the loop."""
    return merge_pairs(fn, lambda body, i: _builder(fn, body, i, "append"))


def concat_join(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``s = ""; for x in xs: s += e`` (optionally under one ``if`` without ``else``) → ``"".join``; the
    accumulator is not read inside the loop."""
    return merge_pairs(fn, lambda body, i: _builder(fn, body, i, "concat"))


def _builder(fn: cst.FunctionDef, body: list[cst.BaseStatement], i: int, kind: str) -> cst.BaseStatement | None:
    pair = acc_pair(fn, body, i)
    if pair is None:
        return None
    assign, acc, loop, stmt = pair
    cond, stmt = guarded(stmt)
    inner = small(stmt)
    if inner is None:
        return None
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
    if acc in names_in(elt) | names_in(cond) | names_in(loop.iter):
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
    # The statement keeps its line's comments and blank lines: only the assigned value changes.
    return body[i].with_changes(body=[assign.with_changes(value=value)])


def _pairs(fn: cst.FunctionDef, make) -> cst.FunctionDef:
    """Each ``acc_pair`` for which ``make(assign, acc, loop, stmt)`` gives source → that one statement."""

    def merge(body: list[cst.BaseStatement], i: int) -> cst.BaseStatement | None:
        parts = acc_pair(fn, body, i)
        new = make(*parts) if parts else None
        return statement(new, body[i]) if new is not None else None

    return merge_pairs(fn, merge)


def count_loop(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``counts = {}`` + ``for x in xs: counts[k] = counts.get(k, 0) + 1`` (or the ``if k in counts: += 1
    else: = 1`` form) → ``counts = dict(collections.Counter(...))``: counting in C, same insertion order."""

    def make(init: cst.Assign, acc: str, loop: cst.For, stmt: cst.BaseStatement) -> str | None:
        if not m.matches(init.value, m.Dict(elements=[]) | m.Call(func=m.Name("dict"), args=[])):
            return None
        key = _count_key(acc, stmt)
        if key is None or acc in names_in(key) or acc in names_in(loop.iter) or has_unsafe(key):
            return None
        return f"{acc} = dict(collections.Counter({generator_source(key, loop)}))\n"

    return _pairs(fn, make)


def _count_key(acc: str, stmt: cst.BaseStatement) -> cst.BaseExpression | None:
    one = small(stmt)
    if isinstance(one, cst.Assign) and len(one.targets) == 1:
        t = one.targets[0].target
        if m.matches(t, m.Subscript(value=m.Name(acc))) and len(t.slice) == 1:
            key = t.slice[0].slice.value
            want = f"{acc}.get({code(key)}, 0) + 1"
            if code(one.value) == want:
                return key
        return None
    if not (isinstance(stmt, cst.If) and isinstance(stmt.orelse, cst.Else)):
        return None
    test = stmt.test
    member = one_comparison(test, cst.In)
    if member is None or not m.matches(member.comparator, m.Name(acc)):
        return None
    key = code(test.left)
    inc, init = small(single(stmt.body)), small(single(stmt.orelse.body))
    if inc is None or init is None:
        return None
    if code(cst.SimpleStatementLine([inc])).strip() != f"{acc}[{key}] += 1":
        return None
    if code(cst.SimpleStatementLine([init])).strip() != f"{acc}[{key}] = 1":
        return None
    return test.left


def sum_loop(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``total = 0`` + ``for x in xs: total += e`` (optionally under one ``if``) → ``total = sum(...)``
    (with the start value when it is not ``0``). Same additions in the same order."""

    def make(init: cst.Assign, acc: str, loop: cst.For, stmt: cst.BaseStatement) -> str | None:
        if not isinstance(init.value, (cst.Integer, cst.Float)):
            return None
        cond, stmt = guarded(stmt)
        inc = small(stmt)
        if not (isinstance(inc, cst.AugAssign) and isinstance(inc.operator, cst.AddAssign)):
            return None
        if not m.matches(inc.target, m.Name(acc)):
            return None
        if acc in names_in(inc.value) | names_in(cond) | names_in(loop.iter) or has_unsafe(inc.value):
            return None
        start = "" if code(init.value) == "0" else f", {code(init.value)}"
        gen = generator_source(inc.value, loop, cond)
        if start and " for " in gen:
            gen = f"({gen})"
        return f"{acc} = sum({gen}{start})\n"

    return _pairs(fn, make)


# ── search loop → any / not any / next ────────────────────────────────────────────────────────────────────


def search_loop(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``for x in xs: if c: return True`` + ``return False`` → ``return any(c for x in xs)`` (and the
    ``not any`` and ``next(..., None)`` forms). The loop's body is that one ``if``, without ``else``."""

    return merge_pairs(fn, lambda body, i: _search_pair(body[i], body[i + 1]))


def _search_pair(loop: cst.BaseStatement, after: cst.BaseStatement) -> cst.BaseStatement | None:
    if not isinstance(loop, cst.For) or loop.orelse is not None or loop.asynchronous is not None:
        return None
    test = single(loop.body)
    if not isinstance(test, cst.If) or test.orelse is not None or has_unsafe(test.test):
        return None
    inner, final = small(single(test.body)), small(after)
    if not (isinstance(inner, cst.Return) and isinstance(final, cst.Return)) or inner.value is None:
        return None
    i, f = code(inner.value), code(final.value) if final.value is not None else "None"
    comp = cst.CompFor(target=loop.target, iter=parens(loop.iter))
    if (i, f) in (("True", "False"), ("False", "True")):
        call: cst.BaseExpression = cst.Call(
            cst.Name("any"), [cst.Arg(cst.GeneratorExp(parens(test.test), comp, lpar=[], rpar=[]))]
        )
        if i == "False":
            call = cst.UnaryOperation(cst.Not(), call)
    elif f == "None" and isinstance(loop.target, cst.Name) and i == loop.target.value:
        gen = cst.GeneratorExp(loop.target, comp.with_changes(ifs=[cst.CompIf(parens(test.test))]))
        call = cst.Call(cst.Name("next"), [cst.Arg(gen), cst.Arg(cst.Name("None"))])
    else:
        return None
    return cst.SimpleStatementLine([cst.Return(call)], leading_lines=loop.leading_lines)


# ── index loop → direct iteration ─────────────────────────────────────────────────────────────────────────


def range_len_index(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``for i in range(len(xs)): ... xs[i] ...`` → ``for x in xs`` when ``i`` is used only as ``xs[i]``
    (reads), else ``for i, x in enumerate(xs)``; ``xs`` is a name neither rebound nor mutated in the loop,
    and ``i`` is not used after it."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        return [_range_len(fn, s, body[k + 1 :]) for k, s in enumerate(body)]

    return rewrite_blocks(fn, per_block)


def _range_len(fn: cst.FunctionDef, loop: cst.BaseStatement, rest: list[cst.BaseStatement]) -> cst.BaseStatement:
    if not isinstance(loop, cst.For) or loop.orelse is not None or not isinstance(loop.target, cst.Name):
        return loop
    if not m.matches(
        loop.iter, m.Call(func=m.Name("range"), args=[m.Arg(value=m.Call(func=m.Name("len"), args=[m.Arg(m.Name())]))])
    ):
        return loop
    i, xs = loop.target.value, loop.iter.args[0].value.args[0].value.value
    if xs in bound_names(loop.body) | mutated_names(loop.body) or i in bound_names(loop.body):
        return loop
    if any(i in names_in(s) for s in rest):
        return loop
    pattern = m.Subscript(value=m.Name(xs), slice=[m.SubscriptElement(m.Index(m.Name(i)))])
    reads = [s for s in m.findall(loop.body, pattern)]
    if not reads:
        return loop
    for t in m.findall(loop.body, m.AssignTarget() | m.AugAssign() | m.Del()):
        if m.findall(t.target, pattern):  # type: ignore[union-attr]
            return loop  # xs[i] = ... needs the index
    item = fresh(fn, f"{xs.rstrip('s') or xs}_item")

    class T(cst.CSTTransformer):
        def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript):
            return cst.Name(item) if m.matches(original, pattern) else updated

    body = loop.body.visit(T())
    if i in {n.value for n in m.findall(body, m.Name())}:
        target = cst.parse_expression(f"({i}, {item})").with_changes(lpar=[], rpar=[])
        it = cst.parse_expression(f"enumerate({xs})")
    else:
        target, it = cst.Name(item), cst.Name(xs)
    return loop.with_changes(target=target, iter=it, body=body)
