"""The one lookup: every part of the optimizer finds a def by qualified name through optimizer/functions.py."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
from slipstream.optimizer.adequacy import does_nothing
from slipstream.optimizer.cstutil import find_cst_function
from slipstream.optimizer.functions import find_function, function_spans
from slipstream.optimizer.proposals import build_prompt
from slipstream.optimizer.purity import impurity
from slipstream.optimizer.reach import out_of_reach

CODE = textwrap.dedent("""
    import random


    class Shop:
        class Till:
            def total(self):
                return 1

        async def fetch(self):
            return random.random()

        def f(self):
            def helper():
                return random.random()
            return helper()


    def f():
        pass


    def f():
        return random.random()


    class g:
        pass


    if True:
        def hidden():
            return random.random()
""").lstrip()


def _ast(name: str) -> ast.AST | None:
    return find_function(ast.parse(CODE), name)


def _cst(name: str) -> cst.FunctionDef | None:
    return find_cst_function(cst.parse_module(CODE), name)


def test_both_trees_find_the_same_defs():
    for name in ("Shop.Till.total", "Shop.fetch", "Shop.f", "f"):
        a, c = _ast(name), _cst(name)
        assert a is not None and c is not None, name
        assert a.name == c.name.value == name.split(".")[-1]
    # The first of two defs with one name, in source order (the one the spans list first).
    assert _ast("f").lineno == 18 and isinstance(_cst("f").body.body[0].body[0], cst.Pass)
    assert [s.name for s in function_spans(CODE)].index("f") == 4


def test_what_no_lookup_answers():
    for name in ("g", "Shop", "Shop.Till", "missing", "Shop.missing", "hidden", ""):
        assert _ast(name) is None and _cst(name) is None, name


def test_a_def_inside_a_def_is_analysed_but_never_rewritten():
    assert _ast("Shop.f.helper") is not None and _cst("Shop.f.helper") is None
    assert "randomness" in impurity(CODE, "Shop.f.helper")


def test_every_analysis_uses_the_lookup():
    assert "randomness" in impurity(CODE, "Shop.fetch") and impurity(CODE, "f") == ""  # the first f
    assert does_nothing(CODE, "f") and not does_nothing(CODE, "Shop.Till.total") and not does_nothing(CODE, "g")
    assert out_of_reach(CODE, "g") == "g is missing" and out_of_reach(CODE, "Shop.Till.total") == ""
    assert build_prompt(CODE, "Shop.Till.total", []) is not None
    assert build_prompt(CODE, "Shop.fetch", []) is None  # the prompt writes ``def``: never for a coroutine
    assert build_prompt(CODE, "g", []) is None
