"""Loop and data-structure rewrites: searches, queues, invariant work, counting, joins, indexes.

Every transform takes the target ``FunctionDef`` and returns it unchanged when its preconditions do not
hold. What no syntax check can see (element hashability, a ``dict`` passed where a list was expected, an
iterator instead of a collection) is left to verification on the real inputs: a rewrite is a candidate.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import (
    bound_names,
    code,
    docstring_offset,
    fresh,
    is_pure_key,
    merge_pairs,
    mutated_names,
    name_nodes,
    names_in,
    parens,
    rewrite_blocks,
)


def _single(block: cst.BaseSuite) -> cst.BaseStatement | None:
    if isinstance(block, cst.IndentedBlock) and len(block.body) == 1:
        return block.body[0]
    return None


def _small(stmt: cst.BaseStatement | None) -> cst.BaseSmallStatement | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def _has_unsafe(expr: cst.CSTNode) -> bool:
    return bool(m.findall(expr, m.NamedExpr() | m.Await() | m.Yield()))


def _stmt(text: str, like: cst.BaseStatement | None = None) -> cst.BaseStatement:
    new = cst.parse_statement(text)
    return new.with_changes(leading_lines=like.leading_lines) if like is not None else new


# ── search loop → any / not any / next ────────────────────────────────────────────────────────────────────


def search_loop(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``for x in xs: if c: return True`` + ``return False`` → ``return any(c for x in xs)`` (and the
    ``not any`` and ``next(..., None)`` forms). The loop's body is that one ``if``, without ``else``."""

    return merge_pairs(fn, lambda body, i: _search_pair(body[i], body[i + 1]))


def _search_pair(loop: cst.BaseStatement, after: cst.BaseStatement) -> cst.BaseStatement | None:
    if not isinstance(loop, cst.For) or loop.orelse is not None or loop.asynchronous is not None:
        return None
    test = _single(loop.body)
    if not isinstance(test, cst.If) or test.orelse is not None or _has_unsafe(test.test):
        return None
    inner, final = _small(_single(test.body)), _small(after)
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
        a = _small(stmt)
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

        def visit_If(self, n: cst.If) -> None:
            self._test(n.test)

        def visit_IfExp(self, n: cst.IfExp) -> None:
            self._test(n.test)

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


# ── loop-invariant work hoisted out of loops ──────────────────────────────────────────────────────────────

_SCALAR_BUILTINS = {"len"}
_CONTAINER_BUILTINS = {"set", "frozenset", "tuple", "sorted", "list"}


def _loop_parts(loop: cst.For | cst.While) -> list[cst.CSTNode]:
    """What a loop evaluates on every iteration: its body, and a ``while``'s test."""
    return [loop.body, loop.test] if isinstance(loop, cst.While) else [loop.body]


