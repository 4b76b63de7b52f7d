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
from dataclasses import dataclass, field

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
_REFLECTIVE = {"attrgetter", "methodcaller", "Formatter", "getcontext", "setcontext", "localcontext"}
_BUILTINS = {
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "id", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "print", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "zip", "getattr",
    "hasattr", "True", "False", "None", "NotImplemented", "Ellipsis",
}  # fmt: skip
_BUILTINS |= {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
_MUTATING = {
    "append", "extend", "insert", "update", "setdefault", "add", "pop", "popitem", "clear", "remove",
    "discard", "sort", "reverse", "appendleft", "extendleft", "popleft", "rotate", "difference_update",
    "intersection_update", "symmetric_difference_update", "cache_clear",
}  # fmt: skip
_INTERNALS = re.compile(r"^(?:gi|f|tb|cr|ag|co)_[a-z]+$")
_FORMAT_FIELD = re.compile(r"\{[^{}]*[.\[][^{}]*\}")


def _find(tree: ast.Module, parts: list[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next(
            (
                n
                for n in body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body  # type: ignore[attr-defined]
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


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
    fn = _find(tree, qualname.split("."))
    if fn is None:
        return f"{qualname} is missing"
    scope = _Scope(local=_bound_names(fn))
    if original_source is not None:
        try:
            tree_o = ast.parse(original_source)
        except SyntaxError:
            tree_o = None
        original = _find(tree_o, qualname.split(".")) if tree_o is not None else None
        if tree_o is not None and original is not None:
            scope.module_names = _names_used(original) - _bound_names(original)
            scope.imported = {
                a.asname or a.name.split(".")[0]
                for n in tree_o.body
                if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names
            }
            for n in ast.walk(original):
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                    scope.original_attrs.add((n.value.id, n.attr))
    scope.module_names.add(fn.name)  # it may call itself (reading the name; writes to it are refused)
    scope.call_funcs = {id(n.func) for n in ast.walk(fn) if isinstance(n, ast.Call)}
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
    original_attrs: set[tuple[str, str]] = field(default_factory=set)  # name.attr pairs the original uses
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
        if name in modules or name in local or name in scope.module_names or name in _BUILTINS:
            return ""
        return f"it uses {name}"
    if isinstance(node, ast.Attribute):
        if not _public(node.attr):
            return f"it reaches into the interpreter (.{node.attr})"
        base = node.value
        if isinstance(base, ast.Name) and base.id in modules and base.id not in local:
            return _module_attribute(modules[base.id], node.attr)
        if isinstance(base, ast.Name) and base.id in scope.imported and base.id not in local:
            if (base.id, node.attr) not in scope.original_attrs:
                return f"it uses {base.id}.{node.attr}, which the original does not"
        if isinstance(node.ctx, (ast.Store, ast.Del)) and _global_base(node, local):
            return f"it keeps state between calls (writes {ast.unparse(node)})"
        return ""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) and _global_base(node, local):
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
                if (target.id, name.value) not in scope.original_attrs:
                    return f"it uses {target.id}.{name.value}, which the original does not"
        if isinstance(f, ast.Attribute) and f.attr in _MUTATING and _global_base(f, local):
            return f"it keeps state between calls ({ast.unparse(f)}())"
        if isinstance(f, ast.Attribute) and f.attr in ("format", "format_map"):
            if not (isinstance(f.value, ast.Constant) and isinstance(f.value.value, str)):
                return "it formats a string that is not a literal (format fields can read attributes)"
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _FORMAT_FIELD.search(node.value):
        return f"it uses a format string with attribute or index fields ({node.value[:40]!r})"
    return ""


def _global_base(node: ast.AST, local: set[str]) -> bool:
    """Is the object written through a name the function did not bind itself (a module global)?"""
    base = node.value if isinstance(node, (ast.Attribute, ast.Subscript)) else node
    while isinstance(base, (ast.Attribute, ast.Subscript)):
        base = base.value
    return isinstance(base, ast.Name) and base.id not in local
