"""What a model-written function may reach: its arguments, plain computation, and your module's own names.

The OS keeps model-written code away from the machine (optimizer/sandbox.py). Inside its own process,
though, code that can reach the interpreter (frames, modules, descriptors, threads) can reach the
harness that calls it: answer the parent's timing requests itself, forge its own report, stash results
between calls. So before a model's proposal runs at all, this check refuses one that names:

- modules and builtins that expose the process or the interpreter (``sys``, ``os``, ``gc``,
  ``threading``, ``ctypes``, ``inspect``, ``importlib``, ``builtins``, ``signal``, ``io``, ``pickle``...,
  ``open``, ``exec``, ``eval``, ``compile``, ``__import__``, ``globals``, ``vars``, ``locals``,
  ``breakpoint``, ``memoryview``), imports outside a list of computational modules;
- dunder attributes (``__class__``, ``__globals__``, ``__dict__``, ``__subclasses__``...) and the frame,
  code and traceback attributes (``gi_frame``, ``f_globals``, ``tb_frame``, ``co_code``...);
- ``getattr``/``setattr``/``delattr``/``hasattr`` with a name that is not a string literal, and any
  string that names such an attribute (``operator.attrgetter("__globals__")``, ``"{0.__class__}"``);
- ``global``/``nonlocal`` statements (state kept between calls), and assignments to attributes of the
  function itself or of a module.

Rule rewrites are your own code transformed and are not subject to this. A refusal names what was
found; the model gets it as feedback.
"""

from __future__ import annotations

import ast
import re

ALLOWED_IMPORTS = {
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
    "dataclasses",
    "typing",
    "decimal",
    "fractions",
    "numbers",
    "copy",
    "enum",
    "textwrap",
    "unicodedata",
}
_REFUSED_NAMES = {
    "sys",
    "os",
    "posix",
    "nt",
    "gc",
    "inspect",
    "threading",
    "_thread",
    "ctypes",
    "_ctypes",
    "importlib",
    "builtins",
    "__builtins__",
    "signal",
    "io",
    "_io",
    "pickle",
    "marshal",
    "types",
    "weakref",
    "atexit",
    "faulthandler",
    "socket",
    "_socket",
    "subprocess",
    "_posixsubprocess",
    "multiprocessing",
    "pty",
    "fcntl",
    "mmap",
    "resource",
    "time",
    "tracemalloc",
    "open",
    "exec",
    "eval",
    "compile",
    "__import__",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "memoryview",
    "input",
}
_ATTR_PREFIXES = ("gi_", "f_", "tb_", "cr_", "ag_", "co_")
_ATTR_FUNCTIONS = {"getattr", "setattr", "delattr", "hasattr"}
_DUNDER = re.compile(r"__[A-Za-z]\w*__|\b(?:gi|f|tb|cr|ag|co)_[a-z]+")  # in strings: operator.attrgetter, format


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


def _refused_attribute(name: str) -> bool:
    return (name.startswith("__") and name.endswith("__")) or name.startswith(_ATTR_PREFIXES) or name in _REFUSED_NAMES


def out_of_reach(source: str, qualname: str) -> str:
    """Why the model's version of ``qualname`` in ``source`` may not run; "" when nothing is refused."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"it does not parse: {exc.msg}"
    fn = _find(tree, qualname.split("."))
    if fn is None:
        return f"{qualname} is missing"
    modules = {n.asname or n.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for n in n.names}
    for node in ast.walk(fn):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _imported(node):
                if name.split(".")[0] not in ALLOWED_IMPORTS:
                    return f"it imports {name} (model variants may import only {', '.join(sorted(ALLOWED_IMPORTS))})"
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            return f"it keeps state between calls ({type(node).__name__.lower()} {', '.join(node.names)})"
        elif isinstance(node, ast.Name) and node.id in _REFUSED_NAMES:
            return f"it uses {node.id}"
        elif isinstance(node, ast.Attribute):
            if _refused_attribute(node.attr):
                return f"it reaches into the interpreter (.{node.attr})"
            if isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Name):
                if node.value.id == fn.name or node.value.id in modules:
                    return f"it keeps state between calls ({node.value.id}.{node.attr} = ...)"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DUNDER.search(node.value):
            return f"it names interpreter internals ({_DUNDER.search(node.value).group(0)!r})"  # type: ignore[union-attr]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ATTR_FUNCTIONS:
            if (
                len(node.args) < 2
                or not isinstance(node.args[1], ast.Constant)
                or not isinstance(node.args[1].value, str)
            ):
                return f"it calls {node.func.id}() with a computed name"
            if _refused_attribute(node.args[1].value):
                return f"it reaches into the interpreter ({node.func.id}(..., {node.args[1].value!r}))"
    return ""


def _imported(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""] if node.level == 0 else ["." * node.level + (node.module or "")]
    return []