def hoist_invariant_calls(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``len(ys)`` anywhere in a loop or comprehension, and ``x in set(ys)``/``sorted``/``tuple``/``list``/
    ``frozenset`` as the container of a membership test there, computed once before the loop (or the
    statement holding the comprehension) when ``ys`` (plain names only) is neither rebound nor mutated in
    it. The container is only read by ``in``, so sharing one object is safe."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            if isinstance(stmt, (cst.For, cst.While)):
                pre, stmt = _hoist_calls(fn, stmt, _loop_parts(stmt))
                out.extend(pre)
            elif isinstance(stmt, cst.SimpleStatementLine):
                comps = m.findall(
                    stmt, m.ListComp() | m.SetComp() | m.DictComp() | m.Call(args=[m.Arg(m.GeneratorExp())])
                )
                parts = [c.args[0].value if isinstance(c, cst.Call) else c for c in comps]
                repeated = [p for c in parts for p in _comp_repeated(c)]
                if repeated:
                    pre, stmt = _hoist_calls(fn, stmt, repeated)
                    out.extend(pre)
            out.append(stmt)
        return out

    return rewrite_blocks(fn, per_block)


class _ThisScope(cst.CSTVisitor):
    """Visits only what runs in the function's own scope (not lambdas or nested defs)."""

    def visit_Lambda(self, n: cst.Lambda) -> bool:
        return False

    def visit_FunctionDef(self, n: cst.FunctionDef) -> bool:
        return False


class _ThisScopeRewrite(cst.CSTTransformer):
    def visit_Lambda(self, n: cst.Lambda) -> bool:
        return False


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
        pre.append(_stmt(f"{name} = {text}\n"))
    pre[0] = pre[0].with_changes(leading_lines=before.leading_lines)
    return names, pre


def _comp_repeated(comp: cst.CSTNode) -> list[cst.CSTNode]:
    """The parts of a comprehension evaluated once per element (all but the first iterable)."""
    first: cst.CompFor = comp.for_in  # type: ignore[attr-defined]
    parts: list[cst.CSTNode] = [*first.ifs]
    if first.inner_for_in is not None:
        parts.append(first.inner_for_in)
    parts += [comp.key, comp.value] if isinstance(comp, cst.DictComp) else [comp.elt]  # type: ignore[attr-defined]
    return parts


def _hoist_calls(fn: cst.FunctionDef, stmt: cst.BaseStatement, repeated: list[cst.CSTNode]):
    variant = bound_names(stmt) | mutated_names(stmt)
    found: dict[str, cst.Call] = {}

    def ok(call: cst.CSTNode, kinds: set[str]) -> bool:
        return (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Name)
            and call.func.value in kinds
            and len(call.args) == 1
            and call.args[0].keyword is None
            and not call.args[0].star
            and isinstance(call.args[0].value, cst.Name)
            and call.args[0].value.value not in variant
        )

    class Find(_ThisScope):
        def visit_Call(self, n: cst.Call) -> None:
            if ok(n, _SCALAR_BUILTINS):
                found.setdefault(code(n), n)

        def visit_ComparisonTarget(self, n: cst.ComparisonTarget) -> None:
            if isinstance(n.operator, (cst.In, cst.NotIn)) and ok(n.comparator, _CONTAINER_BUILTINS):
                found.setdefault(code(n.comparator), n.comparator)

    for part in repeated:
        part.visit(Find())
    if not found:
        return [], stmt
    names, pre = _locals_for(fn, {t: f"_{c.func.value}_{c.args[0].value.value}" for t, c in found.items()}, stmt)

    class Replace(_ThisScopeRewrite):
        def leave_Call(self, original: cst.Call, updated: cst.Call):
            name = names.get(code(original))
            if name and (ok(original, _SCALAR_BUILTINS) or ok(original, _CONTAINER_BUILTINS)):
                return cst.Name(name)
            return updated

    return pre, stmt.visit(Replace()).with_changes(leading_lines=[])


