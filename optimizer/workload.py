"""Which program exercises a function: the user's setting, or the tests that import its module.

A setting is a pytest node id or path (``tests/test_x.py::test_y``), a script (``bench.py``), or a
module (``-m package.tool``). Empty: every test file in the workspace that imports the function's module,
or the whole test suite when none does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from slipstream.optimizer.capture import Workload

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".tox", ".mypy_cache"}


def module_name(workspace: str, path: str) -> str:
    rel = Path(path).resolve().relative_to(Path(workspace).resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_workload(text: str, workspace: str, path: str) -> Workload:
    text = text.strip()
    if not text:
        return default_workload(workspace, path)
    if text.startswith("-m "):
        return Workload("module", text[3:].strip())
    target = text if os.path.isabs(text.split("::")[0]) else os.path.join(workspace, text)
    name = os.path.basename(text.split("::")[0])
    if text.endswith(".py") and "::" not in text and not (name.startswith("test_") or name.endswith("_test.py")):
        return Workload("script", target)
    return Workload("pytest", target)


def default_workload(workspace: str, path: str, limit: int = 5000) -> Workload:
    """The workspace's test files that import the module of ``path``; all tests when none does."""
    mod = module_name(workspace, path)
    parent, _, last = mod.rpartition(".")
    patterns = [rf"^\s*import\s+{re.escape(mod)}\b", rf"^\s*from\s+{re.escape(mod)}\s+import\b"]
    if parent:
        patterns.append(rf"^\s*from\s+{re.escape(parent)}\s+import\s+.*\b{re.escape(last)}\b")
    found = re.compile("|".join(patterns), re.MULTILINE)
    tests: list[str] = []
    seen = 0
    for p in python_files(workspace):
        f = os.path.basename(p)
        if not (f.startswith("test_") or f.endswith("_test.py")):
            continue
        seen += 1
        if seen > limit:
            break
        try:
            text = Path(p).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if found.search(text):
            tests.append(p)
    if not tests:
        return Workload("pytest", workspace)
    return Workload("pytest", tests[0], tuple(tests[1:]))


def other_sources(workspace: str, path: str, limit: int = 5000) -> Iterator[str | None]:
    """The texts of the workspace's Python files but ``path`` (``python_files``), read as they are asked for;
    None for one not read (over 1 MB, unreadable, or past the first ``limit``), so that a caller that must see
    them all can tell."""
    me = os.path.realpath(path)
    seen = 0
    for p in python_files(workspace):
        if os.path.realpath(p) == me:
            continue
        seen += 1
        if seen > limit:
            yield None
            return
        try:
            yield Path(p).read_text(encoding="utf-8", errors="replace") if os.path.getsize(p) <= 1 << 20 else None
        except OSError:
            yield None


def python_files(workspace: str) -> Iterator[str]:
    """The workspace's ``.py`` files in a stable order (folders and files sorted), skipping hidden folders and
    those of ``_SKIP_DIRS``: the one walk behind ``default_workload`` and ``other_sources``."""
    for root, dirs, files in os.walk(workspace):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(root, f)
