"""Load the function under test, in the sandbox: the original, or a variant of it.

Standalone (no workspace): the module source runs in a fresh namespace. From a workspace: the original
is the real module imported from the workspace, and a variant's function (with the imports its rewrite
added, the module-level constants it introduced and the helpers it rewrote) is defined in a copy of that
module's namespace (``in_place``: in the module itself, so the project's own tests call it), so both see
the very same classes and helpers and captured inputs (pickles the parent never loads) resolve against
them.
"""

from __future__ import annotations

import ast
import importlib
import pickle
from typing import Any


def resolve(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def find(tree: ast.Module, parts: list[str]) -> ast.AST:
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next(
            n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part
        )
        body = getattr(node, "body", [])
    assert node is not None
    return node


def _needed(n: ast.stmt, ns: dict[str, Any], original: set[str] | None) -> bool:
    """A top-level statement of the variant that its function needs: an import, or a constant or def that
    a rule added (a pattern compiled at import, the function kept under a new name behind a lookup table):
    a name the module does not have now and the original source never binds at its top level (a name the
    module's own code bound and deleted, ``@register def _hook(): …; del _hook``, is not run again; nor
    is anything when the original source cannot be read), in source order. Only rule rewrites add such
    statements: a model's proposal replaces the def alone (optimizer/proposals.py), and optimizer/reach.py
    refuses a model-written def that reads a module name the original does not."""
    if isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom) and n.module != "__future__"):
        return True
    if isinstance(n, ast.FunctionDef):
        name = n.name
    elif isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
        name = n.targets[0].id
    else:
        return False
    return name not in ns and original is not None and name not in original


def _top_level_names(tree: ast.Module) -> set[str]:
    """Every name the module's top-level statements bind, and the names stored inside them too (more than
    the top level: a rule's fresh names avoid every name in the source anyway)."""
    names: set[str] = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        names |= {t.id for t in ast.walk(n) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
    return names


def _single_defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """The module's top-level plain defs without decorators whose name nothing else at the top level binds
    (an ``@overload`` stack, a def redefined or reassigned later, is never one)."""
    count: dict[str, int] = {}
    defs: dict[str, ast.FunctionDef] = {}
    for n in tree.body:
        names = [t.id for t in ast.walk(n) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)]
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [n.name]
            if isinstance(n, ast.FunctionDef) and not n.decorator_list:
                defs[n.name] = n
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name.split(".")[0] for a in n.names]
        for name in names:
            count[name] = count.get(name, 0) + 1
    return {name: d for name, d in defs.items() if count[name] == 1}


def _original_tree(original: str | None, module: Any) -> ast.Module | None:
    """The module's source the variant was made from (``original``, else the module's file), parsed."""
    if original is None:
        try:
            with open(module.__file__, encoding="utf-8") as f:
                original = f.read()
        except (OSError, TypeError, ValueError):
            return None
    try:
        return ast.parse(original)
    except SyntaxError:
        return None


def _rewritten_helpers(tree: ast.Module, own_tree: ast.Module | None, target: str) -> list[ast.stmt]:
    """The variant's top-level defs, other than the target's, that differ from the original's: a rule's
    rewrite of a helper the function calls (optimizer/rules/helpers.py). Only plain, undecorated defs
    that are the one binding of their name in both. Model proposals replace the function's def alone
    (optimizer/proposals.py), so for them this is empty."""
    mine = {name: d for name, d in _single_defs(tree).items() if name != target}
    if not mine or own_tree is None:
        return []
    own = _single_defs(own_tree)
    return [d for name, d in mine.items() if name in own and ast.dump(own[name]) != ast.dump(d)]


def variant_in(module: Any, parts: list[str], source: str, in_place: bool = False, original: str | None = None) -> Any:
    """The variant's function, defined over the module's namespace (``original``: the module's source the
    variant was made from, else the module's file). ``in_place``: the module's own namespace, so the
    project's other code (its tests) sees the variant and the helpers it rewrote."""
    tree = ast.parse(source)
    own_tree = _original_tree(original, module)
    own_names = _top_level_names(own_tree) if own_tree is not None else None
    helpers = _rewritten_helpers(tree, own_tree, parts[0])
    if in_place and helpers:  # the module's other callers get them too, reading the module's own globals
        needed = [n for n in tree.body if _needed(n, vars(module), own_names)]
        exec(compile(ast.Module(body=[*needed, *helpers], type_ignores=[]), "<variant>", "exec"), vars(module))
        helpers = []
    ns = vars(module) if in_place and len(parts) == 1 else dict(vars(module))
    needed = [n for n in tree.body if _needed(n, ns, own_names)]
    code = ast.Module(body=[*needed, *helpers, find(tree, parts)], type_ignores=[])  # type: ignore[list-item]
    exec(compile(code, "<variant>", "exec"), ns)
    fn = ns[parts[-1]]
    if in_place and len(parts) > 1:
        setattr(resolve(module, parts[:-1]), parts[-1], fn)
    return fn


def load_function(p: dict[str, Any], source: str | None) -> Any:
    """``source`` None: the original; else the variant in ``source`` (a whole module)."""
    parts = p["name"].split(".")
    if p.get("workspace"):  # on sys.path already (boot)
        module = importlib.import_module(p["module"])
        return (
            resolve(module, parts) if source is None else variant_in(module, parts, source, original=p.get("original"))
        )
    ns: dict[str, Any] = {"__name__": "__slipstream_target__"}
    exec(compile(p["original"] if source is None else source, "<module>", "exec"), ns)
    return resolve(ns, parts)


def load_inputs(p: dict[str, Any]) -> list[tuple[tuple, dict]]:
    return [pickle.loads(x) if isinstance(x, bytes) else x for x in p["inputs"]]
