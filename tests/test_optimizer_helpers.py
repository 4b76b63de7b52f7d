"""The rules reach into the helpers a function calls (optimizer/rules/helpers.py): which calls count as
helpers, that a helper's rewrite is verified and measured through the function asked for (also from a
workspace, where only the variant's def used to be loaded), and that it is offered as a change to the
helper, never written."""

from __future__ import annotations

import ast
import textwrap

import pytest
from slipstream.optimizer.capture import Workload
from slipstream.optimizer.pipeline import optimize_function
from slipstream.optimizer.rules import candidates, helper_candidates
from slipstream.optimizer.rules.helpers import called_helpers
from slipstream.optimizer.sandbox import Limits
from slipstream.optimizer.verify import verify

SEARCH = """
def find_between(a, x, lo=0, hi=None):
    if hi is None:
        hi = len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo
"""
RANKS = (
    SEARCH
    + """

def ranks(a, xs, hi=None):
    \"\"\"Where each x would go in the sorted list a.\"\"\"
    return [find_between(a, x, 0, hi) for x in xs]
"""
)


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip()


CALLED = [
    # (module, function, the helpers it calls)
    (RANKS, "ranks", ["find_between"]),
    (
        SEARCH + "\ndef g(a):\n    return h(a) + find_between(a, 1)\n\ndef h(a):\n    return 0\n",
        "g",
        ["h", "find_between"],  # in the order of their first call
    ),
    (RANKS, "find_between", []),  # calls nothing of the module's
    (SEARCH + "\ndef g(a):\n    return g(a[1:]) if a else 0\n", "g", []),  # itself: not a helper
    (RANKS + "\nfind_between = len\n", "ranks", []),  # the name is bound twice: the call may mean either
    (RANKS.replace("    return [find", "    find_between = sorted\n    return [find"), "ranks", []),  # a local
    (SEARCH + "\ndef g(a, find_between):\n    return find_between(a, 1)\n", "g", []),  # a parameter
    (SEARCH + "\nclass C:\n    def m(self, a):\n        return find_between(a, 1)\n", "C.m", ["find_between"]),
    ("class K:\n    pass\n\ndef g():\n    return K()\n", "g", []),  # a class is no function
    ("def g(o):\n    return o.find_between(1)\n" + SEARCH, "g", []),  # a method call
    (SEARCH + "\ndef g(a):\n    global find_between\n    return find_between(a, 1)\n", "g", []),
    ("def g(:\n", "g", []),  # does not parse: no helpers, no exception
    ("import functools\n@functools.cache\n" + RANKS, "ranks", []),  # decorated: re-running the def re-decorates
    (RANKS.replace("find_between(a, x, 0, hi)", "(lambda find_between: find_between(a, x))(len)"), "ranks", []),
    (RANKS + "\ntry:\n    pass\nexcept ValueError as find_between:\n    pass\n", "ranks", []),  # bound twice
]


@pytest.mark.parametrize(("code", "func", "expected"), CALLED)
def test_called_helpers(code, func, expected):
    assert called_helpers(src(code), func) == expected


def test_a_helpers_rewrite_changes_the_helper_alone_and_says_so():
    source = src(RANKS)
    assert candidates(source, "ranks") == []  # no rule applies to the wrapper itself
    (cand,) = helper_candidates(source, "ranks")
    assert cand.rule == "bisect-search in find_between" and cand.helper == "find_between"
    assert "which ranks calls" in cand.title
    assert cand.source.split("def ranks", 1)[1] == source.split("def ranks", 1)[1]
    assert "_bisect" not in cand.source and "bisect.bisect_right(a, x, lo, hi)" in cand.source  # `bisect` is free


EDGES = [(([1, 3, 3, 7], [0, 3, 8]), {"hi": hi}) for hi in (None, -1, 2, 9)]


def test_a_helpers_rewrite_is_verified_through_the_function_from_a_workspace(tmp_path):
    """From a workspace the sandbox loads the variant into the real module's namespace: the rewritten
    helper must come with it, or the variant would be the original under another name."""
    (tmp_path / "searching.py").write_text(src(RANKS))
    source = src(RANKS)
    (cand,) = helper_candidates(source, "ranks")
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    ws = {"workspace": str(tmp_path), "module": "searching"}
    verdict = verify(source, cand.source, "ranks", EDGES, fast, **ws)
    assert verdict.ok, verdict.reason
    # Without its guard bisect reads hi == -1 as "the whole list": a wrong helper is told apart, which it
    # could not be if the workspace's own helper ran.
    bare = cand.source.replace("type(lo) is int and type(hi) is int and 0 <= lo < hi <= sys.maxsize", "True")
    assert bare != cand.source
    verdict = verify(source, bare, "ranks", EDGES, fast, **ws)
    assert not verdict.ok and "input 1" in verdict.reason, verdict.reason


