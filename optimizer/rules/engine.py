"""The one way a rule's rewrite is made: parse → find → apply → imports → compile.

Guarantees, for ``candidates`` and ``compose`` alike:

- a rewrite changes only the def the qualified name means (optimizer/cstutil.py's ``find_cst_function``,
  the walk every part of the optimizer shares), plus the ``import`` lines its rules name (at the top, after
  the docstring and ``__future__`` imports; ``import bisect as _bisect`` where the module binds the name
  ``bisect`` to something else) and the module-level constants a rule hoists out of the def
  (``WithPrelude``: fresh names, placed just before the top-level statement that holds the def, so they
  exist before any call);
- a rule that leaves the function as it was gives no rewrite;
- every rewrite compiles: a rule's bug costs a candidate, never produces broken code, and a rule that raises
  costs its own candidate only (logged), never the function's other rewrites;
- source that does not parse, or a name that is no def, gives no rewrite (never an exception).

A rewrite is a candidate, never an answer: it is offered only after verification on real inputs and
measurement (optimizer/pipeline.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from slipstream.optimizer.cstutil import code, docstring_offset, find_cst_function

log = logging.getLogger(__name__)

Transform = Callable[[cst.FunctionDef], cst.FunctionDef]


@dataclass(frozen=True)
class WithPrelude:
    """A rewritten def and the module-level statements it needs (a constant computed once at import), and
    modules it imports besides its rule's: ``("sys", None)`` for ``import sys``; ``("bisect", "_bisect")``
    for ``import bisect as _bisect`` where the module binds ``bisect`` to something else (a rule's own
    import under that name is then this one)."""

    fn: cst.FunctionDef
    prelude: tuple[cst.BaseStatement, ...] = ()
    imports: tuple[tuple[str, str | None], ...] = ()


# A rule that must see the rest of the module (the helpers a function calls, the names already taken) takes
# it too; it changes only the def, and may hand back module-level statements with it.
ModuleTransform = Callable[[cst.FunctionDef, cst.Module], "cst.FunctionDef | WithPrelude"]


@dataclass(frozen=True)
class Rewrite:
    rule: str
    title: str
    source: str  # the whole module with the function rewritten
    helper: str = ""  # the module-level function it rewrites instead, one the function calls (rules/helpers.py)
    reach: str = ""  # for the title, what it changes outside the function: "by rewriting find(), which it calls"


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    transform: Transform | ModuleTransform  # returns the def unchanged where its preconditions do not hold
    imports: tuple[str, ...] = ()  # modules the rewrite refers to
    reads_module: bool = False  # ``transform`` is a ``ModuleTransform``
    # Offered only on interpreters older than this (variants are measured on the server's own interpreter,
    # optimizer/sandbox.py): a rewrite that 3.11's specialising interpreter made worthless costs a
    # verification and a measurement per function and never wins.
    until: tuple[int, int] | None = None
    # Also tried on what each other rule wrote: a rule that tidies another's output (``sum-loop`` writes
    # ``sum(e for x in xs)``; ``consumer-list`` makes it a list).
    follow_up: bool = False

    def offered_on(self, python: tuple[int, int]) -> bool:
        return self.until is None or python < self.until


class ReplaceFunction(cst.CSTTransformer):
    """Apply ``transform`` to the one def ``qualname`` means (``"Class.method"``); ``changed`` says if it did."""

    def __init__(self, qualname: str, transform: Transform, module_transform: ModuleTransform | None = None) -> None:
        self.qualname, self.transform, self.module_transform = qualname, transform, module_transform
        self.target: cst.FunctionDef | None = None
        self.module: cst.Module | None = None
        self.changed = False
        self.prelude: tuple[cst.BaseStatement, ...] = ()
        self.imports: tuple[tuple[str, str | None], ...] = ()

    def visit_Module(self, node: cst.Module) -> bool:
        self.target, self.module = find_cst_function(node, self.qualname), node
        return self.target is not None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # the target is never inside a def (see find_cst_function); the rule rewrites it whole

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        if original is not self.target:
            return updated
        if self.module_transform is not None and self.module is not None:
            new = self.module_transform(updated, self.module)
        else:
            new = self.transform(updated)
        if isinstance(new, WithPrelude):
            new, self.prelude, self.imports = new.fn, new.prelude, new.imports
        self.changed = not new.deep_equals(updated)
        return new


def _with_prelude(old: cst.Module, new: cst.Module, target: cst.FunctionDef, prelude) -> cst.Module:
    """``prelude`` inserted before the top-level statement of ``new`` that holds the def (found in ``old``:
    the visit changed only that statement, so the positions agree), after the same blank lines."""
    for i, stmt in enumerate(old.body):
        if stmt is target or any(n is target for n in m.findall(stmt, m.FunctionDef())):
            blank = [line for line in stmt.leading_lines if line.comment is None]
            first = prelude[0].with_changes(leading_lines=blank)
            body = list(new.body)
            return new.with_changes(body=body[:i] + [first, *prelude[1:]] + body[i:])
    return new


def _imports(module: cst.Module, name: str, alias: str | None) -> bool:
    """Does the module's top level hold ``import name`` (``import name as alias``), alone or in a list?"""
    for stmt in module.body:
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ():
            if isinstance(small, cst.Import):
                for a in small.names:
                    as_ = a.asname.name.value if a.asname is not None and isinstance(a.asname.name, cst.Name) else None
                    if code(a.name) == name and as_ == alias:
                        return True
    return False


