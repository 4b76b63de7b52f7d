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


def _needed(n: ast.stmt, ns: dict[str, Any]) -> bool:
    """A top-level statement of the variant that its function needs: an import, or a constant under a name
    the module does not have (a rule's prelude, e.g. a pattern compiled at import), in source order. Only
    rule rewrites add such constants: a model's proposal replaces the def alone (optimizer/proposals.py),
    and optimizer/reach.py refuses a model-written def that reads a module name the original does not."""
    if isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom) and n.module != "__future__"):
        return True
    return (
        isinstance(n, ast.Assign)
        and len(n.targets) == 1
        and isinstance(n.targets[0], ast.Name)
        and n.targets[0].id not in ns
    )


def _rewritten_helpers(tree: ast.Module, module: Any, target: str) -> list[ast.stmt]:
    """The variant's top-level defs, other than the target's, that differ from the module's own: a rule's
    rewrite of a helper the function calls (optimizer/rules/helpers.py). Model proposals replace the
    function's def alone (optimizer/proposals.py), so for them this is empty."""
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != target]
    if not defs:
        return []
    try:
        with open(module.__file__, encoding="utf-8") as f:
            own = {n.name: ast.dump(n) for n in ast.parse(f.read()).body if isinstance(n, ast.FunctionDef)}
    except (OSError, TypeError, SyntaxError, ValueError):
        return []
    return [n for n in defs if n.name in own and own[n.name] != ast.dump(n)]


def variant_in(module: Any, parts: list[str], source: str, in_place: bool = False) -> Any:
    tree = ast.parse(source)
    ns = vars(module) if in_place and len(parts) == 1 else dict(vars(module))
    needed = [n for n in tree.body if _needed(n, ns)]
    helpers = _rewritten_helpers(tree, module, parts[0])
    code = ast.Module(body=[*needed, *helpers, find(tree, parts)], type_ignores=[])  # type: ignore[list-item]
    exec(compile(code, "<variant>", "exec"), ns)
    fn = ns[parts[-1]]
    if in_place and len(parts) > 1:
        setattr(resolve(module, parts[:-1]), parts[-1], fn)
        for h in helpers:  # the project's other callers of the helper get the rewritten one too
            setattr(module, h.name, ns[h.name])  # type: ignore[attr-defined]
    return fn


def load_function(p: dict[str, Any], source: str | None) -> Any:
    """``source`` None: the original; else the variant in ``source`` (a whole module)."""
    parts = p["name"].split(".")
    if p.get("workspace"):  # on sys.path already (boot)
        module = importlib.import_module(p["module"])
        return resolve(module, parts) if source is None else variant_in(module, parts, source)
    ns: dict[str, Any] = {"__name__": "__slipstream_target__"}
    exec(compile(p["original"] if source is None else source, "<module>", "exec"), ns)
    return resolve(ns, parts)


def load_inputs(p: dict[str, Any]) -> list[tuple[tuple, dict]]:
    return [pickle.loads(x) if isinstance(x, bytes) else x for x in p["inputs"]]