def hoist_method_lookups(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``out.append(x)`` / ``math.sqrt(x)`` called inside a loop → the bound method or function looked up
    once before the loop (``_out_append = out.append``), when the name is not rebound in the loop and none
    of its attributes is assigned there."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            if isinstance(stmt, (cst.For, cst.While)):
                pre, stmt = _hoist_lookups(fn, stmt)
                out.extend(pre)
            out.append(stmt)
        return out

    return rewrite_blocks(fn, per_block)


def _hoist_lookups(fn: cst.FunctionDef, loop: cst.For | cst.While):
    rebound = bound_names(loop)
    attr_assigned: set[str] = set()
    for t in m.findall(loop, m.AssignTarget(target=m.Attribute(value=m.Name())) | m.Del(target=m.Attribute())):
        attr_assigned.add(t.target.value.value)  # type: ignore[union-attr]
    found: dict[str, cst.Attribute] = {}

    class Find(_ThisScope):
        def visit_Call(self, n: cst.Call) -> None:
            f = n.func
            if m.matches(f, m.Attribute(value=m.Name())):
                owner = f.value.value
                if owner not in rebound and owner not in attr_assigned and owner not in ("super", "self"):
                    found.setdefault(code(f), f)

    for part in _loop_parts(loop):
        part.visit(Find())
    if not found:
        return [], loop
    names, pre = _locals_for(fn, {t: f"_{a.value.value}_{a.attr.value}" for t, a in found.items()}, loop)

    class Replace(_ThisScopeRewrite):
        def leave_Call(self, original: cst.Call, updated: cst.Call):
            if isinstance(original.func, cst.Attribute) and code(original.func) in names:
                return updated.with_changes(func=cst.Name(names[code(original.func)]))
            return updated

    parts = {"body": loop.body.visit(Replace())}
    if isinstance(loop, cst.While):
        parts["test"] = loop.test.visit(Replace())
    return pre, loop.with_changes(**parts, leading_lines=[])


# ── re.<fn>(literal, ...) in a loop → one compiled pattern ────────────────────────────────────────────────

_RE_ARGS = {"match": 2, "search": 2, "fullmatch": 2, "findall": 2, "finditer": 2, "split": 2, "sub": 3, "subn": 3}


def compile_regex(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``re.match(r"...", s)`` (and search, fullmatch, findall, finditer, split, sub, subn) with a literal
    pattern and no flags, inside a loop → ``re.compile`` once at the top of the function, skipping the
    per-call cache lookup. ``re`` must not be rebound in the function."""
    if "re" in bound_names(fn.body) or not isinstance(fn.body, cst.IndentedBlock):
        return fn
    patterns: dict[str, str] = {}

    def ok(n: cst.Call) -> bool:
        f = n.func
        return (
            m.matches(f, m.Attribute(value=m.Name("re")))
            and f.attr.value in _RE_ARGS
            and len(n.args) == _RE_ARGS[f.attr.value]
            and all(a.keyword is None and not a.star for a in n.args)
            and isinstance(n.args[0].value, (cst.SimpleString, cst.ConcatenatedString))
        )

    class T(cst.CSTTransformer):
        depth = 0

        def visit_For(self, n: cst.CSTNode) -> None:
            self.depth += 1

        visit_While = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_For

        def _leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:
            self.depth -= 1
            return updated

        leave_For = leave_While = leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _leave

        def leave_Call(self, original: cst.Call, updated: cst.Call):
            if not self.depth or not ok(original):
                return updated
            pat = code(original.args[0].value)
            if pat not in patterns:
                patterns[pat] = fresh(fn, f"_pattern{len(patterns) + 1}")
            return updated.with_changes(
                func=cst.Attribute(cst.Name(patterns[pat]), updated.func.attr),
                args=[a.with_changes() for a in updated.args[1:]],
            )

    new = fn.visit(T())
    if not patterns:
        return fn
    body = list(new.body.body)
    pos = docstring_offset(body)
    pre = [_stmt(f"{name} = re.compile({pat})\n") for pat, name in patterns.items()]
    return new.with_changes(body=new.body.with_changes(body=body[:pos] + pre + body[pos:]))


# ── adjacent "accumulator + loop" pairs: counting, summing ────────────────────────────────────────────────


def _acc_pair(body: list[cst.BaseStatement], i: int):
    """``acc = INIT`` followed by a ``for`` whose body is one statement: (assign, acc, loop, stmt) or None."""
    if i + 1 >= len(body):
        return None
    init, loop = _small(body[i]), body[i + 1]
    if not (isinstance(init, cst.Assign) and len(init.targets) == 1 and isinstance(init.targets[0].target, cst.Name)):
        return None
    if not isinstance(loop, cst.For) or loop.orelse is not None or loop.asynchronous is not None:
        return None
    if not isinstance(loop.target, cst.Name):
        return None
    stmt = _single(loop.body)
    if stmt is None or any(loop.target.value in names_in(s) for s in body[i + 2 :]):
        return None  # a comprehension would not leave the loop variable set afterwards
    return init, init.targets[0].target.value, loop, stmt


def _pairs(fn: cst.FunctionDef, make) -> cst.FunctionDef:
    def merge(body: list[cst.BaseStatement], i: int) -> cst.BaseStatement | None:
        parts = _acc_pair(body, i)
        new = make(*parts) if parts else None
        return _stmt(new, body[i]) if new is not None else None

    return merge_pairs(fn, merge)


def _gen(elt: cst.BaseExpression, loop: cst.For, cond: cst.BaseExpression | None = None) -> str:
    """The source of a generator expression equivalent to the loop; the bare iterable when it is one."""
    if cond is None and m.matches(elt, m.Name(loop.target.value)):
        return code(loop.iter)
    ifs = f" if {code(parens(cond))}" if cond is not None else ""
    return f"{code(parens(elt))} for {code(loop.target)} in {code(parens(loop.iter))}{ifs}"


def count_loop(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``counts = {}`` + ``for x in xs: counts[k] = counts.get(k, 0) + 1`` (or the ``if k in counts: += 1
    else: = 1`` form) → ``counts = dict(collections.Counter(...))``: counting in C, same insertion order."""

    def make(init: cst.Assign, acc: str, loop: cst.For, stmt: cst.BaseStatement) -> str | None:
        if not m.matches(init.value, m.Dict(elements=[]) | m.Call(func=m.Name("dict"), args=[])):
            return None
        key = _count_key(acc, stmt)
        if key is None or acc in names_in(key) or acc in names_in(loop.iter) or _has_unsafe(key):
            return None
        return f"{acc} = dict(collections.Counter({_gen(key, loop)}))\n"

    return _pairs(fn, make)


def _count_key(acc: str, stmt: cst.BaseStatement) -> cst.BaseExpression | None:
    one = _small(stmt)
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
    if not (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.In)
        and m.matches(test.comparisons[0].comparator, m.Name(acc))
    ):
        return None
    key = code(test.left)
    inc, init = _small(_single(stmt.body)), _small(_single(stmt.orelse.body))
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
        cond = None
        if isinstance(stmt, cst.If) and stmt.orelse is None:
            cond, stmt = stmt.test, _single(stmt.body)
        inc = _small(stmt)
        if not (isinstance(inc, cst.AugAssign) and isinstance(inc.operator, cst.AddAssign)):
            return None
        if not m.matches(inc.target, m.Name(acc)):
            return None
        if acc in names_in(inc.value) | names_in(cond) | names_in(loop.iter) or _has_unsafe(inc.value):
            return None
        start = "" if code(init.value) == "0" else f", {code(init.value)}"
        gen = _gen(inc.value, loop, cond)
        if start and " for " in gen:
            gen = f"({gen})"
        return f"{acc} = sum({gen}{start})\n"

    return _pairs(fn, make)


# ── nested-loop equality join → a dict index ──────────────────────────────────────────────────────────────


def pairwise_index(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``for a in A: for b in B: if ka == kb: body`` → index ``B`` by ``kb`` once, then visit only the
    matching ``b`` for each ``a`` (same order: index lists keep ``B``'s order). ``ka`` reads only ``a``
    and ``kb`` only ``b`` (names, attributes, literal subscripts); ``B`` is a name neither rebound nor
    mutated in the loops; ``b`` is not used outside them."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            new = _join(fn, stmt)
            if new:
                out.extend(new)
            else:
                out.append(stmt)
        return out

    return rewrite_blocks(fn, per_block)


def _join(fn: cst.FunctionDef, outer: cst.BaseStatement) -> list[cst.BaseStatement] | None:
    if not isinstance(outer, cst.For) or outer.asynchronous is not None or not isinstance(outer.target, cst.Name):
        return None
    inner = _single(outer.body)
    if not isinstance(inner, cst.For) or inner.orelse is not None or not isinstance(inner.target, cst.Name):
        return None
    test = _single(inner.body)
    if not isinstance(test, cst.If) or test.orelse is not None:
        return None
    cmp = test.test
    if not (isinstance(cmp, cst.Comparison) and len(cmp.comparisons) == 1):
        return None
    if not isinstance(cmp.comparisons[0].operator, cst.Equal):
        return None
    a, b = outer.target.value, inner.target.value
    left, right = cmp.left, cmp.comparisons[0].comparator
    if is_pure_key(left, b) and is_pure_key(right, a):
        left, right = right, left
    if not (is_pure_key(left, a) and is_pure_key(right, b)) or a == b:
        return None
    if not isinstance(inner.iter, cst.Name):
        return None
    big = inner.iter.value
    if big in bound_names(outer) | mutated_names(outer) or big in (a, b):
        return None
    if len(name_nodes(fn, b)) != len(name_nodes(outer, b)):
        return None  # b is read or bound elsewhere: its value after the loops would differ
    idx = fresh(fn, f"_{big}_by_key")
    pre = [
        _stmt(f"{idx} = {{}}\n", outer),
        _stmt(f"for {b} in {big}:\n    {idx}.setdefault({code(right)}, []).append({b})\n"),
    ]
    new_inner = inner.with_changes(iter=cst.parse_expression(f"{idx}.get({code(left)}, ())"), body=test.body)
    new_outer = outer.with_changes(body=outer.body.with_changes(body=[new_inner]), leading_lines=[])
    return [*pre, new_outer]


# ── smaller loop rewrites ─────────────────────────────────────────────────────────────────────────────────


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


def square_multiply(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``x ** 2`` → ``x * x`` for a plain name ``x``: a multiplication instead of a ``pow`` call."""

    class T(cst.CSTTransformer):
        def leave_BinaryOperation(self, original: cst.BinaryOperation, updated: cst.BinaryOperation):
            if (
                isinstance(updated.operator, cst.Power)
                and isinstance(updated.left, cst.Name)
                and m.matches(updated.right, m.Integer("2"))
            ):
                return updated.with_changes(operator=cst.Multiply(), right=cst.Name(updated.left.value))
            return updated

    return fn.visit(T())


def seen_set(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``out = []`` … ``for x in xs: if e not in out: out.append(e)`` → a companion set answers the
    membership test in O(1): ``_out_seen``, kept in step with every append. ``out`` is bound once, to
    ``[]``, and the loop changes it only through that append."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            new = _seen(fn, stmt, out)
            out.extend(new if new else [stmt])
        return out

    return rewrite_blocks(fn, per_block)


def _seen(fn: cst.FunctionDef, loop: cst.BaseStatement, before: list[cst.BaseStatement]):
    if not isinstance(loop, cst.For):
        return None
    test = _single(loop.body)
    if not isinstance(test, cst.If) or test.orelse is not None:
        return None
    cmp = test.test
    if not (
        isinstance(cmp, cst.Comparison)
        and len(cmp.comparisons) == 1
        and isinstance(cmp.comparisons[0].operator, cst.NotIn)
        and isinstance(cmp.comparisons[0].comparator, cst.Name)
    ):
        return None
    acc, elt = cmp.comparisons[0].comparator.value, cmp.left
    if not isinstance(test.body, cst.IndentedBlock) or not test.body.body:
        return None
    first = _small(test.body.body[0])
    if not (isinstance(first, cst.Expr) and code(first.value) == f"{acc}.append({code(elt)})"):
        return None
    if not any(is_pure_key(elt, n) for n in names_in(elt)):
        return None
    bindings = [s for s in before if m.matches(_small(s), m.Assign(targets=[m.AssignTarget(m.Name(acc))]))]
    if not bindings or not m.matches(_small(bindings[-1]).value, m.List(elements=[])):  # type: ignore[union-attr]
        return None
    if sum(1 for _ in m.findall(loop, m.Call(func=m.Attribute(value=m.Name(acc))))) != 1:
        return None
    if acc in bound_names(loop) or m.findall(loop, m.AssignTarget(m.Subscript(m.Name(acc)))):
        return None
    seen = fresh(fn, f"_{acc}_seen")
    add = _stmt(f"{seen}.add({code(elt)})\n")
    new_test = test.with_changes(
        test=cmp.with_changes(comparisons=[cmp.comparisons[0].with_changes(comparator=cst.Name(seen))]),
        body=test.body.with_changes(body=[add, *test.body.body]),
    )
    return [
        _stmt(f"{seen} = set()\n", loop),
        loop.with_changes(body=loop.body.with_changes(body=[new_test]), leading_lines=[]),
    ]


def sorted_slice_heapq(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``sorted(xs)[:k]`` → ``heapq.nsmallest(k, xs)`` and ``sorted(xs, reverse=True)[:k]`` →
    ``heapq.nlargest(k, xs)`` (``key=`` kept) for a literal ``k``: documented as equivalent, and it never
    sorts the whole input."""

    class T(cst.CSTTransformer):
        def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript):
            v = updated.value
            if not m.matches(v, m.Call(func=m.Name("sorted"))) or len(updated.slice) != 1:
                return updated
            s = updated.slice[0].slice
            if not (
                isinstance(s, cst.Slice) and s.lower is None and s.step is None and isinstance(s.upper, cst.Integer)
            ):
                return updated
            pos = [a for a in v.args if a.keyword is None]
            kw = {a.keyword.value: a.value for a in v.args if a.keyword is not None}
            if len(pos) != 1 or pos[0].star or set(kw) - {"key", "reverse"}:
                return updated
            rev = kw.get("reverse")
            if rev is not None and not m.matches(rev, m.Name("True") | m.Name("False")):
                return updated
            fn_name = "nlargest" if rev is not None and rev.value == "True" else "nsmallest"
            key = f", key={code(kw['key'])}" if "key" in kw else ""
            return cst.parse_expression(f"heapq.{fn_name}({s.upper.value}, {code(pos[0].value)}{key})")

    return fn.visit(T())
