"""Data-structure rules: the same work on a container that does it faster (a set for membership, a deque
for a queue, a dict index for an equality join, a companion set for a growing list).

Every transform takes the target ``FunctionDef`` and returns it unchanged when its preconditions do not
hold. The container must be one the function controls: bound once, never rebound, never mutated except in
the ways the rewrite keeps in step. Element hashability and container kind (a ``str`` parameter does
substring tests, a ``dict`` iterates its keys) are left to verification on the real inputs.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import (
    LoopDepth,
    bound_names,
    code,
    docstring_offset,
    expand_blocks,
    fresh,
    is_pure_key,
    is_simple_literal,
    mutated_names,
    name_nodes,
    names_in,
    one_comparison,
    over_whole_def,
    single,
    small,
    statement,
    used_outside,
)
from slipstream.optimizer.purity import MUTATORS

# ── membership in a literal list or a parameter → a set ───────────────────────────────────────────────────


class _LiteralListMembership(cst.CSTTransformer):
    """``x in [1, 2, 3]`` → ``x in {1, 2, 3}`` when every element is a hashable literal."""

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


literal_set_membership = over_whole_def(_LiteralListMembership)


def membership_set(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``x in items`` inside a loop, ``items`` a parameter never rebound or mutated → a set built once.

    Preconditions: the membership test sits inside a ``for``/``while`` body or a comprehension; the
    container is a plain parameter name; the function never assigns to it, never calls a method on it
    that could mutate it, never deletes from it."""
    params = {p.name.value for p in (*fn.params.params, *fn.params.kwonly_params, *fn.params.posonly_params)}
    touched: set[str] = set()
    used_in_loop: set[str] = set()

    class Scan(LoopDepth, cst.CSTVisitor):
        def visit_ComparisonTarget(self, node: cst.ComparisonTarget) -> None:
            if self.depth and isinstance(node.operator, (cst.In, cst.NotIn)) and isinstance(node.comparator, cst.Name):
                used_in_loop.add(node.comparator.value)

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            touched.update(names_in(node.target))

        visit_AugAssign = visit_Del = visit_AssignTarget

        def visit_For(self, node: cst.For) -> None:
            self.enter_loop(node)
            touched.update(names_in(node.target))  # the loop target is rebound too

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name):
                if node.func.attr.value in MUTATORS:
                    touched.add(node.func.value.value)

    fn.visit(Scan())
    targets = sorted((used_in_loop & params) - touched)
    if not targets or not isinstance(fn.body, cst.IndentedBlock):
        return fn
    renamed = {name: f"_{name}_set" for name in targets}

    class Rename(LoopDepth, cst.CSTTransformer):
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
    pos = docstring_offset(body)
    builds = [statement(f"{renamed[n]} = set({n})\n") for n in targets]
    return new.with_changes(body=new.body.with_changes(body=body[:pos] + builds + body[pos:]))


# ── list used as a FIFO queue → collections.deque ─────────────────────────────────────────────────────────

_QUEUE_METHODS = {"append", "extend", "pop", "insert", "clear"}


def deque_queue(fn: cst.FunctionDef) -> cst.FunctionDef:
    """A local list used only as a queue (``pop(0)``/``insert(0, x)``, ``append``, ``len``, truth tests,
    ``q[0]``/``q[-1]``) → ``collections.deque``; ``pop(0)`` → ``popleft()``, ``insert(0, x)`` →
    ``appendleft(x)``. It must be bound once, at the top level of the function, to a list display or
    ``list(...)``, and never returned, passed on or aliased."""
    if not isinstance(fn.body, cst.IndentedBlock):
        return fn
    for stmt in fn.body.body:
        a = small(stmt)
        if not (isinstance(a, cst.Assign) and len(a.targets) == 1 and isinstance(a.targets[0].target, cst.Name)):
            continue
        q = a.targets[0].target.value
        if not (isinstance(a.value, cst.List) or m.matches(a.value, m.Call(func=m.Name("list"), args=[m.Arg()]))):
            continue
        if _queue_uses_ok(fn, q, a.targets[0].target):
            return _to_deque(fn, q, a)
    return fn


