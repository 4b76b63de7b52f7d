"""Expression rules: one expression replaced by a cheaper one with the same value, wherever it stands.

Each needs nothing but the expression's own shape (no flow or name analysis), so each holds wherever the
pattern matches: the preconditions are in the pattern. What no pattern can see (an object whose ``keys``
is not a dict's, a ``sorted`` that is not the builtin) is left to verification on real inputs.
"""

from __future__ import annotations

import string

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import bound_names, code, names_in, over_whole_def


class _KeysMembership(cst.CSTTransformer):
    """``k in d.keys()`` → ``k in d``: a view lookup through a method call is slower than the dict's own."""

    def leave_ComparisonTarget(self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget):
        if isinstance(updated.operator, (cst.In, cst.NotIn)) and m.matches(
            updated.comparator, m.Call(func=m.Attribute(attr=m.Name("keys")), args=[])
        ):
            return updated.with_changes(comparator=updated.comparator.func.value)
        return updated


class _SortedIndex(cst.CSTTransformer):
    """``sorted(x)[0]`` → ``min(x)`` and ``sorted(x)[-1]`` → ``max(x)`` (one argument, no key/reverse).

    For a plain name the empty case keeps its error: ``min(xs) if xs else sorted(xs)[0]`` raises the
    original's IndexError on an empty list, where bare ``min`` raises ValueError (derived inputs found that
    difference). Ties: ``min`` keeps the first of equal smallest items, as the stable sort does; ``max`` the
    first of equal largest where the sort keeps the last — the judge's equality decides whether that shows.
    """

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
        arg = updated.value.args[0].value
        call = cst.Call(func=cst.Name(fn), args=[cst.Arg(arg)])
        if not isinstance(arg, cst.Name):  # evaluated once as before; an empty one raises ValueError
            return call
        guarded = cst.IfExp(test=arg, body=call, orelse=updated.with_changes(lpar=[], rpar=[]))
        return guarded.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


# Callables that take an iterable, read all of it before returning and do not keep it, so a list in place
# of a generator changes nothing they can see. A list comprehension builds faster than a generator feeds:
# measured on 3.11 (min of 7 × 2,000 calls, 50–600 items): sum 1.14×, fsum 1.14–1.19×, max 1.10×, sorted
# 1.12×, tuple 1.19×, "".join 1.28×. (The reverse rewrite, ``sum([...])`` → ``sum(...)``, saves memory and
# costs time on 3.11: it was dropped.) Not any/all/next: they stop early.
CONSUMERS = frozenset({"sum", "fsum", "min", "max", "sorted", "tuple", "list", "set", "frozenset"})
SIMPLE_ARG = m.Name() | m.Lambda() | m.Integer() | m.Float() | m.SimpleString()


class _ConsumerList(cst.CSTTransformer):
    """``sum(e for x in xs)`` → ``sum([e for x in xs])`` for a callable of ``CONSUMERS`` or a string literal's
    ``join``; ``list(...)``/``set(...)`` become the comprehension itself. Other arguments must be keywords
    with plain values the comprehension does not rebind (then they are evaluated before the items either
    way), or ``sum``'s start, positional. Where the consumer raises part-way (``sum`` of a str), the list has
    evaluated items the generator had not: verification decides."""

    def leave_Call(self, original: cst.Call, updated: cst.Call):
        func = updated.func
        consumer = (isinstance(func, cst.Name) and func.value in CONSUMERS) or m.matches(
            func,
            m.Attribute(value=m.Name("math"), attr=m.Name("fsum"))
            | m.Attribute(value=m.SimpleString(), attr=m.Name("join")),
        )
        if not consumer or not updated.args:
            return updated
        first, *rest = updated.args
        if not m.matches(first, m.Arg(value=m.GeneratorExp(), keyword=None, star="")):
            return updated
        # sum's start may be positional (``sum(gen, 1.5)``): a plain value, evaluated before the items either way.
        positional_ok = m.matches(func, m.Name("sum"))
        if any((a.keyword is None and not positional_ok) or a.star or not m.matches(a.value, SIMPLE_ARG) for a in rest):
            return updated
        gen = first.value
        # The other arguments are read before a generator runs but after a list is built: a name the
        # comprehension rebinds (``sum(((t := x) for x in xs), t)``) would be read after its last item.
        rebound = {n.target.value for n in m.findall(gen, m.NamedExpr(target=m.Name()))}
        if rebound and any(rebound & names_in(a.value) for a in rest):
            return updated
        if isinstance(func, cst.Name) and func.value == "list" and not rest:
            return cst.ListComp(elt=gen.elt, for_in=gen.for_in)
        if isinstance(func, cst.Name) and func.value == "set" and not rest:
            return cst.SetComp(elt=gen.elt, for_in=gen.for_in)
        comp = cst.ListComp(elt=gen.elt, for_in=gen.for_in)
        return updated.with_changes(args=[first.with_changes(value=comp), *rest])


