"""Standard-library rules: a hand-written loop replaced by the ``bisect``/``itertools``/``operator`` function
that does the same steps in C.

Kept only where it pays on CPython 3.11+, whose specialising interpreter runs simple loops fast: each
rule's own rewrite measured against the original with timeit on 3.11.7 (the median ratio of 15-21
alternating rounds on a busy 2-core machine); each rule's docstring gives its numbers. Hand-written running
``max``/``min`` loops were measured too and left out: ``max(xs)`` over 1,000 numbers was 0.7-0.95× the loop
(slower), since the interpreter's specialised float/int comparisons beat the generic ones ``max`` makes.

Every transform takes the target ``FunctionDef`` and returns it unchanged when its preconditions do not
hold. A rewrite makes the same comparisons and reads, in the same order, on the same objects; what no
syntax check can see (a ``dict`` indexed by position where a list was expected, a list changed through
another reference while the loop runs) is left to verification on the real inputs.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import (
    bound_names,
    code,
    expand_blocks,
    free_module_name,
    fresh,
    fresh_name,
    merge_pairs,
    mutated_names,
    name_nodes,
    names_in,
    rewrite_blocks,
    single,
    small,
    statement,
    used_outside,
)
from slipstream.optimizer.rules.engine import WithPrelude

# ── hand-written binary search → bisect ───────────────────────────────────────────────────────────────────


def bisect_search(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef | WithPrelude:
    """The classic binary search loop → ``bisect.bisect_left``/``bisect_right`` with the same bounds:

        lo, hi = 0, len(a)            # or two statements, either order; ``lo`` any int literal >= 0
        while lo < hi:
            mid = (lo + hi) // 2      # or lo + (hi - lo) // 2, or (lo + hi) >> 1
            if a[mid] < x:            # bisect_left;  bisect_right: if x < a[mid]: hi = mid
                lo = mid + 1          #                             else: lo = mid + 1
            else:
                hi = mid

    → ``lo = hi = bisect.bisect_left(a, x, lo, hi)``. bisect's C loop is this loop: the same midpoints and
    the same ``<`` comparisons (``a[mid] < x``, or ``x < a[mid]``) in the same order, so the same result
    for any elements, even unordered ones or NaN. The loop must be exactly this (no ``else``, nothing
    else in its body), ``a`` and ``x`` plain names (``x`` is read once instead of once per step), and
    ``mid`` used nowhere else in the function (the loop would leave it set) but in other such searches with
    the same midpoint, which set it before reading it and go too.

    Where the bounds come from elsewhere (parameters, as in ``bisect.py``'s own pure-Python functions, or
    ``hi = len(a) - 1``), the C call runs only under ``if type(lo) is int and type(hi) is int and
    0 <= lo < hi <= sys.maxsize:`` and the loop stays as the ``else``: bisect refuses a negative ``lo``
    (the loop would index from the end), reads ``hi == -1`` as "the whole list" (the loop would not run),
    returns a plain int where the loop may hand back the caller's ``bool`` or int subclass, and cannot
    take a size past ``sys.maxsize`` (the loop raises IndexError there); with ``lo >= hi`` neither does
    anything. Under the guard both run the same steps; after them ``lo == hi``. Measured: 2.6× faster over
    10,000 sorted ints, 2.15× over 100 (200 searches, the function call included).

    ``key(a[mid]) < x`` with ``key`` a plain name → ``key=key``: bisect calls it on the same items, in the
    same order (and, as here, never on ``x``). Where the module binds ``bisect`` to something else (the
    pure-Python ``bisect.py`` ends with ``bisect = bisect_right``), the module is imported under a fresh
    name (``import bisect as _bisect``)."""
    return _bisect_rule(fn, module, items=False)


def bisect_search_item(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef | WithPrelude:
    """``bisect_search`` where the loop compares a field of each item: ``a[mid][k] < x`` (``k`` a literal)
    → ``key=operator.itemgetter(k)``, ``a[mid].name < x`` → ``key=operator.attrgetter("name")``: the same
    reads and comparisons, in C. Measured: 1.7× faster over 10,000 sorted ``(int, str)`` pairs
    (``a[mid][0]``; a ``lambda`` key instead is a Python call per step). ``operator``, like ``bisect``, is
    imported under a fresh name where the module binds it to something else."""
    return _bisect_rule(fn, module, items=True)


def _bisect_rule(fn: cst.FunctionDef, module: cst.Module, items: bool) -> cst.FunctionDef | WithPrelude:
    taken = names_in(module)
    alias: dict[str, str] = {}
    for name in ("bisect", "sys", "operator")[: 2 + items]:
        alias[name] = name if free_module_name(module, name) else fresh_name(f"_{name}", taken)
        taken.add(alias[name])
    # Every loop of the shape, with its midpoint's name: ``mid`` may be used in all loops whose own midpoint
    # it is (``bisect.py`` has one search with a key and one without), since each sets it before reading it
    # and all of them go; a loop that reads another's ``mid`` keeps that one.
    shaped = [(w, found[1]) for w in m.findall(fn, m.While()) if (found := _bisect(fn, w, [], items, alias, None))]
    guarded = False

    def expand(stmt: cst.BaseStatement, before: list[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        nonlocal guarded
        found = _bisect(fn, stmt, before, items, alias, shaped)
        if found is None:
            return None
        guarded = guarded or isinstance(found[0], cst.If)
        return [found[0]]

    new = expand_blocks(fn, expand)
    if new.deep_equals(fn):
        return fn
    needs = ["bisect", *(["sys"] if guarded else []), *(["operator"] if items else [])]
    imports = tuple((name, alias[name] if alias[name] != name else None) for name in needs)
    return WithPrelude(new, (), imports)


def _probe(expr: cst.BaseExpression, mid: str, operator: str) -> tuple[str, str, bool] | None:
    """How the loop reads item ``mid``: ``a[mid]`` → (``a``, "", False); ``key(a[mid])`` → (``a``, ``key``,
    False); ``a[mid][k]``/``a[mid].name`` → (``a``, the ``operator`` getter, True)."""
    item = m.Subscript(value=m.Name(), slice=[m.SubscriptElement(m.Index(m.Name(mid)))])
    if m.matches(expr, item):
        return expr.value.value, "", False
    if m.matches(expr, m.Call(func=m.Name(), args=[m.Arg(item, keyword=None, star="")])):
        return expr.args[0].value.value.value, expr.func.value, False
    if m.matches(expr, m.Subscript(value=item, slice=[m.SubscriptElement(m.Index(m.Integer() | m.SimpleString()))])):
        return expr.value.value.value, f"{operator}.itemgetter({code(expr.slice[0].slice.value)})", True
    if m.matches(expr, m.Attribute(value=item)):
        return expr.value.value.value, f'{operator}.attrgetter("{expr.attr.value}")', True
    return None


def _bisect(
    fn: cst.FunctionDef,
    loop: cst.BaseStatement,
    before: list[cst.BaseStatement],
    items: bool,
    alias: dict[str, str],
    shaped: list[tuple[cst.While, str]] | None,
) -> tuple[cst.BaseStatement, str] | None:
    """``loop`` as a bisect call, and its midpoint's name; or None. ``shaped`` None: the shape only, not
    whether the midpoint is used elsewhere than in ``loop`` and the other ``shaped`` loops with that
    midpoint."""
    if not isinstance(loop, cst.While) or loop.orelse is not None or not isinstance(loop.body, cst.IndentedBlock):
        return None
    t = loop.test
    if not m.matches(t, m.Comparison(left=m.Name(), comparisons=[m.ComparisonTarget(m.LessThan(), m.Name())])):
        return None
    lo, hi = t.left.value, t.comparisons[0].comparator.value
    if lo == hi or len(loop.body.body) != 2:
        return None
    assign, branch = small(loop.body.body[0]), loop.body.body[1]
    if not m.matches(assign, m.Assign(targets=[m.AssignTarget(m.Name())])):
        return None
    mid = assign.targets[0].target.value
    if code(assign.value) not in {f"({lo} + {hi}) // 2", f"{lo} + ({hi} - {lo}) // 2", f"({lo} + {hi}) >> 1"}:
        return None
    if not (isinstance(branch, cst.If) and isinstance(branch.orelse, cst.Else)):
        return None
    yes, no = small(single(branch.body)), small(single(branch.orelse.body))
    if yes is None or no is None:
        return None
    then, other = code(cst.SimpleStatementLine([yes])).strip(), code(cst.SimpleStatementLine([no])).strip()
    cmp = branch.test
    if not m.matches(cmp, m.Comparison(comparisons=[m.ComparisonTarget(m.LessThan())])):
        return None
    left, right = cmp.left, cmp.comparisons[0].comparator
    step_up, step_down = f"{lo} = {mid} + 1", f"{hi} = {mid}"
    found = _probe(left, mid, alias.get("operator", "operator"))
    if found is not None and (then, other) == (step_up, step_down):
        kind, x = "bisect_left", right
    else:
        found = _probe(right, mid, alias.get("operator", "operator"))
        if found is None or (then, other) != (step_down, step_up):
            return None
        kind, x = "bisect_right", left
    seq, key, needs_operator = found
    if needs_operator != items or not isinstance(x, cst.Name):
        return None
    names = [lo, hi, mid, seq, x.value, *([key] if key and not items else [])]
    if len(set(names)) != len(names):
        return None
    if shaped is not None:
        same = [w for w, own in shaped if own == mid]
        if not any(w.deep_equals(loop) for w in same) or used_outside(fn, mid, same):
            return None
    keyword = f", key={key}" if key else ""
    search = statement(f"{lo} = {hi} = {alias['bisect']}.{kind}({seq}, {x.value}, {lo}, {hi}{keyword})\n")
    if _bounds(before, lo, hi, seq):
        return search.with_changes(leading_lines=loop.leading_lines), mid
    test = f"type({lo}) is int and type({hi}) is int and 0 <= {lo} < {hi} <= {alias['sys']}.maxsize"
    guarded = cst.parse_statement(f"if {test}:\n    pass\nelse:\n    pass\n")
    assert isinstance(guarded, cst.If) and isinstance(guarded.orelse, cst.Else)
    return guarded.with_changes(
        body=cst.IndentedBlock([search]),
        orelse=guarded.orelse.with_changes(body=cst.IndentedBlock([loop.with_changes(leading_lines=[])])),
        leading_lines=loop.leading_lines,
    ), mid


def _bounds(before: list[cst.BaseStatement], lo: str, hi: str, seq: str) -> bool:
    """Do the one or two statements right before the loop set ``lo`` to an int literal >= 0 and ``hi`` to
    ``len(seq)`` (``lo, hi = 0, len(a)``, or one assignment each)? Then bisect needs no guard."""
    starts: dict[str, str] = {}
    for stmt in before[-2:]:
        one = small(stmt)
        if not (isinstance(one, cst.Assign) and len(one.targets) == 1):
            starts.clear()  # something else in between: only what follows it counts
            continue
        target, value = one.targets[0].target, one.value
        if isinstance(target, cst.Name) and target.value in (lo, hi):
            starts[target.value] = code(value)
        elif (
            isinstance(target, cst.Tuple)
            and isinstance(value, cst.Tuple)
            and len(target.elements) == len(value.elements) == 2
            and {code(e.value) for e in target.elements} == {lo, hi}
        ):
            for t_el, v_el in zip(target.elements, value.elements, strict=True):
                starts[t_el.value.value] = code(v_el.value)
        else:
            starts.clear()
    return starts.get(lo, "").isdigit() and starts.get(hi) == f"len({seq})"


# ── index pairs i < j → itertools.combinations ────────────────────────────────────────────────────────────


def index_pairs_combinations(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef:
    """``for i in range(len(xs)): for j in range(i + 1, len(xs)): ...xs[i]...xs[j]...`` (or ``len(xs)`` as
    ``n``, assigned ``n = len(xs)`` right before the loop and not rebound in it) →
    ``for x_i, x_j in itertools.combinations(xs, 2): ...x_i...x_j...``: the same pairs in the same order,
    without the index arithmetic and the two subscripts per pair.

    Preconditions: the outer loop's body is the inner loop alone; neither loop has an ``else`` or is
    ``async``; ``i``/``j`` are plain names used in the body only as ``xs[i]``/``xs[j]`` reads and nowhere
    else in the function (the loops would leave them set); ``xs`` is a plain name that the body uses only
    through those reads (never rebound, mutated or passed on); the body has no ``break`` (it would end
    only the inner loop) and no ``yield``/``await`` (the caller could change ``xs`` while the loop waits,
    and ``combinations`` copied it up front); ``itertools`` is the module's ``import itertools`` or free.
    Measured over 300 items: 1.28× counting equal pairs, 1.16× finding the closest Manhattan distance,
    1.12× summing products, 1.09× summing absolute differences (the lighter the body, the more the
    index work weighs); measurement drops it where it does not pay."""
    if not free_module_name(module, "itertools"):
        return fn

    def expand(stmt: cst.BaseStatement, before: list[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        found = _pairs(fn, stmt, _sizes(before[-1:]))
        return [found] if found is not None else None

    return expand_blocks(fn, expand)


def _sizes(last: list[cst.BaseStatement]) -> dict[str, str]:
    """``n = len(xs)`` as the statement right before the loop → ``{"n": "xs"}``: ``n`` is ``len(xs)`` there."""
    one = small(last[0]) if last else None
    if m.matches(
        one, m.Assign(targets=[m.AssignTarget(m.Name())], value=m.Call(func=m.Name("len"), args=[m.Arg(m.Name())]))
    ):
        arg = one.value.args[0]
        if arg.keyword is None and not arg.star:
            return {one.targets[0].target.value: arg.value.value}
    return {}


def _range_len(it: cst.BaseExpression, first: str | None, sizes: dict[str, str]) -> str | None:
    """``range(len(xs))`` (``first`` None) or ``range(first + 1, len(xs))`` → ``xs``; ``n`` for ``len(xs)``
    where ``sizes`` says so."""
    if not (m.matches(it, m.Call(func=m.Name("range"))) and all(a.keyword is None and not a.star for a in it.args)):
        return None
    args = it.args
    if first is None and len(args) == 1:
        last = args[0].value
    elif first is not None and len(args) == 2 and code(args[0].value) == f"{first} + 1":
        last = args[1].value
    else:
        return None
    if m.matches(last, m.Call(func=m.Name("len"), args=[m.Arg(m.Name(), keyword=None, star="")])):
        return last.args[0].value.value
    return sizes.get(last.value) if isinstance(last, cst.Name) else None


def _pairs(fn: cst.FunctionDef, outer: cst.BaseStatement, sizes: dict[str, str]) -> cst.BaseStatement | None:
    if not isinstance(outer, cst.For) or outer.orelse is not None or outer.asynchronous is not None:
        return None
    inner = single(outer.body)
    if not isinstance(inner, cst.For) or inner.orelse is not None or inner.asynchronous is not None:
        return None
    if not (isinstance(outer.target, cst.Name) and isinstance(inner.target, cst.Name)):
        return None
    i, j = outer.target.value, inner.target.value
    xs = _range_len(outer.iter, None, sizes)
    if xs is None or _range_len(inner.iter, i, sizes) != xs or len({i, j, xs}) != 3:
        return None
    body = inner.body
    if m.findall(body, m.Break() | m.Yield() | m.Await() | m.Lambda() | m.FunctionDef() | m.ClassDef()):
        return None
    if {i, j, xs, *sizes} & (bound_names(body) | mutated_names(body)):
        return None
    if used_outside(fn, i, [outer]) or used_outside(fn, j, [outer]):
        return None

    def read(index: str) -> m.Subscript:
        return m.Subscript(value=m.Name(xs), slice=[m.SubscriptElement(m.Index(m.Name(index)))])

    stem = xs.rstrip("s") or xs
    names = {i: fresh(fn, f"{stem}_{i}"), j: fresh(fn, f"{stem}_{j}")}
    if names[i] == names[j]:
        return None

    class Replace(cst.CSTTransformer):
        def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
            for index, name in names.items():
                if m.matches(original, read(index)):
                    return cst.Name(name)
            return updated

    new_body = body.visit(Replace())
    if name_nodes(new_body, i) or name_nodes(new_body, j) or name_nodes(new_body, xs):
        return None  # an index or the sequence used otherwise: the pairs alone are not enough
    pair = cst.parse_expression(f"({names[i]}, {names[j]})").with_changes(lpar=[], rpar=[])
    return outer.with_changes(target=pair, iter=cst.parse_expression(f"itertools.combinations({xs}, 2)"), body=new_body)


# ── sum of products → sum(map(operator.mul, ...)) ─────────────────────────────────────────────────────────


def sum_products(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef:
    """A sum of pairwise products, the dot product, → ``sum(map(operator.mul, a, b))``: the multiplications
    and additions in C, the same ones in the same order (``sum`` adds left to right from its start value,
    as the loop does; ``map`` stops at the shorter input, as ``zip`` does). Three shapes:

        total = 0                          # a number literal: sum's start
        for x, y in zip(a, b):             # → total = sum(map(operator.mul, a, b))
            total += x * y
        sum(x * y for x, y in zip(a, b))   # or a list comprehension, with or without a start value
        for i in range(len(a)):            # a, b plain names; i read only there
            total += a[i] * b[i]

    The index form reads ``b[i]`` only while ``i < len(a)``: it becomes the ``map`` only ``if len(b) >=
    len(a)``, and keeps the original loop otherwise (where the original raises IndexError part-way). The
    loop variables must not be read after the loop (the rewrite leaves them unset); ``sum``, ``map``,
    ``zip``, ``range``, ``len`` must not be rebound, ``operator`` is the module's ``import operator`` or
    free. Measured on 3.11 (min of 5 × 2,000 calls, random floats): index loop over 10 / 100 / 1,000
    pairs 1.10 / 1.30 / 1.49× slower than the ``map``; a ``zip`` loop 1.29–1.32×; a generator over ``zip``
    more. On 3.12+ ``sum`` of floats compensates rounding, so the last bits may differ: verification
    compares floats with its tolerance."""
    builtins = {"sum", "map", "zip", "range", "len"}
    if not free_module_name(module, "operator") or builtins & (bound_names(fn) | names_in(fn.params)):
        return fn

    def pair(body: list[cst.BaseStatement], i: int) -> cst.BaseStatement | None:
        return _sum_products_loop(fn, body, i)

    new = merge_pairs(fn, pair)
    return new.visit(_SumProductsCall(new))


def _product_inputs(target: cst.BaseAssignTargetExpression, it: cst.BaseExpression, elt: cst.BaseExpression):
    """``(a, b, indexed)`` where ``elt`` is the product of the pair the loop ``for target in it`` visits."""
    if not (isinstance(elt, cst.BinaryOperation) and isinstance(elt.operator, cst.Multiply)) or elt.lpar:
        return None
    plain = m.Arg(keyword=None, star="")
    if m.matches(it, m.Call(func=m.Name("zip"), args=[plain, plain])) and m.matches(
        target, m.Tuple(elements=[m.Element(m.Name()), m.Element(m.Name())])
    ):
        x, y = (e.value.value for e in target.elements)
        if x != y and m.matches(elt.left, m.Name(x)) and m.matches(elt.right, m.Name(y)):
            a, b = it.args[0].value, it.args[1].value
            if not ({x, y} & (names_in(a) | names_in(b))):
                return a, b, False
        return None
    if isinstance(target, cst.Name) and m.matches(
        it, m.Call(func=m.Name("range"), args=[m.Arg(m.Call(func=m.Name("len"), args=[m.Arg(m.Name())]))])
    ):
        i = target.value

        def read(e: cst.BaseExpression) -> str | None:
            ok = m.matches(e, m.Subscript(value=m.Name(), slice=[m.SubscriptElement(m.Index(m.Name(i)))]))
            return e.value.value if ok and e.value.value != i else None

        a, b = read(elt.left), read(elt.right)
        if a is not None and b is not None and a == it.args[0].value.args[0].value.value:
            return cst.Name(a), cst.Name(b), True
    return None


def _mapped(a: cst.BaseExpression, b: cst.BaseExpression, start: str) -> str:
    return f"sum(map(operator.mul, {code(a)}, {code(b)}){start})"


def _sum_products_loop(fn: cst.FunctionDef, body: list[cst.BaseStatement], i: int) -> cst.BaseStatement | None:
    init, loop = small(body[i]), body[i + 1]
    if not (m.matches(init, m.Assign(targets=[m.AssignTarget(m.Name())])) and isinstance(loop, cst.For)):
        return None
    if not isinstance(init.value, (cst.Integer, cst.Float)) or loop.orelse is not None or loop.asynchronous:
        return None
    acc = init.targets[0].target.value
    inc = small(single(loop.body))
    if not (isinstance(inc, cst.AugAssign) and isinstance(inc.operator, cst.AddAssign)):
        return None
    found = _product_inputs(loop.target, loop.iter, inc.value) if m.matches(inc.target, m.Name(acc)) else None
    if found is None:
        return None
    a, b, indexed = found
    loop_names = names_in(loop.target)
    if acc in names_in(a) | names_in(b) | loop_names or any(used_outside(fn, n, [loop]) for n in loop_names):
        return None
    start = "" if code(init.value) == "0" else f", {code(init.value)}"
    fast = f"{acc} = {_mapped(a, b, start)}\n"
    if not indexed:
        return statement(fast, body[i])
    block = cst.IndentedBlock([body[i].with_changes(leading_lines=[]), loop.with_changes(leading_lines=[])])
    guard = cst.parse_statement(f"if len({code(b)}) >= len({code(a)}):\n    {fast}else:\n    pass\n")
    return guard.with_changes(orelse=guard.orelse.with_changes(body=block), leading_lines=body[i].leading_lines)


class _SumProductsCall(cst.CSTTransformer):
    """``sum(x * y for x, y in zip(a, b)[, start])`` → the ``map``; the index form under ``if len(b) >= len(a)``.
    Not inside nested defs or lambdas (their names may mean other things; they may never run)."""

    def __init__(self, fn: cst.FunctionDef) -> None:
        super().__init__()
        self.fn = fn

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.fn

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not m.matches(updated.func, m.Name("sum")) or not 1 <= len(updated.args) <= 2:
            return updated
        if any(a.keyword is not None or a.star for a in updated.args):
            return updated
        comp = updated.args[0].value
        if not isinstance(comp, (cst.GeneratorExp, cst.ListComp)):
            return updated
        fc = comp.for_in
        if fc.ifs or fc.inner_for_in is not None or fc.asynchronous is not None:
            return updated
        found = _product_inputs(fc.target, fc.iter, comp.elt)
        if found is None:
            return updated
        a, b, indexed = found
        start = f", {code(updated.args[1].value)}" if len(updated.args) == 2 else ""
        fast = cst.parse_expression(_mapped(a, b, start))
        if not indexed:
            return fast.with_changes(lpar=updated.lpar, rpar=updated.rpar)
        test = cst.parse_expression(f"len({code(b)}) >= len({code(a)})")
        return cst.IfExp(test, fast, updated, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


# ── running total appended in a loop → itertools.accumulate ───────────────────────────────────────────────


def running_accumulate(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef:
    """Prefix sums written by hand → ``itertools.accumulate`` with the same start:

        total = 0                      # a number literal (either order with the list)
        out = []
        for x in xs:                   # → out = list(itertools.accumulate(xs, initial=0))
            total += x                 #   del out[0]
            out.append(total)          #   total = out[-1] if out else 0   (only where total is read later)

    ``accumulate`` adds with ``+`` from the start value, left to right, as the loop does: the same sums, bit
    for bit on floats. ``x`` is used nowhere else in the function (the loop would leave it set), ``total``
    and ``out`` not in ``xs``; ``list`` not rebound, ``itertools`` the module's ``import itertools`` or
    free. Measured on 3.11 (min of 5 × 2,000 calls, floats): 1.29× over 100 items, 1.38× over 1,000,
    0.74× over 10 (building the accumulator costs more than ten additions): measurement keeps it only where
    it pays."""
    if not free_module_name(module, "itertools") or "list" in bound_names(fn) | names_in(fn.params):
        return fn

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        i = 0
        while i < len(body):
            new = _running(fn, body, i) if i + 2 < len(body) else None
            out.extend(new or [body[i]])
            i += 3 if new else 1
        return out

    return rewrite_blocks(fn, per_block)


def _running(fn: cst.FunctionDef, body: list[cst.BaseStatement], i: int) -> list[cst.BaseStatement] | None:
    loop, inits = body[i + 2], {}
    for stmt in (small(body[i]), small(body[i + 1])):
        if not m.matches(stmt, m.Assign(targets=[m.AssignTarget(m.Name())])):
            return None
        inits[stmt.targets[0].target.value] = stmt.value
    if not isinstance(loop, cst.For) or loop.orelse is not None or loop.asynchronous is not None:
        return None
    if not isinstance(loop.target, cst.Name) or not isinstance(loop.body, cst.IndentedBlock):
        return None
    if len(loop.body.body) != 2:
        return None
    x = loop.target.value
    inc, app = small(loop.body.body[0]), small(loop.body.body[1])
    if not (
        isinstance(inc, cst.AugAssign)
        and isinstance(inc.operator, cst.AddAssign)
        and m.matches(inc.target, m.Name())
        and m.matches(inc.value, m.Name(x))
    ):
        return None
    acc = inc.target.value
    appended = m.Call(
        func=m.Attribute(value=m.Name(), attr=m.Name("append")), args=[m.Arg(m.Name(acc), keyword=None, star="")]
    )
    if not m.matches(app, m.Expr(appended)):
        return None
    lst = app.value.func.value.value
    if acc == lst or set(inits) != {acc, lst} or {acc, lst, x} & names_in(loop.iter):
        return None
    if not isinstance(inits[acc], (cst.Integer, cst.Float)) or not m.matches(inits[lst], m.List(elements=[])):
        return None
    three = body[i : i + 3]
    if used_outside(fn, x, three):
        return None
    start = code(inits[acc])
    new = [
        statement(f"{lst} = list(itertools.accumulate({code(loop.iter)}, initial={start}))\n", body[i]),
        statement(f"del {lst}[0]\n"),
    ]
    if used_outside(fn, acc, three):
        new.append(statement(f"{acc} = {lst}[-1] if {lst} else {start}\n"))
    return new
