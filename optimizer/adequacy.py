"""Can these inputs tell a function from a trivial one? Trivial mutants of the original, and a no-op check.

Tests often call a function only on inputs where doing nothing gives the same answer (a relaxation step
on a constant grid, a sort of a sorted list, a search that finds nothing). A variant verified only on
such inputs proves nothing: the default model once proposed a body of comments, and it "verified".
So, before any candidate is trusted, these mutants of the original run on the inputs:

- ``return None`` (the body does nothing),
- ``return <first argument>``,
- ``return <a constant of the result's type>`` (``0``, ``""``, ``[]``, ...),
- the body without its in-place writes (``x[i] = ...``, ``obj.a = ...``, ``del x[i]``, augmented ones).

A mutant that behaves exactly like the original on every input "survives": the inputs are not adequate
(optimizer/pipeline.py then derives neighbours of the captured inputs and tries again, and offers nothing
when a mutant still survives). ``does_nothing`` refuses a variant whose body is only a docstring,
``pass``, ``...`` or a bare ``return``/``return None``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst
from slipstream.optimizer.cstutil import find_cst_function
from slipstream.optimizer.functions import parse_function
from slipstream.optimizer.rules import ReplaceFunction

# The literal each result kind (optimizer/sandboxed/canonical.py's tags) is replaced with.
_CONSTANTS = {"i": "0", "f": "0.0", "s": "''", "b": "False", "l": "[]", "t": "()", "d": "{}", "S": "set()", "y": "b''"}


@dataclass(frozen=True)
class Mutant:
    label: str
    source: str  # the whole module with the function mutated


def _parameters(fn: cst.FunctionDef, method: bool) -> list[str]:
    names = [p.name.value for p in fn.params.params]
    if method and names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


class _DropWrites(cst.CSTTransformer):
    """Statements that write into an object (subscripts, attributes) become ``pass``."""

    def __init__(self) -> None:
        self.dropped = 0

    @staticmethod
    def _writes(targets: list[cst.BaseExpression]) -> bool:
        return any(isinstance(t, (cst.Subscript, cst.Attribute)) for t in targets)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        body: list[cst.BaseSmallStatement] = []
        for s in updated_node.body:
            targets: list[cst.BaseExpression] = []
            if isinstance(s, cst.Assign):
                targets = [t.target for t in s.targets]
            elif isinstance(s, (cst.AugAssign, cst.AnnAssign)):
                targets = [s.target]
            elif isinstance(s, cst.Del):
                targets = [s.target]
            if targets and self._writes(targets):
                self.dropped += 1
                body.append(cst.Pass())
            else:
                body.append(s)
        return updated_node.with_changes(body=body)


def mutants(source: str, qualname: str, result_kind: str | None) -> list[Mutant]:
    """The trivial mutants of ``qualname`` in ``source``; ``result_kind``: the tag of what the original
    returns on its first input (None when it raised), for the constant mutant."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return []
    method = "." in qualname
    out: list[Mutant] = []

    def add(label: str, transform) -> None:  # type: ignore[no-untyped-def]
        replacer = ReplaceFunction(qualname, transform)
        new = module.visit(replacer)
        if replacer.changed and new.code != source:
            out.append(Mutant(label, new.code))

    def body_of(statement: str):  # type: ignore[no-untyped-def]
        return lambda fn: fn.with_changes(body=cst.IndentedBlock(body=[cst.parse_statement(statement)]))

    add("does nothing (return None)", body_of("return None"))
    found = find_cst_function(module, qualname)
    params = _parameters(found, method) if found is not None else []
    if params:
        add(f"returns its argument {params[0]!r}", body_of(f"return {params[0]}"))
    if result_kind in _CONSTANTS:
        add(f"returns {_CONSTANTS[result_kind]}", body_of(f"return {_CONSTANTS[result_kind]}"))
    dropper = _DropWrites()
    add("skips its in-place writes", lambda fn: fn.visit(dropper))  # type: ignore[return-value]
    return out


def does_nothing(source: str, qualname: str) -> bool:
    """True when the function's body is only a docstring, ``pass``, ``...`` or a bare ``return [None]``."""
    parsed = parse_function(source, qualname)
    if parsed is None:
        return False
    for stmt in parsed[1].body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring, a string, ``...``
        if isinstance(stmt, ast.Return) and (
            stmt.value is None or (isinstance(stmt.value, ast.Constant) and stmt.value.value is None)
        ):
            continue
        return False
    return True
