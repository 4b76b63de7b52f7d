"""Small libcst helpers the rewrite rules share: which names a node reads, binds or mutates, and block rewriting."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

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

_EMPTY = cst.Module(body=[])


def code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


def is_simple_literal(node: cst.BaseExpression | None) -> bool:
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)):
        return True
    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return True
    return isinstance(node, cst.UnaryOperation) and isinstance(node.expression, (cst.Integer, cst.Float))


def names_in(node: cst.CSTNode | None) -> set[str]:
    """Every ``Name`` under ``node``, attribute names included (an over-approximation for "is it used")."""
    found: set[str] = set()
    if node is None:
        return found

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

    node.visit(V())
    return found


def name_nodes(node: cst.CSTNode, name: str) -> list[cst.Name]:
    """The ``Name`` nodes that read or bind ``name`` (attribute names such as ``x.name`` excluded)."""
    found: list[cst.Name] = []

    class V(cst.CSTVisitor):
        def visit_Attribute(self, n: cst.Attribute) -> bool:
            n.value.visit(self)
            return False

        def visit_Name(self, n: cst.Name) -> None:
            if n.value == name:
                found.append(n)

    node.visit(V())
    return found


def bound_names(node: cst.CSTNode) -> set[str]:
    """Names (re)bound anywhere under ``node``: assignments, loop and comprehension targets, ``with``/``except``
    aliases, walrus, ``del``, imports, ``global``/``nonlocal``."""
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def _target(self, t: cst.CSTNode | None) -> None:
            if isinstance(t, cst.Name):
                found.add(t.value)
            elif isinstance(t, (cst.Tuple, cst.List)):
                for e in t.elements:
                    self._target(e.value)
            elif isinstance(t, cst.StarredElement):
                self._target(t.value)

        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            self._target(n.target)

        def visit_AnnAssign(self, n: cst.AnnAssign) -> None:
            self._target(n.target)

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            self._target(n.target)

        def visit_For(self, n: cst.For) -> None:
            self._target(n.target)

        def visit_CompFor(self, n: cst.CompFor) -> None:
            self._target(n.target)

        def visit_NamedExpr(self, n: cst.NamedExpr) -> None:
            self._target(n.target)

        def visit_AsName(self, n: cst.AsName) -> None:
            self._target(n.name)

        def visit_Del(self, n: cst.Del) -> None:
            self._target(n.target)

        def visit_ImportAlias(self, n: cst.ImportAlias) -> None:
            if n.asname is None:
                found.add(code(n.name).split(".")[0])

        def visit_Global(self, n: cst.Global) -> None:
            found.update(x.name.value for x in n.names)

        def visit_Nonlocal(self, n: cst.Nonlocal) -> None:
            found.update(x.name.value for x in n.names)

        def visit_FunctionDef(self, n: cst.FunctionDef) -> None:
            found.add(n.name.value)

        def visit_ClassDef(self, n: cst.ClassDef) -> None:
            found.add(n.name.value)

    node.visit(V())
    return found


def mutated_names(node: cst.CSTNode) -> set[str]:
    """Names whose object may be changed in place under ``node``: a mutating method call, an item or attribute
    assignment or deletion, an augmented assignment."""
    found: set[str] = set()

    def base(t: cst.BaseExpression) -> None:
        while isinstance(t, (cst.Attribute, cst.Subscript)):
            t = t.value
        if isinstance(t, cst.Name):
            found.add(t.value)

    class V(cst.CSTVisitor):
        def visit_Call(self, n: cst.Call) -> None:
            if isinstance(n.func, cst.Attribute) and n.func.attr.value in MUTATORS:
                base(n.func.value)

        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            if isinstance(n.target, (cst.Attribute, cst.Subscript)):
                base(n.target)

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            base(n.target)

        def visit_Del(self, n: cst.Del) -> None:
            if isinstance(n.target, (cst.Attribute, cst.Subscript)):
                base(n.target)

    node.visit(V())
    return found


def rewrite_blocks(fn: cst.FunctionDef, f: Callable[[list[cst.BaseStatement]], list[cst.BaseStatement]]):
    """Apply ``f`` to every statement list in ``fn`` (innermost first), not entering nested defs or classes."""

    class T(cst.CSTTransformer):
        depth = 0

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            self.depth += 1
            return self.depth == 1

        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
            self.depth -= 1
            return updated

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock):
            return updated.with_changes(body=f(list(updated.body)))

    return fn.visit(T())


def merge_pairs(
    fn: cst.FunctionDef, make: Callable[[list[cst.BaseStatement], int], cst.BaseStatement | None]
) -> cst.FunctionDef:
    """Replace adjacent statements ``body[i], body[i + 1]`` by ``make(body, i)`` wherever it is not None."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        i = 0
        while i < len(body):
            new = make(body, i) if i + 1 < len(body) else None
            if new is not None:
                out.append(new)
                i += 2
            else:
                out.append(body[i])
                i += 1
        return out

    return rewrite_blocks(fn, per_block)


def fresh(fn: cst.CSTNode, base: str) -> str:
    """A local name based on ``base`` that ``fn`` does not use yet."""
    used = names_in(fn)
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}{k}"
    return name


def parens(expr: cst.BaseExpression) -> cst.BaseExpression:
    """Parenthesise what a comprehension clause cannot hold bare (ternaries, lambdas, tuples, walrus)."""
    if isinstance(expr, (cst.IfExp, cst.Lambda, cst.Tuple, cst.NamedExpr, cst.Yield)) and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def is_pure_key(expr: cst.BaseExpression, root: str) -> bool:
    """``root``, ``root.a.b``, ``root[0]``, ``root["k"]``: reads without calls, based on the name ``root``."""
    while True:
        if isinstance(expr, cst.Name):
            return expr.value == root
        if isinstance(expr, cst.Attribute):
            expr = expr.value
        elif (
            isinstance(expr, cst.Subscript)
            and len(expr.slice) == 1
            and isinstance(expr.slice[0].slice, cst.Index)
            and is_simple_literal(expr.slice[0].slice.value)
        ):
            expr = expr.value
        else:
            return False


def docstring_offset(body: list[cst.BaseStatement]) -> int:
    first = body[0] if body else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    ):
        return 1
    return 0