class _SquareMultiply(cst.CSTTransformer):
    """``x ** 2`` → ``x * x`` for a plain name ``x``: a multiplication instead of a ``pow`` call."""

    def leave_BinaryOperation(self, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        if (
            isinstance(updated.operator, cst.Power)
            and isinstance(updated.left, cst.Name)
            and m.matches(updated.right, m.Integer("2"))
        ):
            return updated.with_changes(operator=cst.Multiply(), right=cst.Name(updated.left.value))
        return updated


class _SortedSliceHeapq(cst.CSTTransformer):
    """``sorted(xs)[:k]`` → ``heapq.nsmallest(k, xs)`` and ``sorted(xs, reverse=True)[:k]`` →
    ``heapq.nlargest(k, xs)`` (``key=`` kept) for a literal ``k``: documented as equivalent, and it never
    sorts the whole input."""

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript):
        v = updated.value
        if not m.matches(v, m.Call(func=m.Name("sorted"))) or len(updated.slice) != 1:
            return updated
        s = updated.slice[0].slice
        if not (isinstance(s, cst.Slice) and s.lower is None and s.step is None and isinstance(s.upper, cst.Integer)):
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


class _FormatFString(cst.CSTTransformer):
    """``"{}: {!r}".format(a, b)`` → ``f"{a}: {b!r}"``: the string's ``format`` method is a call per use, the
    f-string builds the text in place (3.11, timeit: 137 → 72 ns for two fields; ``%`` formatting is already
    as fast as an f-string and is left alone).

    The same text for any values: a field without a format spec formats its value with ``format(v, "")``
    in both (``!r``/``!s``/``!a`` convert first in both). Only where that is all there is to it: a plain
    ``str`` literal (no bytes, no f-string); fields ``{}``, ``{0}`` or ``{name}`` with ASCII names (the
    parser folds a keyword's ``ﬁ`` to ``fi``, a field keeps it; not mixed automatic and manual numbering,
    no ``.attr`` or ``[key]``, no format spec — one measured slower as an f-string); arguments that are
    plain names, none starred, each used. ``format`` reads every argument before it formats any, the
    f-string each at its field, so the names must be ones nothing can rebind while a value formats itself:
    ``safe`` locals of the function (no ``global``/``nonlocal``/``del`` of them, no nested def, class or
    lambda that could reach them). What stays different: where an argument is unbound and an earlier
    field's ``__format__`` raises, that error comes first (the original's was the NameError). Not inside
    another f-string's expression (its quotes and backslashes are not allowed there before 3.12), not in
    annotations, not where a comment inside the call would be lost. The new literal is checked against the
    old one on stand-in values before it is used.
    """

    def __init__(self, safe: set[str]) -> None:
        super().__init__()
        self.safe = safe
        self.inside_fstring = 0

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        self.inside_fstring += 1

    def leave_FormattedStringExpression(self, original, updated):
        self.inside_fstring -= 1
        return updated

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False  # its own scope

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # visited from the function's body: any def met is a nested one

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (m.matches(func, m.Attribute(value=m.SimpleString(), attr=m.Name("format"))) and updated.args):
            return updated
        literal = func.value
        if set(literal.prefix.lower()) - {"r", "u"} or func.value.lpar or self.inside_fstring:
            return updated
        if any(a.star or not isinstance(a.value, cst.Name) or a.value.value not in self.safe for a in updated.args):
            return updated
        if m.findall(updated, m.Comment()):
            return updated
        positional = [a.value.value for a in updated.args if a.keyword is None]
        keywords = {a.keyword.value: a.value.value for a in updated.args if a.keyword is not None}
        if not all(k.isascii() for k in keywords):
            return updated
        new = _fstring(literal.evaluated_value, positional, keywords)
        if new is None:
            return updated
        return cst.parse_expression(new).with_changes(lpar=updated.lpar, rpar=updated.rpar)


