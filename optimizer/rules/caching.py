"""Caching rules: a pure, self-recursive function remembers its results: for ever with ``functools.cache``
(``cache_recursion``), or for one outermost call, keyed on the arguments that change (``memo_per_call``).

A cached call returns the result of an earlier call with equal arguments and skips the body, so the
function must be a function of its arguments and do nothing else: no call the purity vocabulary
(optimizer/purity.py) lists, of either kind (what the result reads, or what the call does), no
``global``/``nonlocal``, no ``yield``, no write into an object. The arguments must be hashable, which
verification on the real inputs checks.
"""

from __future__ import annotations

import ast
import builtins

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import (
    READ_ONLY_CALLS,
    builtin_free,
    code,
    docstring_offset,
    fresh,
    is_simple_literal,
    statement,
)
from slipstream.optimizer.purity import import_aliases, listed_pure, why_impure
from slipstream.optimizer.rules.inlining import bindings

# The only names from outside a remembered function it may read, besides constants (``reads_only_constants``):
# builtins that compute from their arguments alone, and the exception classes. A module global may change
# between calls (a list, a setting another function rebinds), an imported function may draw randomness or read
# the clock under another name, and a helper may do what no vocabulary lists (log, append to a module list):
# a remembered result would be the first call's answer again.
PURE_BUILTINS = frozenset(
    {"abs", "all", "any", "bin", "bool", "chr", "dict", "divmod", "enumerate", "float", "format", "frozenset"}
    | {"hex", "int", "isinstance", "len", "list", "max", "min", "oct", "ord", "pow", "range", "repr"}
    | {"reversed", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip"}
    | {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
)


def free_names(fn: ast.FunctionDef) -> set[str]:
    """The names ``fn`` reads that it does not bind (a nested scope's own names count as bound: an
    over-approximation of what is local, which only matters for names that are also read from outside).
    An import, ``global`` or ``nonlocal`` inside it gives a name no module binds."""
    if any(isinstance(n, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)) for n in ast.walk(fn)):
        return {"<import or global>"}
    bound = {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
    bound |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {n.name for n in ast.walk(fn) if isinstance(n, ast.ExceptHandler) and n.name}
    return {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def _literal(e: ast.expr) -> bool:
    if isinstance(e, ast.Constant):
        return True
    if isinstance(e, ast.Tuple):
        return all(map(_literal, e.elts))
    if isinstance(e, ast.UnaryOp):
        return _literal(e.operand)
    return isinstance(e, ast.BinOp) and _literal(e.left) and _literal(e.right)


def module_constants(module: cst.Module) -> set[str]:
    """Top-level names bound once in the whole module (no other assignment, ``global`` or import of them
    anywhere), to a literal: a number, a string, a tuple of such, or arithmetic on them (``10 ** 9 + 7``)."""
    try:
        tree = ast.parse(module.code)
    except SyntaxError:
        return set()
    counts, out = bindings(tree), set()
    for stmt in tree.body:
        target, value = None, None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        if isinstance(target, ast.Name) and counts.get(target.id) == 1 and value is not None and _literal(value):
            out.add(target.id)
    return out


# Standard modules whose functions compute from their arguments alone and that keep no settings a caller
# could change (``decimal`` has a context, ``random`` a state: not here); os.path's and the like are in
# optimizer/purity.py's PURE.
PURE_MODULES = frozenset({"math", "cmath", "operator", "string", "unicodedata", "bisect", "heapq", "itertools"})


def _pure_import_use(fn: ast.FunctionDef, name: str, dotted: str) -> bool:
    """Is every read of ``name`` (an import of ``dotted``) the root of ``name.attr…`` that resolves into a
    pure module or to a pure name (``math.sqrt``, ``os.path.join``)? A bare use could hand the module on."""
    parents = {id(c): p for p in ast.walk(fn) for c in ast.iter_child_nodes(p)}
    for n in ast.walk(fn):
        if not (isinstance(n, ast.Name) and n.id == name):
            continue
        node: ast.AST = n
        parts = [dotted]
        while isinstance(parents.get(id(node)), ast.Attribute):
            node = parents[id(node)]
            parts.append(node.attr)  # type: ignore[attr-defined]
        full = ".".join(parts)
        if len(parts) == 1 or not (full.split(".")[0] in PURE_MODULES or listed_pure(full)):
            return False
    return True


def reads_only_constants(fn: ast.FunctionDef, module: cst.Module, own: set[str] = frozenset()) -> bool:
    """Does ``fn`` read, from outside itself, only ``PURE_BUILTINS`` (as the builtins), the module's
    constants, pure functions of imported modules (``PURE_MODULES``, purity's ``PURE``) and ``own`` (its
    own name)?"""
    outside = free_names(fn) - set(own)
    if not outside:
        return True
    constants = module_constants(module)
    try:
        tree = ast.parse(module.code)
    except SyntaxError:
        return False
    aliases, counts = import_aliases(tree), bindings(tree)
    for n in outside:
        if n in constants or (n in PURE_BUILTINS and builtin_free(module, n)):
            continue
        if n in aliases and counts.get(n) == 1 and _pure_import_use(fn, n, aliases[n]):
            continue
        return False
    return True


def cache_recursion(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef:
    """``@functools.cache`` on a pure function that calls itself, has positional parameters only (no
    ``*args``/``**kwargs``), literal defaults (a mutable default could be changed between calls), no
    decorators already, reads nothing from outside but itself, builtins that compute from their arguments
    and the module's constants (``reads_only_constants``: a module list it reads could change between calls,
    which a run on the captured inputs never sees), and returns only immutable values
    (``returns_immutable``): every caller of a cached function gets the same result object, so a list one
    caller appends to would be what the next one gets."""
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
    if not calls_self or why_impure(node, None, effects=True) or not returns_immutable(node):
        return fn
    if not reads_only_constants(node, module, {name}):
        return fn
    deco = cst.Decorator(decorator=cst.Attribute(value=cst.Name("functools"), attr=cst.Name("cache")))
    return fn.with_changes(decorators=[deco])


# What these builtins return is immutable whatever they are given; ``_SAME_KIND`` ones return one of their
# arguments or a value of the same kinds (``min``, ``abs``), so are immutable when their arguments are.
_ALWAYS_IMMUTABLE = frozenset({"len", "bool", "int", "float", "str", "repr", "ord", "chr", "hash", "isinstance"})
_SAME_KIND = frozenset({"abs", "round", "divmod", "pow", "min", "max", "sum", "tuple", "frozenset"})
_STR_METHODS = frozenset({"join", "upper", "lower", "strip", "lstrip", "rstrip", "replace", "format", "count"})
_STR_METHODS |= {"find", "index", "startswith", "endswith", "isdigit", "isalpha"}
# Module functions that return strings or tuples of strings (purity.py's PURE lists them as computations).
_STR_FUNCTIONS = frozenset(f"os.path.{n}" for n in ("join", "basename", "dirname", "splitext", "split", "normpath"))


def returns_immutable(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Is every value ``fn`` returns built only from immutable parts? Literals, parameters and items, slices
    or loop items of them (a cached function's arguments are hashable: numbers, strings, tuples of such),
    its own calls,
    arithmetic, comparisons, ``and``/``or``/``not``, conditional expressions, tuples and f-strings of such,
    the builtins above and ``math`` functions over such, ``str`` methods and ``os.path``'s string
    functions, and locals only ever bound to
    such (or to a ``range`` loop's numbers). Anything else (a list, a comprehension, an attribute, an
    unknown call) may be mutable, and the answer is no."""
    params = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    bindings = _bindings(fn)
    good = set(bindings) | params  # a parameter is its hashable argument, unless rebound otherwise
    self_name = fn.name

    def imm(e: ast.expr | None) -> bool:
        if e is None:
            return False
        if isinstance(e, (ast.Constant, ast.Compare, ast.JoinedStr)):
            return True
        if isinstance(e, ast.Name):
            return e.id in good
        if isinstance(e, ast.Subscript):
            return imm(e.value)
        if isinstance(e, ast.BinOp):
            return imm(e.left) and imm(e.right)
        if isinstance(e, ast.UnaryOp):
            return isinstance(e.op, ast.Not) or imm(e.operand)
        if isinstance(e, ast.BoolOp):
            return all(imm(v) for v in e.values)
        if isinstance(e, ast.IfExp):
            return imm(e.body) and imm(e.orelse)
        if isinstance(e, ast.Tuple):
            return all(imm(v) for v in e.elts)
        if isinstance(e, ast.Call):
            return _immutable_call(e, self_name, imm, params | set(bindings))
        return False

    changed = True
    while changed:  # the largest set of locals whose every binding is immutable given the others
        changed = False
        for name in sorted(good):
            if not all(imm(v) for v in bindings.get(name, ())):
                good.discard(name)
                changed = True
    return all(imm(n.value) if n.value is not None else True for n in ast.walk(fn) if isinstance(n, ast.Return))


def _bindings(fn: ast.AST) -> dict[str, list[ast.expr | None]]:
    """Each name ``fn`` binds → the values bound to it (None: a binding that is no plain value, such as a
    ``with`` or ``except`` target, a walrus, an import, a tuple target). A loop target stands for an item
    of what it iterates (``xs[0]``), or for ``0`` over a ``range``."""
    out: dict[str, list[ast.expr | None]] = {}
    seen: set[int] = set()

    def add(name: str, value: ast.expr | None) -> None:
        out.setdefault(name, []).append(value)

    for n in ast.walk(fn):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                for name in ast.walk(t):
                    if isinstance(name, ast.Name):
                        seen.add(id(name))
                        add(name.id, n.value if t is name else None)
        elif isinstance(n, (ast.AugAssign, ast.AnnAssign)) and isinstance(n.target, ast.Name):
            seen.add(id(n.target))
            add(n.target.id, n.value)
        elif isinstance(n, (ast.For, ast.comprehension)):
            f = n.iter.func if isinstance(n.iter, ast.Call) else None
            ranged = isinstance(n.target, ast.Name) and isinstance(f, ast.Name) and f.id == "range"
            for name in ast.walk(n.target):
                if isinstance(name, ast.Name):
                    seen.add(id(name))
                    add(name.id, ast.Constant(0) if ranged else ast.Subscript(n.iter, ast.Constant(0)))
        elif isinstance(n, ast.ExceptHandler) and n.name:
            add(n.name, None)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                add(a.asname or a.name.split(".")[0], None)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not fn:
            add(n.name, None)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            add(n.name, None)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            add(n.rest, None)
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load) and id(n) not in seen:
            add(n.id, None)  # with ... as, walrus, del
    return out


def _immutable_call(e: ast.Call, self_name: str, imm, local: set[str]) -> bool:
    f = e.func
    if any(isinstance(a, ast.Starred) for a in e.args) or any(k.arg is None for k in e.keywords):
        return False
    name = f.id if isinstance(f, ast.Name) and f.id not in local - {self_name} else ""
    if name == self_name or name in _ALWAYS_IMMUTABLE:
        return True
    # ``key=`` picks which item, not what it is: only the items (and a ``default``) matter.
    kwargs = [k.value for k in e.keywords if not (name in ("min", "max") and k.arg == "key")]
    if name in _SAME_KIND:
        if len(e.args) == 1 and isinstance(e.args[0], ast.GeneratorExp):
            return imm(e.args[0].elt) and all(map(imm, kwargs))
        return all(map(imm, [*e.args, *kwargs]))
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math":
        return "math" not in local and all(map(imm, [*e.args, *kwargs]))
    dotted = ast.unparse(f)
    if dotted in _STR_FUNCTIONS and dotted.split(".")[0] not in local:
        return True
    return isinstance(f, ast.Attribute) and f.attr in _STR_METHODS and imm(f.value)


# ── per-call memo: recursion that passes some arguments through unchanged ─────────────────────────────────

# Results of these types are remembered; any other result (a list, a tuple that may hold one, an object) is
# recomputed each time, since a caller, or the recursion itself, could change a shared one.
_IMMUTABLE = "(int, float, complex, bool, str, bytes, type(None))"


def memo_per_call(fn: cst.FunctionDef) -> cst.FunctionDef:
    """A pure function that calls itself, passing some parameters through unchanged in every call (a table,
    a list of weights, a string), memoises on the others, in a dict that lives for one outermost call.

    ``functools.cache`` (``cache_recursion``) needs every argument hashable and keeps results forever; a list
    passed through (``knap(i, w, weights, values)``) makes it raise. Here only the parameters that change key
    the memo, the pass-through ones are read from the enclosing call, and the memo is dropped when the
    outermost call returns: bounded by one call's subproblems, never stale across calls. Measured on
    CPython 3.11.7 (timeit, the median ratio of 21 alternating rounds): a recursive 0/1 knapsack over 16
    items 36× faster; over 6 items (few repeated subproblems) 0.32×, which measurement rejects.

    Preconditions, beyond ``cache_recursion``'s purity (no call the purity vocabulary lists, no
    ``global``/``nonlocal``, no ``yield``, no write into an object):

    - plain positional parameters (no ``*args``/``**kwargs``/keyword-only/positional-only), none named
      ``self``/``cls``, no decorators, not ``async``;
    - the function's name appears only as the callee of calls passing every parameter positionally (no
      keywords, no ``*``), so every recursive call is seen and the name is never handed out;
    - a pass-through parameter is passed as itself at its own position in every such call and never
      rebound;
    - no parameter (nor its items or attributes) is handed to another call than a read-only builtin
      (``READ_ONLY_CALLS``): the callee could change it, and the memo would answer from before the change;
      at least one parameter is pass-through and at least one is not;
    - no nested def, lambda or class (they could outlive the call), no ``try ... finally`` (a ``finally``
      could replace the result after it was remembered);
    - only results of immutable types (``_IMMUTABLE``) are remembered, checked at run time.

    Equal arguments share a result, as with ``functools.cache`` (``1`` and ``True`` key alike); unhashable
    changing arguments make the memo raise, which verification on the real inputs catches."""
    p = fn.params
    if fn.decorators or fn.asynchronous is not None or p.star_kwarg is not None or p.kwonly_params:
        return fn
    if isinstance(p.star_arg, cst.Param) or p.posonly_params:
        return fn
    params = [x.name.value for x in p.params]
    if not params or params[0] in ("self", "cls"):
        return fn
    try:
        node = ast.parse(code(fn)).body[0]
    except SyntaxError:
        return fn
    name = fn.name.value
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and _callee_name(n.func) == name]
    uses = [n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == name]
    if not calls or len(uses) != len(calls) or why_impure(node, None, effects=True):
        return fn
    if any(c.keywords or len(c.args) != len(params) or any(isinstance(a, ast.Starred) for a in c.args) for c in calls):
        return fn
    inner_scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    if any(isinstance(n, inner_scopes) for n in ast.walk(node) if n is not node):
        return fn
    if any(isinstance(n, ast.Try) and n.finalbody for n in ast.walk(node)):
        return fn
    if _handed_on(node, name) & set(params):
        return fn
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    through = {
        i
        for i, q in enumerate(params)
        if q not in bound and all(isinstance(c.args[i], ast.Name) and c.args[i].id == q for c in calls)
    }
    keyed = [i for i in range(len(params)) if i not in through]
    if not through or not keyed or not isinstance(fn.body, cst.IndentedBlock):
        return fn
    return _with_memo(fn, name, params, keyed)


def _handed_on(fn: ast.AST, name: str) -> set[str]:
    """Names passed (or whose items or attributes are passed) to a call other than ``name``'s own and the
    builtins that only read (cstutil's ``READ_ONLY_CALLS``): the callee may change them, and a memo would
    then answer from before the change."""
    out: set[str] = set()
    for n in ast.walk(fn):
        if not isinstance(n, ast.Call) or (isinstance(n.func, ast.Name) and n.func.id in (name, *READ_ONLY_CALLS)):
            continue
        for arg in [*n.args, *(k.value for k in n.keywords)]:
            while isinstance(arg, (ast.Starred, ast.Subscript, ast.Attribute)):
                arg = arg.value
            if isinstance(arg, ast.Name):
                out.add(arg.id)
    return out


def _callee_name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else ""


def _with_memo(fn: cst.FunctionDef, name: str, params: list[str], keyed: list[int]) -> cst.FunctionDef:
    inner, memo, remember, key = (fresh(fn, n) for n in (f"_{name}", "_memo", "_remember", "_key"))
    args = ", ".join(params[i] for i in keyed)
    key_expr = args if len(keyed) == 1 else f"({args})"

    class Redirect(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
            if not m.matches(updated.func, m.Name(name)):
                return updated
            kept = [updated.args[i].with_changes(comma=cst.MaybeSentinel.DEFAULT) for i in keyed]
            return updated.with_changes(func=cst.Name(inner), args=kept)

        def leave_Return(self, original: cst.Return, updated: cst.Return) -> cst.Return:
            value = updated.value if updated.value is not None else cst.Name("None")
            call = cst.Call(cst.Name(remember), [cst.Arg(cst.Name(key)), cst.Arg(value)])
            return updated.with_changes(value=call, whitespace_after_return=cst.SimpleWhitespace(" "))

    body = list(fn.body.body)
    pos = docstring_offset(body)
    inner_body = cst.IndentedBlock(
        [
            statement(f"{key} = {key_expr}\n"),
            statement(f"if {key} in {memo}:\n    return {memo}[{key}]\n"),
            *[s.visit(Redirect()) for s in body[pos:]],
        ]
    )
    # Each name is fresh in ``fn``, so nothing the body reads is shadowed.
    helper = cst.parse_module(
        f"{memo} = {{}}\n\n\n"
        f"def {remember}({key}, result):\n"
        f"    if type(result) in {_IMMUTABLE}:\n"
        f"        {memo}[{key}] = result\n"
        "    return result\n\n\n"
        f"def {inner}({args}):\n    pass\n\n\n"
        f"return {inner}({args})\n"
    ).body
    inner_def = helper[2].with_changes(body=inner_body, leading_lines=[cst.EmptyLine(indent=False)])
    new = [*body[:pos], helper[0], helper[1].with_changes(leading_lines=[cst.EmptyLine(indent=False)]), inner_def]
    new.append(helper[3].with_changes(leading_lines=[cst.EmptyLine(indent=False)]))
    return fn.with_changes(body=fn.body.with_changes(body=new))
