"""Is a function a function of its arguments? The optimizer's one vocabulary of impurity, and its check.

One table (``MODULES``, ``BUILTINS``, ``METHODS``) says, for every call or name the optimizer knows to be
impure, what it is, and of which kind:

- ``reads``: its result depends on something besides the arguments (time, randomness, the environment,
  the file system, the network, other processes, the interpreter's state). ``impurity`` refuses such a
  function for the pipeline, with the reason; the pipeline also runs the original twice on the same
  input, and the two must agree.
- ``does``: it acts besides computing a result (prints, writes into objects or attributes, hands out a
  one-shot iterator or a live namespace). Verification observes those effects on the real inputs (what
  was printed, the arguments afterwards), so the pipeline does not refuse them, but a cache would skip
  or share them: ``why_impure(..., effects=True)`` reports them too, and the caching rule uses it.

``MODULES`` keys are modules or dotted names in them (``os.environ``); the longest key that prefixes what a
name resolves to (through the module's imports and the function's own) decides, and ``PURE`` lists what in
an impure module only computes (``os.path.join``, ``sys.maxsize``, ``datetime.timedelta``). A generator
built with a seed (``SEEDED``: ``random.Random(42)``) is a function of that seed; one without is randomness.

``impurity`` also refuses a function that changes state outliving the call (``module_state``): a module
global rebound (``global x; x = ...``) or mutated (``CACHE[k] = v``, ``LOG.append(x)``, ``heappush(HEAP, x)``,
also through a local bound to it: ``d = CACHE; d[k] = v``), an attribute of a module-level object written
(``config.debug = True``, ``Shop.count += 1``, ``type(self).n = 0``), a variable of an enclosing function
changed (a closure's ``nonlocal`` or its container). Reading module constants and changing the function's
own objects (locals, and arguments: verification compares them afterwards) stay pure.

The check is static and by name; what it cannot see (``getattr`` tricks, a helper that does I/O, an element
of a module-level list reached through a copy of the list) is left to the dynamic check (two runs of the
original must agree) and to the sandbox.
"""

from __future__ import annotations

import ast
import builtins
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
    "numpy.random": _reads("randomness"),
    "time": _reads("the clock"),
    "datetime": _reads("the clock"),
    "os": _reads("the operating system"),
    "os.environ": _reads("the environment"),
    "os.environb": _reads("the environment"),
    "os.getenv": _reads("the environment"),
    "os.getenvb": _reads("the environment"),
    "sys": _reads("the interpreter's state"),
    "shutil": _reads("the file system"),
    "pathlib": _reads("the file system"),
    "glob": _reads("the file system"),
    "tempfile": _reads("the file system"),
    "io.open": _reads("the file system"),
    "io.open_code": _reads("the file system"),
    "io.FileIO": _reads("the file system"),
    "codecs.open": _reads("the file system"),
    "fileinput": _reads("the file system"),
    "linecache": _reads("the file system"),
    "shelve": _reads("the file system"),
    "dbm": _reads("the file system"),
    "socket": _reads("the network"),
    # Only what connects: urllib.parse and http.HTTPStatus compute on their arguments (mdurl's encode, which
    # calls urllib.parse.quote, was refused as "depends on the network": bench/optimize_suite/real).
    "urllib.request": _reads("the network"),
    "urllib.robotparser": _reads("the network"),
    "http.client": _reads("the network"),
    "http.server": _reads("the network"),
    "http.cookiejar": _reads("the file system"),
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

# What in an impure module only computes on its arguments, or is a constant (a prefix covers its attributes).
PURE = frozenset(
    {
        *(f"os.path.{n}" for n in ("join", "basename", "dirname", "splitext", "split", "normpath", "normcase")),
        *(f"os.path.{n}" for n in ("sep", "altsep", "extsep", "pathsep", "curdir", "pardir", "devnull", "isabs")),
        *(f"os.path.{n}" for n in ("splitdrive", "commonprefix")),
        *(f"os.{n}" for n in ("sep", "altsep", "extsep", "pathsep", "linesep", "curdir", "pardir", "devnull")),
        *(f"os.{n}" for n in ("fspath", "fsencode", "fsdecode")),  # path-like to str/bytes (posixpath.normpath)
        *(f"sys.{n}" for n in ("maxsize", "float_info", "int_info", "byteorder", "version_info", "hexversion")),
        *(f"datetime.{n}" for n in ("timedelta", "timezone", "date", "datetime", "time", "MINYEAR", "MAXYEAR")),
    }
)
# Generators that are a function of the seed they are built with (with no argument: of the clock).
SEEDED = frozenset({"random.Random", "numpy.random.default_rng", "numpy.random.RandomState"})
# Functions that change their first argument in place: module state when that is a module-level name.
IN_PLACE = frozenset(
    {
        *(f"heapq.{n}" for n in ("heappush", "heappop", "heapify", "heapreplace", "heappushpop")),
        *(f"bisect.{n}" for n in ("insort", "insort_left", "insort_right")),
    }
)
# Calls whose result may be (part of) the object they are called on or given: a local bound to one is that
# object (``d = CACHE.setdefault(k, [])``, ``for row in enumerate(GRID)``).
_VIEW_METHODS = frozenset({"get", "setdefault", "values", "items", "keys", "__getitem__"})
_PASS_THROUGH = frozenset({"enumerate", "zip", "reversed", "iter", "next", "sorted", "filter", "list", "tuple"})