def test_the_pipeline_tries_a_helpers_rewrite_and_offers_it_as_an_edit_of_the_helper(tmp_path):
    (tmp_path / "searching.py").write_text(src(RANKS))
    (tmp_path / "test_searching.py").write_text(
        src(
            """
            import random

            from searching import ranks


            def test_ranks():
                rng = random.Random(2)
                a = sorted(rng.randrange(10**6) for _ in range(3000))
                for _ in range(20):
                    got = ranks(a, [rng.randrange(10**6) for _ in range(200)])
                    assert all(0 <= r <= len(a) for r in got)
            """
        )
    )
    before = (tmp_path / "searching.py").read_text()
    res = optimize_function(str(tmp_path), str(tmp_path / "searching.py"), "ranks", Workload("pytest", str(tmp_path)))
    assert not res.error and res.inputs >= 1, res.error
    rule = "bisect-search in find_between"
    offered = {v.rule_or_model: v for v in res.variants}
    if rule in offered:  # bisect over 3,000 items: ~2x, but speed is the benchmark's to report, not a test's
        v = offered[rule]
        assert "by rewriting find_between(), which it calls" in v.title, v.title
        lines = before.splitlines()
        ranks_first = next(i for i, line in enumerate(lines) if line.startswith("def ranks"))
        assert all(first < ranks_first for first, _, _ in v.edits), v.edits  # the helper's lines, not ranks'
    else:
        why = [r["reason"] for r in res.rejected if r["rule"] == rule]
        assert why and why[0].startswith(("not measurably faster", "slower at")), res.rejected  # verified
    assert (tmp_path / "searching.py").read_text() == before  # offered, never written


OVERLOADED = """
from typing import overload


@overload
def conv(x: int) -> int: ...
@overload
def conv(x: str) -> str: ...
def conv(x):
    return x


SCALE = 1


def scaled(x):
    return x * SCALE


class Box:
    def total(self, xs):
        return sum(scaled(conv(x)) for x in xs)
"""


def test_the_loader_brings_rewritten_helpers_only(tmp_path, monkeypatch):
    """An ``@overload`` stack is no helper (only its last def is the function); a helper rewritten for a
    method, installed in the module for the project's tests, reads the module's globals as they are then."""
    from slipstream.optimizer.sandboxed import loader

    (tmp_path / "boxes.py").write_text(src(OVERLOADED))
    monkeypatch.syspath_prepend(str(tmp_path))
    import boxes

    source = src(OVERLOADED)
    tree = ast.parse(source)
    assert loader._rewritten_helpers(tree, tree, "Box") == []  # the same source: nothing rewritten
    variant = source.replace("return x * SCALE", "return SCALE * x * 10")
    (helper,) = loader._rewritten_helpers(ast.parse(variant), tree, "Box")
    assert helper.name == "scaled"
    fn = loader.variant_in(boxes, ["Box", "total"], variant)  # a copy of the namespace: the module unchanged
    assert fn(boxes.Box(), [1, 2]) == 30 and boxes.scaled(2) == 2 and boxes.conv(5) == 5
    loader.variant_in(boxes, ["Box", "total"], variant, in_place=True, original=source)
    monkeypatch.setattr(boxes, "SCALE", 3)  # as a test might, after the variant is installed
    assert boxes.Box().total([1, 2]) == 90 and boxes.scaled(2) == 60 and boxes.conv("s") == "s"


HOOKED = """
REGISTRY = []


def register(fn):
    REGISTRY.append(fn.__name__)
    return fn


@register
def _on_load():
    pass


del _on_load


def popcount(b):
    c = 0
    while b:
        c += b & 1
        b >>= 1
    return c
"""


def test_the_loader_runs_only_what_a_rule_added_not_what_the_module_deleted(tmp_path, monkeypatch):
    """Found in review: a variant brought every top-level def the module lacked, so a hook the module
    registered and deleted was registered again; only names the original never binds are a rule's."""
    from slipstream.optimizer.sandboxed import loader

    (tmp_path / "hooked.py").write_text(src(HOOKED))
    monkeypatch.syspath_prepend(str(tmp_path))
    import hooked

    (table,) = [r for r in candidates(src(HOOKED), "popcount") if r.rule == "small-int-table"]
    fn = loader.variant_in(hooked, ["popcount"], table.source)
    assert [fn(b) for b in (0, 7, 255, 256)] == [0, 3, 8, 1]  # the kept copy came along
    assert hooked.REGISTRY == ["_on_load"]  # and the deleted hook was not registered again
    fn = loader.variant_in(hooked, ["popcount"], table.source, original="def (")  # no original: no new def
    with pytest.raises(NameError):
        fn(3)
