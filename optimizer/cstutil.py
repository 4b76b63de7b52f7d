"""Small libcst helpers the rewrite rules share: finding the target def, which names a node reads, binds or
mutates, the shapes of statements, and rewriting statement blocks.

Guarantees: ``find_cst_function`` names defs by the same walk as optimizer/functions.py; no helper here
changes its input (libcst trees are immutable); block rewriters never enter nested defs or classes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.functions import first_def, named_defs
from slipstream.optimizer.purity import MUTATORS

_EMPTY = cst.Module(body=[])


def _cst_name(node: cst.CSTNode) -> str | None:
    return node.name.value if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else None


def _cst_inner(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    # A rewrite must replace a def the sandbox can load by attribute path (optimizer/sandboxed/loader.py):
    # that reaches methods, of nested classes too, but not a def inside a def. So the walk goes on through
    # classes only, and ``f.g`` is never rewritten.
    if isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
        return node.body.body
    return ()


def find_cst_function(module: cst.Module, qualname: str) -> cst.FunctionDef | None:
    """The def a rewrite of ``qualname`` replaces: optimizer/functions.py's walk, through classes only."""
    defs = named_defs(module.body, _cst_name, _cst_inner)
    return first_def(defs, qualname, lambda node: isinstance(node, cst.FunctionDef))  # type: ignore[return-value]


def code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


def statement(text: str, like: cst.BaseStatement | None = None) -> cst.BaseStatement:
    """``text`` parsed as a statement; where it replaces ``like``, with ``like``'s blank lines and comments."""
    new = cst.parse_statement(text)
    return new.with_changes(leading_lines=like.leading_lines) if like is not None else new


def single(block: cst.BaseSuite) -> cst.BaseStatement | None:
    """The one statement of an indented block, else None."""
    if isinstance(block, cst.IndentedBlock) and len(block.body) == 1:
        return block.body[0]
    return None


def small(stmt: cst.BaseStatement | None) -> cst.BaseSmallStatement | None:
    """The one small statement (assignment, expression, return...) of a line, else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def has_unsafe(expr: cst.CSTNode) -> bool:
    """Does ``expr`` bind or suspend (walrus, ``await``, ``yield``)? Then it cannot move into a comprehension."""
    return bool(m.findall(expr, m.NamedExpr() | m.Await() | m.Yield()))


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

        # Each binds its ``target``.
        visit_AnnAssign = visit_AugAssign = visit_For = visit_CompFor = visit_NamedExpr = visit_Del = visit_AssignTarget

        def visit_AsName(self, n: cst.AsName) -> None:
            self._target(n.name)

        def visit_ImportAlias(self, n: cst.ImportAlias) -> None:
            if n.asname is None:
                found.add(code(n.name).split(".")[0])

        def visit_Global(self, n: cst.Global) -> None:
            found.update(x.name.value for x in n.names)

        visit_Nonlocal = visit_Global

        def visit_FunctionDef(self, n: cst.FunctionDef) -> None:
            found.add(n.name.value)

        visit_ClassDef = visit_FunctionDef

    node.visit(V())
    return found


# Builtins that never change an argument in place: a name passed to any other call may be changed by it.
READ_ONLY_CALLS = frozenset(
    {"len", "sorted", "set", "frozenset", "tuple", "list", "dict", "min", "max", "sum", "any", "all", "abs",
     "repr", "str", "int", "float", "bool", "isinstance", "hash", "id", "type", "range", "enumerate", "zip",
     "reversed", "round", "divmod", "pow", "ord", "chr", "format"}
)  # fmt: skip


def mutated_names(node: cst.CSTNode) -> set[str]:
    """Names whose object may be changed in place under ``node``: a mutating method call, an item or attribute
    assignment or deletion, an augmented assignment, or being passed to a call (other than ``READ_ONLY_CALLS``):
    ``_heappop(h)`` shrinks ``h``, so ``len(h)`` in ``while len(h) > 1: ... _heappop(h)`` is not invariant
    (heapq.merge, bench/optimize_suite/real: the rewrite was caught only by verification)."""
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
            if not (isinstance(n.func, cst.Name) and n.func.value in READ_ONLY_CALLS):
                for arg in n.args:
                    base(arg.value)

        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            if isinstance(n.target, (cst.Attribute, cst.Subscript)):
                base(n.target)

        visit_Del = visit_AssignTarget

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
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


def expand_blocks(
    fn: cst.FunctionDef,
    f: Callable[[cst.BaseStatement, list[cst.BaseStatement]], list[cst.BaseStatement] | None],
) -> cst.FunctionDef:
    """Replace each statement of every block in ``fn`` by the statements ``f(statement, before)`` gives, where
    it gives any; ``before``: the statements the block holds before it, as already rewritten."""

    def per_block(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            out.extend(f(stmt, out) or [stmt])
        return out

    return rewrite_blocks(fn, per_block)


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
    return fresh_name(base, names_in(fn))


def fresh_name(base: str, used: set[str]) -> str:
    """``base``, or ``base2``, ``base3``... : the first that is not in ``used``."""
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}{k}"
    return name


def used_outside(fn: cst.CSTNode, name: str, stmts: Sequence[cst.CSTNode]) -> bool:
    """Does ``fn`` read or bind ``name`` anywhere but in ``stmts``? (A loop variable a rewrite would leave
    unset must not be read after the loop, in this block or any enclosing one.)"""
    return len(name_nodes(fn, name)) != sum(len(name_nodes(s, name)) for s in stmts)


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


class LoopDepth:
    """Mixin for a libcst visitor or transformer: ``depth`` counts the loops and comprehensions around the
    node being visited, whose code runs once per iteration. Put it before the libcst base class."""

    depth = 0

    def enter_loop(self, node: cst.CSTNode) -> None:
        self.depth += 1

    def leave_loop(self, original: cst.CSTNode, updated: cst.CSTNode | None = None) -> cst.CSTNode | None:
        self.depth -= 1
        return updated  # a transformer keeps the node; a visitor's leave is called without one

    visit_For = visit_While = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = enter_loop
    leave_For = leave_While = leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = leave_loop


def one_comparison(expr: cst.BaseExpression, operator: type[cst.BaseCompOp]) -> cst.ComparisonTarget | None:
    """``left <op> right`` with that one operator: its ``<op> right`` part (``left`` is ``expr.left``)."""
    if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
        if isinstance(expr.comparisons[0].operator, operator):
            return expr.comparisons[0]
    return None


def acc_pair(fn: cst.FunctionDef, body: list[cst.BaseStatement], i: int):
    """``acc = INIT`` followed by a ``for`` whose body is one statement: (assign, acc, loop, stmt) or None.

    The loop has no ``else``, is not ``async``, its target is a plain name that ``fn`` uses nowhere else (in
    no later statement of this block or of an enclosing one): a comprehension or builtin taking its place
    would not leave the loop variable set."""
    if i + 1 >= len(body):
        return None
    init, loop = small(body[i]), body[i + 1]
    if not (isinstance(init, cst.Assign) and len(init.targets) == 1 and isinstance(init.targets[0].target, cst.Name)):
        return None
    if not isinstance(loop, cst.For) or loop.orelse is not None or loop.asynchronous is not None:
        return None
    if not isinstance(loop.target, cst.Name):
        return None
    stmt = single(loop.body)
    if stmt is None or used_outside(fn, loop.target.value, [loop]):
        return None
    return init, init.targets[0].target.value, loop, stmt


def guarded(stmt: cst.BaseStatement) -> tuple[cst.BaseExpression | None, cst.BaseStatement | None]:
    """``if c: s`` (no ``else``) → ``(c, s)``, with ``s`` None unless the ``if`` holds one statement; any other
    statement → ``(None, stmt)``."""
    if isinstance(stmt, cst.If) and stmt.orelse is None:
        return stmt.test, single(stmt.body)
    return None, stmt


def generator_source(elt: cst.BaseExpression, loop: cst.For, cond: cst.BaseExpression | None = None) -> str:
    """The source of a generator expression equivalent to the loop; the bare iterable when it is one."""
    if cond is None and m.matches(elt, m.Name(loop.target.value)):  # type: ignore[attr-defined]
        return code(loop.iter)
    ifs = f" if {code(parens(cond))}" if cond is not None else ""
    return f"{code(parens(elt))} for {code(loop.target)} in {code(parens(loop.iter))}{ifs}"


def over_whole_def(transformer: type[cst.CSTTransformer]) -> Callable[[cst.FunctionDef], cst.FunctionDef]:
    """A rule's transform that runs a fresh ``transformer`` over the whole def."""
    return lambda fn: fn.visit(transformer())


