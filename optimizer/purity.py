"""Is a function a function of its arguments? Refuse those whose results depend on time, randomness or I/O.

Static: calls into the clock, random sources, the file system, the network or the process. Dynamic (in
the pipeline): the original run twice on the same input must agree. Either failing refuses, with the reason.
"""

from __future__ import annotations

import ast

_MODULES = {
    "random": "randomness",
    "secrets": "randomness",
    "uuid": "randomness",
    "time": "the clock",
    "datetime": "the clock",
    "os": "the operating system",
    "shutil": "the file system",
    "pathlib": "the file system",
    "glob": "the file system",
    "tempfile": "the file system",
    "socket": "the network",
    "urllib": "the network",
    "http": "the network",
    "requests": "the network",
    "subprocess": "other processes",
    "sqlite3": "a database",
}
_BUILTINS = {"open": "the file system", "input": "user input", "exec": "dynamic code", "eval": "dynamic code"}
_METHODS = {
    "read_text": "the file system",
    "write_text": "the file system",
    "read_bytes": "the file system",
    "write_bytes": "the file system",
    "now": "the clock",
    "today": "the clock",
    "utcnow": "the clock",
}

_PURE = {f"os.path.{n}" for n in ("join", "basename", "dirname", "splitext", "split", "normpath", "normcase")}


def impurity(source: str, qualname: str) -> str:
    """Why the function's results may not depend on its arguments alone; "" when nothing says so."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"the file does not parse: {exc.msg}"
    node = _find(tree, qualname.split("."))
    if node is None:
        return ""
    aliases = _import_aliases(tree)
    for n in ast.walk(node):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
            for name in names:
                kind = _MODULES.get(name.split(".")[0])
                if kind:
                    return f"it depends on {kind} (imports {name})"
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        if isinstance(f, ast.Name):
            if f.id in _BUILTINS:
                return f"it depends on {_BUILTINS[f.id]} (calls {f.id}())"
            origin = aliases.get(f.id, "")
            kind = _MODULES.get(origin.split(".")[0])
            if kind:
                return f"it depends on {kind} (calls {origin}())"
        elif isinstance(f, ast.Attribute):
            root = f.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name):
                origin = aliases.get(root.id, "")
                kind = _MODULES.get(origin.split(".")[0])
                if kind and ast.unparse(f) not in _PURE:
                    return f"it depends on {kind} (calls {root.id}.{f.attr}())"
            if f.attr in _METHODS:
                return f"it depends on {_METHODS[f.attr]} (calls .{f.attr}())"
    return ""


def _import_aliases(tree: ast.Module) -> dict[str, str]:
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


def _find(tree: ast.Module, parts: list[str]) -> ast.AST | None:
    body, node = tree.body, None
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
        body = node.body
    return node
