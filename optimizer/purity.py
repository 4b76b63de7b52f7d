"""Is a function a function of its arguments? The optimizer's one vocabulary of impure calls, and its check.

One table (``MODULES``, ``BUILTINS``, ``METHODS``) says, for every call the optimizer knows to be impure,
what it is, and of which kind:

- ``reads``: its result depends on something besides the arguments (time, randomness, the file system,
  the network, other processes, the interpreter's state). ``impurity`` refuses such a function for the
  pipeline, with the reason; the pipeline also runs the original twice on the same input, and the two
  must agree.
- ``does``: it acts besides computing a result (prints, writes into objects or attributes, hands out a
  one-shot iterator or a live namespace). Verification observes those effects on the real inputs (what
  was printed, the arguments afterwards), so the pipeline does not refuse them, but a cache would skip
  or share them: ``why_impure(..., effects=True)`` reports them too, and the caching rule uses it.

The check is static and by name; calls it cannot see (``getattr`` tricks, a helper that does I/O) are
left to the dynamic check and to the sandbox.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from slipstream.optimizer.functions import find_function


@dataclass(frozen=True)
class Impure:
    what: str  # "randomness", "output": what the result depends on, or what the call does
    reads: bool  # True: the result depends on it; False: an effect that verification observes


def _reads(what: str) -> Impure:
    return Impure(what, reads=True)


def _does(what: str) -> Impure:
    return Impure(what, reads=False)


MODULES: dict[str, Impure] = {
    "random": _reads("randomness"),
    "secrets": _reads("randomness"),
    "uuid": _reads("randomness"),
    "time": _reads("the clock"),
    "datetime": _reads("the clock"),
    "os": _reads("the operating system"),
    "sys": _reads("the interpreter's state"),
    "shutil": _reads("the file system"),
    "pathlib": _reads("the file system"),
    "glob": _reads("the file system"),
    "tempfile": _reads("the file system"),
    "socket": _reads("the network"),
    "urllib": _reads("the network"),
    "http": _reads("the network"),
    "requests": _reads("the network"),
    "subprocess": _reads("other processes"),
    "sqlite3": _reads("a database"),
    # Computation, but its iterators are one-shot (and ``count``/``cycle`` stateful): a cached call
    # would hand out the same, spent, iterator.
    "itertools": _does("one-shot iterators"),
}
BUILTINS: dict[str, Impure] = {
    "open": _reads("the file system"),
    "input": _reads("user input"),
    "exec": _reads("dynamic code"),
    "eval": _reads("dynamic code"),
    "globals": _reads("module state"),
    "print": _does("output"),
    "setattr": _does("attribute writes"),
    "delattr": _does("attribute writes"),
    "vars": _does("a live namespace"),
}
# Methods that change the object they are called on (also how the rules tell a name may be mutated).
MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "clear",
        "update",
        "add",
        "discard",
        "setdefault",
        "sort",
        "reverse",
        "popitem",
        "write",
        "appendleft",
        "popleft",
        "extendleft",
        "rotate",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)
METHODS: dict[str, Impure] = {
    "read_text": _reads("the file system"),
    "write_text": _reads("the file system"),
    "read_bytes": _reads("the file system"),
    "write_bytes": _reads("the file system"),
    "now": _reads("the clock"),
    "today": _reads("the clock"),
    "utcnow": _reads("the clock"),
    **{name: _does("in-place changes") for name in MUTATORS},
}

# Calls into an impure module that only compute on their arguments.
_PURE = {f"os.path.{n}" for n in ("join", "basename", "dirname", "splitext", "split", "normpath", "normcase")}


def impurity(source: str, qualname: str) -> str:
    """Why the function's results may not depend on its arguments alone; "" when nothing says so."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"the file does not parse: {exc.msg}"
    node = find_function(tree, qualname)
    if node is None:
        return ""
    return why_impure(node, import_aliases(tree), effects=False)


def why_impure(fn: ast.AST, aliases: Mapping[str, str] | None, *, effects: bool) -> str:
    """The first impure thing ``fn`` does, by the table; "" when none.

    ``aliases``: the module's imports (``import_aliases``); None when the module is not in sight, and a
    name is then taken for the module it spells (``random.random()``). ``effects``: report ``does``
    entries and the effects no table names (``global``/``nonlocal``, ``yield``, writes into an object),
    not only ``reads`` ones."""

    def origin(name: str) -> str:
        return name if aliases is None else aliases.get(name, "")

    def found(entry: Impure | None, called: str) -> str:
        if entry is None or not (entry.reads or effects):
            return ""
        kind = "depends on" if entry.reads else "has effects a cache would skip or share:"
        return f"it {kind} {entry.what} ({called})"

    for n in ast.walk(fn):
        why = ""
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
            why = next(filter(None, (found(MODULES.get(name.split(".")[0]), f"imports {name}") for name in names)), "")
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            name = n.func.id
            called = origin(name)
            why = found(BUILTINS.get(name), f"calls {name}()") or found(
                MODULES.get(called.split(".")[0]), f"calls {called}()"
            )
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            f, root = n.func, n.func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and ast.unparse(f) not in _PURE:
                why = found(MODULES.get(origin(root.id).split(".")[0]), f"calls {root.id}.{f.attr}()")
            why = why or found(METHODS.get(f.attr), f"calls .{f.attr}()")
        elif effects:
            why = _effect(n)
        if why:
            return why
    return ""


def _effect(node: ast.AST) -> str:
    """Effects of a statement or expression itself, whatever it calls."""
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return f"it keeps state between calls ({type(node).__name__.lower()} {', '.join(node.names)})"
    if isinstance(node, (ast.Yield, ast.YieldFrom)):
        return "it is a generator (one-shot results)"
    if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return f"it writes into an object ({ast.unparse(node)})"
    return ""


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the module (or ``module.attr``) it was imported from, at module level."""
    out: dict[str, str] = {}
    for n in tree.body:
        if isinstance(n, ast.Import):
            for a in n.names:
                out[a.asname or a.name.split(".")[0]] = a.name
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            for a in n.names:
                out[a.asname or a.name] = f"{n.module}.{a.name}"
    return out