def impurity(source: str, qualname: str, *, module_state: bool = True) -> str:
    """Why the function's results may not depend on its arguments alone, or why a call changes state that
    outlives it (``module_state``); "" when nothing says so."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"the file does not parse: {exc.msg}"
    node = find_function(tree, qualname)
    if node is None:
        return ""
    aliases = import_aliases(tree)
    why = why_impure(node, aliases, effects=False)
    if not why and module_state:
        why = state_writes(node, tree, aliases)
    return why


def _resolve(name: str, aliases: Mapping[str, str] | None, inner: Mapping[str, str]) -> str:
    """The module (or ``module.attr``) a name stands for; "" when none. With no module in sight (``aliases``
    None) a name is taken for the module it spells."""
    if name in inner:
        return inner[name]
    return name if aliases is None else aliases.get(name, "")


def _chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None when it is not rooted at a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _under(dotted: str, names: frozenset[str] | Mapping[str, object]) -> str | None:
    """The longest of ``names`` that is ``dotted`` or a dotted prefix of it."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in names:
            return key
    return None


def listed_pure(dotted: str) -> bool:
    """Is ``dotted`` (``os.path.join``) one of ``PURE``'s names, or under one?"""
    return _under(dotted, PURE) is not None


def classify(dotted: str, call: ast.Call | None) -> tuple[Impure, str] | None:
    """The table's entry for a resolved name (``numpy.random.rand``), and a note; None when it is pure."""
    if _under(dotted, PURE) is not None:
        return None
    key = _under(dotted, MODULES)
    if key is None:
        return None
    if dotted in SEEDED and call is not None:
        if call.args or call.keywords:
            return None  # a function of its seed
        return MODULES[key], " without a seed"
    return MODULES[key], ""


def why_impure(fn: ast.AST, aliases: Mapping[str, str] | None, *, effects: bool) -> str:
    """The first impure thing ``fn`` does, by the table; "" when none.

    ``aliases``: the module's imports (``import_aliases``); None when the module is not in sight, and a
    name is then taken for the module it spells (``random.random()``). ``effects``: report ``does``
    entries and the effects no table names (``global``/``nonlocal``, ``yield``, writes into an object),
    not only ``reads`` ones."""
    inner = _inner_imports(fn)
    # Names the function binds itself (a local ``environ``) are not the module's imports of that name.
    local = _bound_in(fn) - set(inner) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else set()
    bases = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
    calls = {id(n.func): n for n in ast.walk(fn) if isinstance(n, ast.Call)}

    def found(entry: Impure | None, what: str) -> str:
        if entry is None or not (entry.reads or effects):
            return ""
        kind = "depends on" if entry.reads else "has effects a cache would skip or share:"
        return f"it {kind} {entry.what} ({what})"

    for n in ast.walk(fn):
        why = ""
        if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Load) and id(n) not in bases:
            call = calls.get(id(n))
            written = ast.unparse(n)
            if isinstance(n, ast.Name) and call is not None:
                why = found(BUILTINS.get(n.id), f"calls {written}()")
            chain = _chain(n)
            # A bare name is a module's only where imports say so (not a parameter that happens to be `time`).
            if not why and chain and (len(chain) > 1 or call is not None or aliases is not None):
                base = "" if chain[0] in local else _resolve(chain[0], aliases, inner)
                hit = classify(".".join([base, *chain[1:]]), call) if base else None
                if hit is not None:
                    entry, note = hit
                    why = found(entry, f"calls {written}(){note}" if call is not None else f"uses {written}")
            if not why and isinstance(n, ast.Attribute) and call is not None:
                why = found(METHODS.get(n.attr), f"calls .{n.attr}()")
        elif effects:
            why = _effect(n)
        if why:
            return why
    return ""


