"""What a model-written function may reach: an allowlist, checked before the function ever runs.

The OS keeps model-written code away from the machine (optimizer/sandbox.py). Inside its own process,
though, code that can reach the interpreter (modules, frames, descriptors, threads) can reach the
harness that runs it: write its own report, answer the parent's timing requests, stash results between
calls. Verification and timing by a process's own harness only mean something for code that cannot do
that, so a model's proposal may use only:

- its parameters and the names it assigns itself;
- the names of your module that the original function already uses (its helpers, classes, constants),
  but never to write into them (no ``X.attr = ...``, ``X[k] = ...`` or mutating method on them);
- plain builtins (``len``, ``range``, ``sorted``, ``dict``... and the exception classes), and
  ``getattr``/``hasattr`` only called directly with a literal, public attribute name;
- ``import`` of computational standard modules (``math``, ``itertools``, ``collections``, ``heapq``,
  ``bisect``, ``functools``, ``operator``, ``re``...), and of those only public attributes whose values
  are not modules and not on a short list of reflective helpers (``operator.attrgetter``,
  ``string.Formatter``...);
- attribute names that are public: no ``_``-prefixed name, so no dunder, and none of the frame, code
  and generator internals (``gi_frame``, ``f_globals``, ``tb_frame``, ``co_code``...);
- string literals used as format strings only without attribute or index fields (``"{0.x}"``).

No ``global``/``nonlocal``, no ``lambda`` default tricks past these rules, no class definitions. Rule
rewrites are the user's own code transformed and are not checked. A refusal names what was found; the
model gets it as feedback.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field

from slipstream.optimizer.functions import find_function
from slipstream.optimizer.purity import MUTATORS

ALLOWED_MODULES = (
    "math",
    "cmath",
    "itertools",
    "functools",
    "collections",
    "heapq",
    "bisect",
    "operator",
    "re",
    "string",
    "statistics",
    "array",
    "decimal",
    "fractions",
    "copy",
    "unicodedata",
)
# Attributes of allowed modules that reach further than computation: by name, or into process state.
_REFLECTIVE = {
    "attrgetter", "methodcaller", "Formatter", "getcontext", "setcontext", "localcontext",
    "singledispatch", "singledispatchmethod", "update_wrapper", "wraps", "WRAPPER_ASSIGNMENTS", "WRAPPER_UPDATES",
}  # fmt: skip
_BUILTINS = {
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "id", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "print", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "zip", "getattr",
    "hasattr", "True", "False", "None", "NotImplemented", "Ellipsis",
}  # fmt: skip
_BUILTINS |= {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
_MUTATING = MUTATORS | {"cache_clear"}  # the in-place methods of the one purity vocabulary
_INTERNALS = re.compile(r"^(?:gi|f|tb|cr|ag|co)_[a-z]+$")
_FORMAT_FIELD = re.compile(r"\{[^{}]*[.\[][^{}]*\}")
_DUNDER_NAME = re.compile(r"^\s*__\w+__\s*$")


def _public(name: str) -> bool:
    return not name.startswith("_") and not _INTERNALS.match(name)


def _module_attribute(module: str, attr: str) -> str:
    """Why ``module.attr`` is refused; "" when it is a plain public computational attribute."""
    if not _public(attr) or attr in _REFLECTIVE:
        return f"it uses {module}.{attr}"
    try:
        value = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return f"{module} has no public attribute {attr!r}"
    if isinstance(value, types.ModuleType):
        return f"it reaches the module {module}.{attr}"
    return ""


def _bound_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Parameters and every name the function binds itself (assignments, loops, comprehensions, imports)."""
    out = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    out |= {a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not fn:
            out.add(node.name)
    return out


def _names_used(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def out_of_reach(source: str, qualname: str, original_source: str | None = None) -> str:
    """Why the model's version of ``qualname`` in ``source`` may not run; "" when it stays within reach.

    ``original_source``: the user's module; names of it the original function uses may be read."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"it does not parse: {exc.msg}"
    fn = find_function(tree, qualname)
    if fn is None:
        return f"{qualname} is missing"
    scope = _Scope(local=_bound_names(fn))
    if original_source is not None:
        try:
            tree_o = ast.parse(original_source)
        except SyntaxError:
            tree_o = None
        original = find_function(tree_o, qualname) if tree_o is not None else None
        if tree_o is not None and original is not None:
            scope.module_names = _names_used(original) - _bound_names(original)
            scope.imported = {
                a.asname or a.name.split(".")[0]
                for n in tree_o.body
                if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names
            }
            scope.original_chains = {c for c in _chains(original).values() if c.split(".")[0] in scope.imported}
    scope.module_names.add(fn.name)  # it may call itself (reading the name; writes to it are refused)
    scope.call_funcs = {id(n.func) for n in ast.walk(fn) if isinstance(n, ast.Call)}
    scope.chains = _chains(fn)
    scope.attribute_bases = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
    for node in ast.walk(fn):  # modules imported anywhere in it, before any use is checked
        if isinstance(node, ast.Import):
            scope.modules.update({a.asname or a.name: a.name for a in node.names if a.name in ALLOWED_MODULES})
    for node in ast.walk(fn):  # names bound by ``from allowed import x`` are plain values, checked below
        if isinstance(node, ast.ImportFrom) and node.module in ALLOWED_MODULES:
            scope.from_imports |= {a.asname or a.name for a in node.names}
    scope.local |= scope.from_imports
    scope.tainted = _tainted(fn, scope)
    for node in ast.walk(fn):
        why = _check_node(node, fn, scope)
        if why:
            return why
    return ""


@dataclass
class _Scope:
    local: set[str]
    modules: dict[str, str] = field(default_factory=dict)  # local name -> allowed module it is bound to
    module_names: set[str] = field(default_factory=set)  # the user's module names the original reads
    imported: set[str] = field(default_factory=set)  # of those, the ones the user's module imported
    original_chains: set[str] = field(default_factory=set)  # the whole dotted chains the original uses on them
    chains: dict[int, str] = field(default_factory=dict)  # id of each outermost Attribute -> its dotted chain
    tainted: set[str] = field(default_factory=set)  # locals that may hold a module-level object
    from_imports: set[str] = field(default_factory=set)  # names bound by ``from <allowed> import x``
    attribute_bases: set[int] = field(default_factory=set)  # ids of the expressions an attribute is taken of
    call_funcs: set[int] = field(default_factory=set)  # ids of the Name nodes that are called


def _check_node(node: ast.AST, fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope) -> str:
    local, modules = scope.local, scope.modules
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return f"it keeps state between calls ({type(node).__name__.lower()} {', '.join(node.names)})"
    if isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef, ast.Await, ast.Yield, ast.YieldFrom)) and node is not fn:
        return f"it uses {type(node).__name__}"
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.name not in ALLOWED_MODULES:
                return f"it imports {a.name} (model variants may import only {', '.join(ALLOWED_MODULES)})"
            modules[a.asname or a.name] = a.name
        return ""
    if isinstance(node, ast.ImportFrom):
        if node.level or node.module not in ALLOWED_MODULES:
            return f"it imports from {'.' * node.level}{node.module or ''}"
        for a in node.names:
            why = _module_attribute(node.module, a.name)
            if why:
                return why
        return ""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        name = node.id
        if name in ("getattr", "hasattr") and id(node) not in scope.call_funcs:
            return f"it passes {name} around (only direct calls with a literal name are allowed)"
        if name == "type" and id(node) not in scope.call_funcs:
            return "it passes type around (only type(x) is allowed)"
        if (name in modules or name in scope.imported) and name not in local and id(node) not in scope.attribute_bases:
            if id(node) not in scope.call_funcs:  # a module (or what your module imported) as a value
                return f"it passes the module-level name {name} around (only {name}.attribute is allowed)"
        if name in modules or name in local or name in scope.module_names or name in _BUILTINS:
            return ""
        return f"it uses {name}"
    if isinstance(node, ast.Attribute):
        if not _public(node.attr):
            return f"it reaches into the interpreter (.{node.attr})"
        base = node.value
        if isinstance(base, ast.Name) and base.id in modules and base.id not in local:
            return _module_attribute(modules[base.id], node.attr)
        chain = scope.chains.get(id(node))
        if chain is not None and chain.split(".")[0] in scope.imported and chain.split(".")[0] not in local:
            if chain not in scope.original_chains:
                return f"it uses {chain}, which the original does not"
        if node.attr in ("format", "format_map") and not (
            id(node) in scope.call_funcs and isinstance(base, ast.Constant) and isinstance(base.value, str)
        ):
            return f"it uses .{node.attr} other than called on a string literal (format fields can read attributes)"
        if isinstance(node.ctx, (ast.Store, ast.Del)) and _global_base(node, scope):
            return f"it keeps state between calls (writes {ast.unparse(node)})"
        return ""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) and _global_base(node, scope):
        return f"it keeps state between calls (writes {ast.unparse(node)})"
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("getattr", "hasattr"):
            name = node.args[1] if len(node.args) >= 2 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and _public(name.value)):
                return f"it calls {f.id}() without a literal public attribute name"
            target = node.args[0]
            if isinstance(target, ast.Name) and target.id in modules:
                return _module_attribute(modules[target.id], name.value)
            if isinstance(target, ast.Name) and target.id in scope.imported and target.id not in local:
                if f"{target.id}.{name.value}" not in scope.original_chains:
                    return f"it uses {target.id}.{name.value}, which the original does not"
            if name.value in ("format", "format_map"):
                return f"it calls {f.id}() for .{name.value} (format fields can read attributes)"
        if isinstance(f, ast.Name) and f.id == "type" and len(node.args) + len(node.keywords) != 1:
            return "it creates a class with type(name, bases, namespace)"
        if isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == "type":
            return "it calls what type(...) returns (a class, or type itself)"
        if isinstance(f, ast.Attribute) and f.attr in _MUTATING and _global_base(f, scope):
            return f"it keeps state between calls ({ast.unparse(f)}())"
        if isinstance(f, ast.Attribute) and f.attr in ("format", "format_map"):
            if not (isinstance(f.value, ast.Constant) and isinstance(f.value.value, str)):
                return "it formats a string that is not a literal (format fields can read attributes)"
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _FORMAT_FIELD.search(node.value):
        return f"it uses a format string with attribute or index fields ({node.value[:40]!r})"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _DUNDER_NAME.match(node.value):
        return f"it names an interpreter hook ({node.value!r})"
    if isinstance(node, ast.arg) and (not _public(node.arg) and node.arg.startswith("__")):
        return f"it names a parameter {node.arg!r}"
    if isinstance(node, ast.arg) and node.annotation is not None and node not in _own_args(fn):
        return "it annotates an inner function's parameter (annotations can be evaluated as code)"
    if isinstance(node, (ast.FunctionDef, ast.Lambda)) and node is not fn and getattr(node, "returns", None):
        return "it annotates an inner function's return (annotations can be evaluated as code)"
    return ""


def _global_base(node: ast.AST, scope: _Scope) -> bool:
    """Is the object written through something other than a name the function bound to an object of its
    own (a parameter, or a local not assigned from a module-level name)?"""
    base = node.value if isinstance(node, (ast.Attribute, ast.Subscript)) else node
    while isinstance(base, (ast.Attribute, ast.Subscript)):
        base = base.value
    if not isinstance(base, ast.Name):
        return True  # written through an expression ([f][0].x = ...): refused
    return base.id not in scope.local or base.id in scope.tainted


def _chains(fn: ast.AST) -> dict[int, str]:
    """id of every outermost attribute chain rooted at a name (``a.b.c``, not its inner ``a.b``) -> the chain."""
    inner = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
    out: dict[int, str] = {}
    for n in ast.walk(fn):
        if isinstance(n, ast.Attribute) and id(n) not in inner:
            parts, base = [n.attr], n.value
            while isinstance(base, ast.Attribute):
                parts.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name):
                out[id(n)] = ".".join([base.id, *reversed(parts)])
    return out


def _tainted(fn: ast.AST, scope: _Scope) -> set[str]:
    """Locals assigned from an expression that mentions a module-level name other than as a call
    (``f = total``, ``t = TABLE``, ``p = os.path``): writing through them would keep state."""
    module_level = scope.module_names | scope.imported | set(scope.modules) | scope.from_imports

    def mentions(expr: ast.AST) -> bool:
        return any(
            isinstance(n, ast.Name) and n.id in module_level and id(n) not in scope.call_funcs for n in ast.walk(expr)
        )

    out: set[str] = set()
    while True:  # to a fixed point: a local assigned from a tainted local is tainted too
        before = len(out)
        out |= _tainted_once(fn, mentions)
        module_level |= out
        if len(out) == before:
            return out


def _tainted_once(fn: ast.AST, mentions: Callable[[ast.AST], bool]) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(fn):
        targets: list[ast.AST] = []
        value: ast.AST | None = None
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, (ast.For, ast.comprehension)):
            targets, value = [node.target], node.iter
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets, value = [node.optional_vars], node.context_expr
        if value is not None and mentions(value):
            out |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def _own_args(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    """The function's own parameters: their annotations are the original's (parse_proposal keeps them)."""
    a = fn.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x is not None)]