def _queue_uses_ok(fn: cst.FunctionDef, q: str, binding: cst.Name) -> bool:
    allowed: set[int] = {id(binding)}
    front = 0

    class V(cst.CSTVisitor):
        def visit_Call(self, n: cst.Call) -> None:
            nonlocal front
            f = n.func
            if m.matches(f, m.Attribute(value=m.Name(q))) and f.attr.value in _QUEUE_METHODS:
                meth, args = f.attr.value, n.args
                if meth == "pop" and (not args or m.matches(args[0].value, m.Integer("0"))) and len(args) <= 1:
                    front += bool(args)
                elif meth == "insert" and len(args) == 2 and m.matches(args[0].value, m.Integer("0")):
                    front += 1
                elif (meth in ("append", "extend") and len(args) == 1) or (meth == "clear" and not args):
                    pass
                else:
                    return
                allowed.add(id(f.value))
            elif m.matches(n, m.Call(func=m.Name("len"), args=[m.Arg(value=m.Name(q))])):
                allowed.add(id(n.args[0].value))

        def _test(self, t: cst.BaseExpression) -> None:
            if m.matches(t, m.Name(q)):
                allowed.add(id(t))

        def visit_While(self, n: cst.While) -> None:
            self._test(n.test)

        visit_If = visit_IfExp = visit_While

        def visit_UnaryOperation(self, n: cst.UnaryOperation) -> None:
            if isinstance(n.operator, cst.Not):
                self._test(n.expression)

        def visit_BooleanOperation(self, n: cst.BooleanOperation) -> None:
            self._test(n.left)
            self._test(n.right)

        def visit_Subscript(self, n: cst.Subscript) -> None:
            if (
                m.matches(n.value, m.Name(q))
                and len(n.slice) == 1
                and m.matches(n.slice[0].slice, m.Index(m.Integer("0") | m.UnaryOperation(m.Minus(), m.Integer("1"))))
            ):
                allowed.add(id(n.value))

    fn.visit(V())
    uses = name_nodes(fn, q)
    return front > 0 and all(id(u) in allowed for u in uses)


def _to_deque(fn: cst.FunctionDef, q: str, binding: cst.Assign) -> cst.FunctionDef:
    class T(cst.CSTTransformer):
        def leave_Assign(self, original: cst.Assign, updated: cst.Assign):
            if original is not binding:
                return updated
            v = updated.value
            arg = v.args[0].value if isinstance(v, cst.Call) else v
            return updated.with_changes(value=cst.parse_expression(f"collections.deque({code(arg)})"))

        def leave_Call(self, original: cst.Call, updated: cst.Call):
            if not m.matches(updated.func, m.Attribute(value=m.Name(q))):
                return updated
            meth = updated.func.attr.value
            if meth == "pop" and updated.args:
                return updated.with_changes(func=updated.func.with_changes(attr=cst.Name("popleft")), args=[])
            if meth == "insert":
                return updated.with_changes(
                    func=updated.func.with_changes(attr=cst.Name("appendleft")),
                    args=[updated.args[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)],
                )
            return updated

    return fn.visit(T())


# ── nested-loop equality join → a dict index ──────────────────────────────────────────────────────────────