def _inner_imports(fn: ast.AST) -> dict[str, str]:
    """Names the function's own imports bind (``import random as r`` inside it) -> what they stand for."""
    out: dict[str, str] = {}
    for n in ast.walk(fn):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update(_import_bindings(n))
    return out


def _effect(node: ast.AST) -> str:
    """Effects of a statement or expression itself, whatever it calls."""
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return f"it keeps state between calls ({type(node).__name__.lower()} {', '.join(node.names)})"
    if isinstance(node, (ast.Yield, ast.YieldFrom)):
        return "it is a generator (one-shot results)"
    if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return f"it writes into an object ({ast.unparse(node)})"
    return ""


def _import_bindings(n: ast.Import | ast.ImportFrom) -> dict[str, str]:
    """What an import binds: ``import os.path`` binds ``os`` (the package), ``import os.path as p`` binds
    ``p`` to os.path, ``from os import environ`` binds ``environ`` to os.environ."""
    out: dict[str, str] = {}
    if isinstance(n, ast.Import):
        for a in n.names:
            top = a.name.split(".")[0]
            out[a.asname or top] = a.name if a.asname else top
    elif n.module and not n.level:
        for a in n.names:
            out[a.asname or a.name] = f"{n.module}.{a.name}"
    return out


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the module (or ``module.attr``) it was imported from, at module level."""
    out: dict[str, str] = {}
    for n in tree.body:
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update(_import_bindings(n))
    return out


# -- state that outlives a call ---------------------------------------------------------------------------
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_BUILTIN_NAMES = frozenset(dir(builtins))
_KINDS = {
    "module": "it changes module state",
    "outer": "it changes state an enclosing function keeps between calls",
    "class": "it changes class state",
}


def state_writes(fn: ast.FunctionDef | ast.AsyncFunctionDef, tree: ast.Module, aliases: Mapping[str, str]) -> str:
    """What ``fn`` changes that outlives the call (the module's docstring lists it); "" when nothing."""
    module = _bound_in(tree)
    parents = {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    enclosed, up = False, parents.get(id(fn))
    while up is not None:
        enclosed = enclosed or isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        up = parents.get(id(up))
    used = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    declared = {name for n in _walk_scope(fn) if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
    free = used - (_bound_in(fn) - declared) - module - _BUILTIN_NAMES
    # A free name of a def inside a def is the enclosing function's; elsewhere a module's (``import *``).
    state = {name: ("module", name) for name in module}
    state |= {name: ("outer" if enclosed else "module", name) for name in free}
    modules = {name for n in ast.walk(tree) if isinstance(n, ast.Import) for name in _import_bindings(n)}
    decorators = {ast.unparse(d) for d in fn.decorator_list}
    params = [*fn.args.posonlyargs, *fn.args.args]
    cls = params[0].arg if "classmethod" in decorators and params else None
    return _scope_writes(fn, state, modules, {**aliases, **_inner_imports(fn)}, cls)


def _walk_scope(scope: ast.AST):
    """The nodes of one scope, in source order: nested defs, lambdas and classes appear, their bodies do not."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        n = todo.pop(0)
        yield n
        if not isinstance(n, _SCOPES):
            todo[0:0] = list(ast.iter_child_nodes(n))


def _bound_in(scope: ast.AST) -> set[str]:
    """Every name one scope binds: parameters, assignments, loop and ``with`` targets, imports, defs, classes,
    ``except ... as``, match captures (``global``/``nonlocal`` names included: callers take those out)."""
    out: set[str] = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = scope.args
        out |= {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x is not None}
    for n in _walk_scope(scope):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, ast.Import):
            out |= {a.asname or a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            out |= {a.asname or a.name for a in n.names if a.name != "*"}
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
    return out


def _view(expr: ast.AST) -> str | None:
    """The name whose object ``expr`` is (or is part of): ``CACHE``, ``CACHE[k]``, ``cfg.table``,
    ``CACHE.setdefault(k, [])``; None for a new object (a call, a copy, arithmetic)."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.NamedExpr):
            expr = expr.value
        elif isinstance(expr, ast.Attribute) and expr.attr != "__class__":
            expr = expr.value
        elif isinstance(expr, ast.Subscript) and not isinstance(expr.slice, ast.Slice):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _VIEW_METHODS:
            expr = expr.func.value
        else:
            return None


def _target_names(target: ast.AST) -> list[str]:
    """The names an assignment target binds (``a``, ``a, (b, *c)``), not those it writes through (``a.x``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for t in target.elts for name in _target_names(t)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _root(node: ast.AST) -> ast.AST:
    """What a write goes through: the name at the bottom of ``a.b[c].get(k).d``; ``type(x)``, ``x.__class__``:
    a class."""
    while True:
        if isinstance(node, ast.Attribute) and node.attr == "__class__":
            return ast.Name("__class__")
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _VIEW_METHODS:
            node = node.func.value  # CACHE.get(k).append(x)
        else:
            break
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type":
        return ast.Name("__class__")
    return node


def _scope_writes(
    scope: ast.AST,
    outer: dict[str, tuple[str, str]],
    modules: set[str],
    aliases: Mapping[str, str],
    cls: str | None,
) -> str:
    """``outer``: the names visible here that hold state outliving a call -> (kind, the name it came from)."""
    nodes = list(_walk_scope(scope))
    declared_global = {name for n in nodes if isinstance(n, ast.Global) for name in n.names}
    declared_nonlocal = {name for n in nodes if isinstance(n, ast.Nonlocal) for name in n.names}
    stored = _bound_in(scope)
    own = stored - declared_global - declared_nonlocal
    state = {k: v for k, v in outer.items() if k not in own} | {g: ("module", g) for g in declared_global}
    if cls is not None:
        state[cls] = ("class", cls)
    changed = True
    while changed:  # locals bound to state are state: d = CACHE; for row in GRID; x = CACHE.get(k)
        changed = False
        for n in nodes:
            targets: list[ast.AST] = []
            src: str | None = None
            if isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and n.value is not None:
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                src = _view(n.value)
            elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
                targets, it = [n.target], n.iter
                if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in _PASS_THROUGH:
                    src = next((v for v in map(_view, it.args) if v in state), None)
                else:
                    src = _view(it)
            elif isinstance(n, ast.withitem) and n.optional_vars is not None:
                targets, src = [n.optional_vars], _view(n.context_expr)
            if src is None or src not in state:
                continue
            for t in targets:
                for name in _target_names(t):
                    if name not in state and name not in declared_global:
                        state[name] = (state[src][0], state[src][1])
                        changed = True

    def through(node: ast.AST, what: str) -> str:
        root = _root(node)
        if isinstance(root, ast.Name) and root.id == "__class__":
            return f"{_KINDS['class']} ({what})"
        if not isinstance(root, ast.Name) or root.id not in state:
            return ""
        kind, source = state[root.id]
        via = f"; {root.id} is {source}" if source != root.id else ""
        return f"{_KINDS[kind]} ({what}{via})"

    for n in nodes:
        why = ""
        if isinstance(n, ast.Global):
            rebound = [name for name in n.names if name in stored]
            if rebound:
                why = f"it rebinds the module global {rebound[0]} (global {rebound[0]})"
        elif isinstance(n, ast.Nonlocal):
            rebound = [name for name in n.names if name in stored and state.get(name, ("",))[0] == "outer"]
            if rebound:
                why = f"{_KINDS['outer']} (nonlocal {rebound[0]})"
        elif isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.ctx, (ast.Store, ast.Del)):
            why = through(n, f"{'deletes' if isinstance(n.ctx, ast.Del) else 'writes'} {ast.unparse(n)}")
        elif isinstance(n, ast.Call):
            why = _call_writes(n, through, modules, aliases)
        elif isinstance(n, _SCOPES):
            why = _scope_writes(n, state, modules, aliases, None)
        if why:
            return why
    return ""


def _call_writes(call: ast.Call, through, modules: set[str], aliases: Mapping[str, str]) -> str:
    """A call that changes an object in place: a mutator method, ``heappush(x, ...)``, ``setattr(x, ...)``."""
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr in MUTATORS:
        if not (isinstance(f.value, ast.Name) and f.value.id in modules):  # np.append(a, x) is a module's function
            return through(f.value, f"calls {ast.unparse(f)}()")
    chain = _chain(f)
    if chain and call.args:
        base = aliases.get(chain[0], "")
        dotted = ".".join([base, *chain[1:]]) if base else ""
        if dotted in IN_PLACE or (len(chain) == 1 and chain[0] in ("setattr", "delattr") and not base):
            return through(call.args[0], f"calls {ast.unparse(f)}({ast.unparse(call.args[0])}, ...)")
    return ""
