"""Where each function of a module is: one walk of the syntax tree, shared by code actions and profiles."""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpan:
    name: str  # qualified: ``f``, ``Class.f``, or ``f.g`` for a nested def
    first: int  # 0-based line of the first decorator (or the ``def``)
    line: int  # 0-based line of the ``def``
    last: int  # 0-based last line


def function_spans(source: str) -> list[FunctionSpan]:
    """Every def (methods and nested ones too), outer before inner; [] when the source does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out: list[FunctionSpan] = []

    def walk(nodes: list[ast.stmt], prefix: str) -> None:
        for n in nodes:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{n.name}"
                if not isinstance(n, ast.ClassDef):
                    first = min([n.lineno, *[d.lineno for d in n.decorator_list]]) - 1
                    out.append(FunctionSpan(name, first, n.lineno - 1, (n.end_lineno or n.lineno) - 1))
                walk(n.body, f"{name}.")

    walk(tree.body, "")
    return out


def innermost(spans: list[FunctionSpan], line: int) -> str | None:
    """The qualified name of the innermost def enclosing 0-based ``line``."""
    best = None
    for s in spans:  # outer before inner: the last match is the innermost
        if s.first <= line <= s.last:
            best = s.name
    return best


def function_at(source: str, line: int) -> str | None:
    return innermost(function_spans(source), line)