def format_fstring(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``_FormatFString`` over the function's own body (nested defs keep their calls: their locals are
    theirs), with the function's locals that nothing else can rebind."""
    params = fn.params
    names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    names |= {p.name.value for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)}
    names |= bound_names(fn.body)
    unsafe: set[str] = set()
    for node in m.findall(fn.body, m.Global() | m.Nonlocal()):
        unsafe |= {n.name.value for n in node.names}
    for node in m.findall(fn.body, m.Del()):
        unsafe |= names_in(node.target)
    for node in m.findall(fn.body, m.FunctionDef() | m.Lambda() | m.ClassDef()):
        unsafe |= names_in(node)
    return fn.with_changes(body=fn.body.visit(_FormatFString(names - unsafe)))


def _fstring(text: str, positional: list[str], keywords: dict[str, str]) -> str | None:
    """The f-string source that gives ``text.format(*positional, **keywords)`` (the names' values), or None."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return None
    body: list[str] = []
    used: set[str] = set()
    auto = manual = 0
    for literal, field, spec, conversion in fields:
        body.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if spec:
            return None
        if field == "":
            index: int | str = auto
            auto += 1
        elif field.isascii() and field.isdigit():  # "²".isdigit() too, and int("²") raises
            index, manual = int(field), manual + 1
        elif field.isascii() and field.isidentifier():  # a keyword's "ﬁ" reaches format as "fi"
            index = field
        else:
            return None  # ``{0.attr}``, ``{0[key]}``
        if isinstance(index, int):
            if index >= len(positional):
                return None
            name, key = positional[index], f"#{index}"
        elif index in keywords:
            name, key = keywords[index], index
        else:
            return None
        used.add(key)
        body.append("{" + name + (f"!{conversion}" if conversion else "") + "}")
    if auto and manual:
        return None
    if used != {f"#{i}" for i in range(len(positional))} | set(keywords):
        return None
    joined = "".join(body)
    source = "f" + repr(joined)
    if "'" not in joined and '"' not in joined:
        source = 'f"' + repr(joined)[1:-1] + '"'
    # The check: stand-in values, formatted the old way and the new way.
    stand_in = {name: f"<{i}:{name}>" for i, name in enumerate({*positional, *keywords.values()})}
    try:
        old = text.format(*(stand_in[n] for n in positional), **{k: stand_in[v] for k, v in keywords.items()})
        same = eval(compile(source, "<format>", "eval"), {"__builtins__": {}}, stand_in) == old
    except Exception:
        return None
    return source if same else None


keys_membership = over_whole_def(_KeysMembership)
sorted_index = over_whole_def(_SortedIndex)
consumer_list = over_whole_def(_ConsumerList)
square_multiply = over_whole_def(_SquareMultiply)
sorted_slice_heapq = over_whole_def(_SortedSliceHeapq)