def ensure_import(module: cst.Module, name: str, alias: str | None = None) -> cst.Module:
    """``import name`` (``as alias``) after the module's docstring and ``__future__`` imports, unless it is
    there already."""
    if _imports(module, name, alias):
        return module
    body = list(module.body)
    pos = docstring_offset(body)
    while pos < len(body) and m.matches(
        body[pos], m.SimpleStatementLine(body=[m.ImportFrom(module=m.Name("__future__"))])
    ):
        pos += 1
    line = f"import {name} as {alias}\n" if alias else f"import {name}\n"
    nxt = body[pos] if pos < len(body) else None
    if isinstance(nxt, (cst.FunctionDef, cst.ClassDef)) and not nxt.leading_lines:  # a def that began the file
        body[pos] = nxt.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    body.insert(pos, cst.parse_statement(line, config=module.config_for_parsing))
    return module.with_changes(body=body)


def _apply(module: cst.Module, qualname: str, rules: Sequence[Rule]) -> tuple[cst.Module, list[str]]:
    """``rules`` applied one after another, each to the function as the previous left it, with its imports."""
    applied: list[str] = []
    for rule in rules:
        if rule.reads_module:
            replace = ReplaceFunction(qualname, lambda fn: fn, rule.transform)  # type: ignore[arg-type]
        else:
            replace = ReplaceFunction(qualname, rule.transform)  # type: ignore[arg-type]
        try:
            new = module.visit(replace)
        except Exception:  # a rule's bug costs its candidate, never the function's other rewrites
            log.exception("rule %s failed on %s", rule.name, qualname)
            continue
        if replace.changed and replace.prelude and replace.target is not None:  # constants before the def
            new = _with_prelude(module, new, replace.target, replace.prelude)
        if replace.changed:
            extra = dict(replace.imports)
            for name in [*rule.imports, *(n for n in extra if n not in rule.imports)]:
                new = ensure_import(new, name, extra.get(name))
            module = new
            applied.append(rule.name)
    return module, applied


def _compiles(module: cst.Module) -> bool:
    try:
        compile(module.code, "<rewrite>", "exec")
    except SyntaxError:
        return False
    return True


def _parse(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError:
        return None


def candidates(source: str, qualname: str, rules: Sequence[Rule]) -> list[Rewrite]:
    """Every rule that applies to ``qualname`` on its own, each as a whole module, in ``rules``' order; after
    each, the same rewrite with the follow-up rules that apply to it (``"sum-loop+consumer-list"``)."""
    module = _parse(source)
    if module is None:
        return []
    out: list[Rewrite] = []
    done: list[tuple[Rule, cst.Module]] = []
    for rule in rules:
        new, applied = _apply(module, qualname, [rule])
        if applied and _compiles(new):
            done.append((rule, new))
    follow = [r for r in rules if r.follow_up]
    for rule, new in done:
        out.append(Rewrite(rule.name, rule.title, new.code))
        then, applied = _apply(new, qualname, [r for r in follow if r is not rule])
        if not applied or not _compiles(then):
            continue
        # Also where the follow-up applies to the original too, so this is the pair ``compose`` would make:
        # the pipeline composes only rules that each measured faster alone, and a tidy-up's own gain is
        # often under that line (consumer-list on fnmatch.translate: 1.01-1.03x, with compile-regex the pair
        # 1.10-1.17x, tried in one run and not the next). A source already tried is skipped at no cost.
        titles = [r.title for r in follow if r.name in applied]
        out.append(Rewrite("+".join([rule.name, *applied]), "; then ".join([rule.title, *titles]), then.code))
    return out


def compose(source: str, qualname: str, names: Sequence[str], rules: Sequence[Rule]) -> Rewrite | None:
    """The named rules applied one after another, in ``rules``' order; None unless at least two apply."""
    module = _parse(source)
    if module is None:
        return None
    new, applied = _apply(module, qualname, [rule for rule in rules if rule.name in names])
    if len(applied) < 2 or not _compiles(new):
        return None
    return Rewrite("+".join(applied), "combined: " + ", ".join(applied), new.code)