def pairwise_index(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``for a in A: for b in B: if ka == kb: body`` → index ``B`` by ``kb`` once, then visit only the
    matching ``b`` for each ``a`` (same order: index lists keep ``B``'s order). ``ka`` reads only ``a``
    and ``kb`` only ``b`` (names, attributes, literal subscripts); ``B`` is a name neither rebound nor
    mutated in the loops; ``b`` is not used outside them."""

    return expand_blocks(fn, lambda stmt, before: _join(fn, stmt))


def _join(fn: cst.FunctionDef, outer: cst.BaseStatement) -> list[cst.BaseStatement] | None:
    if not isinstance(outer, cst.For) or outer.asynchronous is not None or not isinstance(outer.target, cst.Name):
        return None
    inner = single(outer.body)
    if not isinstance(inner, cst.For) or inner.orelse is not None or not isinstance(inner.target, cst.Name):
        return None
    test = single(inner.body)
    if not isinstance(test, cst.If) or test.orelse is not None:
        return None
    equal = one_comparison(test.test, cst.Equal)
    if equal is None:
        return None
    a, b = outer.target.value, inner.target.value
    left, right = test.test.left, equal.comparator
    if is_pure_key(left, b) and is_pure_key(right, a):
        left, right = right, left
    if not (is_pure_key(left, a) and is_pure_key(right, b)) or a == b:
        return None
    if not isinstance(inner.iter, cst.Name):
        return None
    big = inner.iter.value
    if big in bound_names(outer) | mutated_names(outer) or big in (a, b):
        return None
    if used_outside(fn, b, [outer]):
        return None  # b is read or bound elsewhere: its value after the loops would differ
    idx = fresh(fn, f"_{big}_by_key")
    pre = [
        statement(f"{idx} = {{}}\n", outer),
        statement(f"for {b} in {big}:\n    {idx}.setdefault({code(right)}, []).append({b})\n"),
    ]
    new_inner = inner.with_changes(iter=cst.parse_expression(f"{idx}.get({code(left)}, ())"), body=test.body)
    new_outer = outer.with_changes(body=outer.body.with_changes(body=[new_inner]), leading_lines=[])
    return [*pre, new_outer]


# ── `not in` a growing list → a companion set ──────────────────────────────────────────────────────────


def seen_set(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``out = []`` … ``for x in xs: if e not in out: out.append(e)`` → a companion set answers the
    membership test in O(1): ``_out_seen``, kept in step with every append. ``out`` is bound once, to
    ``[]``, and the loop changes it only through that append."""

    return expand_blocks(fn, lambda stmt, before: _seen(fn, stmt, before))


def _seen(fn: cst.FunctionDef, loop: cst.BaseStatement, before: list[cst.BaseStatement]):
    if not isinstance(loop, cst.For):
        return None
    test = single(loop.body)
    if not isinstance(test, cst.If) or test.orelse is not None:
        return None
    cmp, absent = test.test, one_comparison(test.test, cst.NotIn)
    if absent is None or not isinstance(absent.comparator, cst.Name):
        return None
    acc, elt = absent.comparator.value, cmp.left
    if not isinstance(test.body, cst.IndentedBlock) or not test.body.body:
        return None
    first = small(test.body.body[0])
    if not (isinstance(first, cst.Expr) and code(first.value) == f"{acc}.append({code(elt)})"):
        return None
    if not any(is_pure_key(elt, n) for n in names_in(elt)):
        return None
    bindings = [s for s in before if m.matches(small(s), m.Assign(targets=[m.AssignTarget(m.Name(acc))]))]
    if not bindings or not m.matches(small(bindings[-1]).value, m.List(elements=[])):  # type: ignore[union-attr]
        return None
    if sum(1 for _ in m.findall(loop, m.Call(func=m.Attribute(value=m.Name(acc))))) != 1:
        return None
    if acc in bound_names(loop) or m.findall(loop, m.AssignTarget(m.Subscript(m.Name(acc)))):
        return None
    seen = fresh(fn, f"_{acc}_seen")
    add = statement(f"{seen}.add({code(elt)})\n")
    new_test = test.with_changes(
        test=cmp.with_changes(comparisons=[absent.with_changes(comparator=cst.Name(seen))]),
        body=test.body.with_changes(body=[add, *test.body.body]),
    )
    return [
        statement(f"{seen} = set()\n", loop),
        loop.with_changes(body=loop.body.with_changes(body=[new_test]), leading_lines=[]),
    ]
