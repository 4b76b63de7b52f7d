"""Where each function of a module is: one walk of the syntax tree, shared by code actions, profiles, the
analyses and the rewrite rules.

Guarantees:

- a qualified name is the dotted path of defs and classes that lead to a def (``f``, ``Class.f``, ``f.g``
  for a def inside a def); only defs and classes directly in a body count (not those under ``if`` or
  ``try``), as the names the server offers come from this same walk;
- ``find_function`` answers the first def with that name in source order (outer before inner), or None;
  a class is never answered for a function;
- ``named_defs`` is the one walk; the libcst lookup (optimizer/cstutil.py) is built on it too, so every
  part of the optimizer agrees on which def a name means.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

Node = TypeVar("Node")
FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class FunctionSpan:
    name: str  # qualified: ``f``, ``Class.f``, or ``f.g`` for a nested def
    first: int  # 0-based line of the first decorator (or the ``def``)
    line: int  # 0-based line of the ``def``
    last: int  # 0-based last line


def named_defs(
    body: Sequence[Node],
    name_of: Callable[[Node], str | None],
    inner: Callable[[Node], Sequence[Node]],
    prefix: str = "",
) -> Iterator[tuple[str, Node]]:
    """Every def and class under ``body`` with its qualified name, outer before inner, in source order.

    The walk is the same for any syntax tree: ``name_of`` gives a statement's def or class name (None for
    other statements) and ``inner`` the statements a qualified name may continue into."""
    for node in body:
        name = name_of(node)
        if name is not None:
            yield prefix + name, node
            yield from named_defs(inner(node), name_of, inner, f"{prefix}{name}.")


def first_def(defs: Iterator[tuple[str, Node]], qualname: str, is_function: Callable[[Node], bool]) -> Node | None:
    """The first function the walk names ``qualname``."""
    return next((node for name, node in defs if name == qualname and is_function(node)), None)


def _ast_name(node: ast.AST) -> str | None:
    return node.name if isinstance(node, (*FUNCTION_TYPES, ast.ClassDef)) else None


def _ast_defs(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    return named_defs(tree.body, _ast_name, lambda node: node.body)  # type: ignore[attr-defined]


def find_function(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The def ``qualname`` names in ``tree`` (see the module's guarantees), or None."""
    return first_def(_ast_defs(tree), qualname, lambda node: isinstance(node, FUNCTION_TYPES))  # type: ignore[return-value]


def parse_function(source: str, qualname: str) -> tuple[ast.Module, ast.FunctionDef | ast.AsyncFunctionDef] | None:
    """The parsed module and the def ``qualname`` names in it; None when the source does not parse or has no such
    def (for analyses that have nothing to say then)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    node = find_function(tree, qualname)
    return None if node is None else (tree, node)


def first_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The 1-based line a def's text starts on: its first decorator, else the ``def``."""
    return min([node.lineno, *[d.lineno for d in node.decorator_list]])


def function_spans(source: str) -> list[FunctionSpan]:
    """Every def (methods and nested ones too), outer before inner; [] when the source does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [
        FunctionSpan(name, first_line(n) - 1, n.lineno - 1, (n.end_lineno or n.lineno) - 1)
        for name, n in _ast_defs(tree)
        if isinstance(n, FUNCTION_TYPES)
    ]


def innermost(spans: list[FunctionSpan], line: int) -> str | None:
    """The qualified name of the innermost def enclosing 0-based ``line``."""
    best = None
    for s in spans:  # outer before inner: the last match is the innermost
        if s.first <= line <= s.last:
            best = s.name
    return best


def function_at(source: str, line: int) -> str | None:
    return innermost(function_spans(source), line)
