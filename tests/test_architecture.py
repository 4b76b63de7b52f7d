"""The layout's rules, checked on the source: no import circles, server/ calls into the others and never the
reverse, heuristics/ stays pure, server/ modules stay small, and everything installs under slipstream.*."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

FOLDERS = ("server", "completion", "inference", "heuristics", "optimizer", "cli")


def modules() -> dict[str, Path]:
    """slipstream.<folder>.<module> -> file, for every module the wheel installs (not the sandbox's)."""
    out = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if "sandboxed" in parts:  # runs only in the sandbox, loaded by path under its own name
                continue
            if parts[-1] == "__init__":
                parts.pop()
            out["slipstream." + ".".join(parts)] = path
    return out


def imports_of(path: Path, name: str) -> set[str]:
    """The slipstream modules ``path`` imports at run time (not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    guarded = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("slipstream.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.startswith("slipstream."):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m in imports_of(path, name) if m in mods and m != name} for name, path in mods.items()}


def test_the_import_graph_has_no_circle():
    g = graph()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(g[node]):
            if seen.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for node in sorted(g):
        if node not in seen:
            visit(node, [node])


def test_server_calls_into_the_others_and_never_the_reverse():
    offenders = [
        f"{name} imports {dep}"
        for name, deps in graph().items()
        if not name.startswith(("slipstream.server", "slipstream.cli"))
        for dep in deps
        if dep.startswith(("slipstream.server", "slipstream.cli"))
    ]
    assert not offenders, offenders


def test_heuristics_are_pure():
    impure = {"os", "pathlib", "shutil", "sqlite3", "diskcache", "socket", "subprocess", "threading", "asyncio"}
    found = []
    for name, path in modules().items():
        if not name.startswith("slipstream.heuristics"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{name} imports {n}" for n in names if n.split(".")[0] in impure]
    assert not found, found


def test_no_module_in_server_is_a_god_module():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "server").glob("*.py")}
    assert max(sizes.values()) <= 400, sizes


def test_the_wheel_installs_only_the_slipstream_namespace():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["setuptools"]["packages"]
    assert packages and all(p.startswith("slipstream.") for p in packages), packages
    dirs = project["tool"]["setuptools"]["package-dir"]
    for package in packages:  # every package maps to a folder of this repository, and every folder is installed
        top = ".".join(package.split(".")[:2])
        assert top in dirs and (ROOT / dirs[top]).is_dir(), package
    for folder in FOLDERS:
        assert f"slipstream.{folder}" in packages, folder
        for sub in (ROOT / folder).iterdir():
            if (sub / "__init__.py").is_file():
                assert f"slipstream.{folder}.{sub.name}" in packages, f"{sub} is not installed"