def _nodes(module: cst.Module) -> list[ast.AST] | None:
    """Every node of the module's tree; None for source that does not parse."""
    try:
        return list(ast.walk(ast.parse(module.code)))
    except SyntaxError:
        return None


def _binds(n: ast.AST, name: str) -> bool:
    """Does ``n`` bind ``name`` other than by an import: an assignment or deletion, a def or class, a
    parameter, ``global``/``nonlocal``, an ``except … as``, a ``match`` capture?"""
    if isinstance(n, ast.Name):
        return n.id == name and not isinstance(n.ctx, ast.Load)
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return n.name == name
    if isinstance(n, ast.arg):
        return n.arg == name
    if isinstance(n, (ast.Global, ast.Nonlocal)):
        return name in n.names
    if isinstance(n, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return n.name == name
    return isinstance(n, ast.MatchMapping) and n.rest == name


def free_module_name(module: cst.Module, name: str) -> bool:
    """Does ``name`` mean the module of that name wherever the rewrite uses it: bound nowhere in the source
    (no def, class, assignment, parameter or other import of it) except by ``import name``?"""
    nodes = _nodes(module)
    if nodes is None:
        return False
    for n in nodes:
        if _binds(n, name):
            return False
        if isinstance(n, ast.ImportFrom) and any((a.asname or a.name) == name for a in n.names):
            return False
        if isinstance(n, ast.Import) and any((a.asname or a.name.split(".")[0]) == name for a in n.names):
            if not any(a.name == name and a.asname is None for a in n.names):
                return False
    return True


def builtin_free(module: cst.Module, name: str) -> bool:
    """Does ``name`` mean the builtin everywhere in the module: bound nowhere (no def, class, assignment,
    parameter or import of it in any scope) and no ``import *``?"""
    nodes = _nodes(module)
    if nodes is None:
        return False
    for n in nodes:
        if _binds(n, name):
            return False
        if isinstance(n, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) in (name, "*") for a in n.names
        ):
            return False
    return True
