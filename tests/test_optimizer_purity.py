"""Purity beyond the clock (optimizer/purity.py): what changes state outliving a call, reads the environment or
files, or draws unseeded randomness is refused with its reason before any candidate runs; pure functions with
local mutation, argument mutation and module constants are not."""

from __future__ import annotations

import textwrap

import pytest
from slipstream.optimizer.capture import Workload
from slipstream.optimizer.pipeline import optimize_function
from slipstream.optimizer.purity import impurity, why_impure

PRELUDE = """
import os
import random
import heapq
import pathlib
import config
from os import environ, getenv
from heapq import heappush
from random import Random, shuffle
from pathlib import Path
from urllib.parse import quote as encode_uri_component
import urllib.request

CACHE = {}
LOG = []
TABLE = {"a": [1, 2], "b": [3]}
GRID = [[0, 0], [0, 0]]
LIMIT = 10
SQUARES = tuple(i * i for i in range(100))
HEAP = []
counter = 0


class Shop:
    total = 0
"""

# (what the function does, its body under ``def f(x, xs):``, a phrase the reason must hold)
REJECTED = [
    ("rebinds a global", "global counter\ncounter += 1\nreturn counter", "rebinds the module global counter"),
    ("rebinds a global by assignment", "global LIMIT\nLIMIT = x\nreturn x", "rebinds the module global LIMIT"),
    ("stores into a module dict", "CACHE[x] = x * 2\nreturn CACHE[x]", "changes module state (writes CACHE[x])"),
    ("deletes from a module dict", "del CACHE[x]\nreturn x", "deletes CACHE[x]"),
    ("augments a module list item", "GRID[0][0] += x\nreturn x", "writes GRID[0][0]"),
    ("appends to a module list", "LOG.append(x)\nreturn len(LOG)", "calls LOG.append()"),
    ("updates a module dict", "CACHE.update({x: 1})\nreturn x", "calls CACHE.update()"),
    ("mutates through an alias", "d = CACHE\nd[x] = 1\nreturn len(d)", "writes d[x]; d is CACHE"),
    ("mutates a looked-up element", "TABLE.get('a').append(x)\nreturn x", "calls TABLE.get('a').append()"),
    ("mutates via get's result", "row = TABLE.get('a')\nrow.append(x)\nreturn row", "row is TABLE"),
    ("setdefault on a module dict", "return TABLE.setdefault(x, [])", "calls TABLE.setdefault()"),
    ("mutates module rows in a loop", "for row in GRID:\n    row.append(x)\nreturn x", "row is GRID"),
    ("mutates rows via enumerate", "for i, row in enumerate(GRID):\n    row[0] = i\nreturn x", "row is GRID"),
    ("pushes onto a module heap", "heapq.heappush(HEAP, x)\nreturn HEAP[0]", "calls heapq.heappush(HEAP, ...)"),
    ("pushes via a from-import", "heappush(HEAP, x)\nreturn HEAP[0]", "calls heappush(HEAP, ...)"),
    ("writes a module's attribute", "config.debug = x\nreturn x", "changes module state (writes config.debug)"),
    ("setattr on a module", "setattr(config, 'debug', x)\nreturn x", "calls setattr(config, ...)"),
    ("writes a class attribute", "Shop.total += x\nreturn Shop.total", "writes Shop.total"),
    ("writes type(obj)'s attribute", "type(xs).n = x\nreturn x", "changes class state (writes type(xs).n)"),
    ("writes obj.__class__", "xs.__class__.n = x\nreturn x", "changes class state"),
    ("unseeded random", "return random.random() * x", "depends on randomness (calls random.random())"),
    ("Random() without a seed", "rng = random.Random()\nreturn rng.random()", "random.Random() without a seed"),
    ("from-imported Random()", "return Random().random()", "calls Random() without a seed"),
    ("shuffle", "shuffle(xs)\nreturn xs", "randomness (calls shuffle())"),
    ("random as a key", "return sorted(xs, key=random.random)", "randomness (uses random.random)"),
    ("reseeds the shared generator", "random.seed(x)\nreturn random.random()", "randomness (calls random.seed())"),
    ("os.environ", "return os.environ['HOME'] + x", "depends on the environment (uses os.environ)"),
    ("os.environ.get", "return os.environ.get('X', x)", "the environment (calls os.environ.get())"),
    ("os.getenv", "return os.getenv('X') or x", "the environment (calls os.getenv())"),
    ("from os import environ", "return environ.get('X', x)", "the environment (calls environ.get())"),
    ("from os import getenv", "return getenv('X') or x", "the environment (calls getenv())"),
    ("open()", "with open(x) as fh:\n    return fh.read()", "the file system (calls open())"),
    ("writes a file", "open(x, 'w').write('1')\nreturn x", "the file system (calls open())"),
    ("Path.read_text", "return Path(x).read_text()", "the file system"),
    ("pathlib write_text", "pathlib.Path(x).write_text('1')\nreturn x", "the file system"),
    ("an argument's read_text", "return xs.read_text()", "the file system (calls .read_text())"),
    ("inner import of os", "import os as o\nreturn o.environ['X']", "the environment (uses o.environ)"),
    ("urllib.request", "return urllib.request.urlopen(x).read()", "the network (calls urllib.request.urlopen())"),
    ("inner http.client", "import http.client\nreturn http.client.HTTPConnection(x)", "depends on the network"),
]


def _module(body: str, head: str = "def f(x, xs):") -> str:
    return PRELUDE + f"\n\n{head}\n" + textwrap.indent(body, "    ") + "\n"


@pytest.mark.parametrize(("what", "body", "reason"), REJECTED, ids=[r[0] for r in REJECTED])
def test_impure_functions_are_refused_with_the_reason(what, body, reason):
    found = impurity(_module(body), "f")
    assert reason in found, (what, found)


ACCEPTED = [
    ("reads module constants", "return SQUARES[x] + LIMIT + len(TABLE['a'])"),
    ("reads a module dict", "return CACHE.get(x, 0)"),
    ("global only read", "global LIMIT\nreturn LIMIT + x"),
    ("mutates a local list", "out = []\nfor v in xs:\n    out.append(v * 2)\nout.sort()\nreturn out"),
    ("mutates a local dict", "seen = {}\nfor v in xs:\n    seen[v] = seen.get(v, 0) + 1\nreturn seen"),
    ("copies a module list then mutates", "rows = list(LOG)\nrows.append(x)\nreturn rows"),
    ("copies module rows then mutates", "rows = TABLE['a'][:]\nrows.append(x)\nreturn rows"),
    ("dict copy then update", "d = dict(CACHE)\nd.update({x: 1})\nreturn d"),
    ("mutates its argument", "xs.append(x)\nxs[0] = x\nreturn xs"),
    ("local heap", "h = []\nfor v in xs:\n    heapq.heappush(h, v)\nreturn [heapq.heappop(h) for _ in xs]"),
    ("module function named like a mutator", "return heapq.nsmallest(x, xs)"),
    ("seeded generator", "rng = random.Random(42)\nreturn rng.sample(xs, x)"),
    ("generator seeded by an argument", "return Random(x).random()"),
    ("shuffle with a seeded generator", "rng = random.Random(x)\nrng.shuffle(xs)\nreturn xs"),
    ("pure os.path", "return os.path.join(x, 'a') + os.sep"),
    ("os.fspath", "return os.path.normpath(os.fspath(x))"),
    ("urllib.parse, renamed", "return encode_uri_component(x, safe=';/?:@&=+$,-_.!~*()#')"),
    ("http.HTTPStatus", "import http\nreturn http.HTTPStatus(x).phrase"),
    ("a local named like a module", "environ = {'X': x}\nreturn environ['X']"),
    ("a nested helper with its own state", "def g(v):\n    acc = []\n    acc.append(v)\n    return acc\nreturn g(x)"),
    ("closure changing the call's own local", "n = 0\ndef bump():\n    nonlocal n\n    n += 1\nbump()\nreturn n"),
    ("writes an argument's attribute", "xs.total = x\nreturn xs"),
    ("a parameter called random", "return xs.random"),
]


@pytest.mark.parametrize(("what", "body"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_pure_functions_pass(what, body):
    assert impurity(_module(body), "f") == "", what


def test_methods_write_their_own_object_but_not_their_class():
    code = PRELUDE + textwrap.dedent("""

        class Cart:
            count = 0

            def add(self, item):
                self.items.append(item)
                self.total += item
                return self.total

            @classmethod
            def bump(cls, n):
                cls.count += n
                return cls.count

            def tally(self, n):
                Cart.count += n
                return n
    """)
    assert impurity(code, "Cart.add") == ""
    assert "changes class state (writes cls.count)" in impurity(code, "Cart.bump")
    assert "changes module state (writes Cart.count)" in impurity(code, "Cart.tally")


def test_a_closure_over_its_enclosing_function_keeps_state():
    code = textwrap.dedent("""
        def make():
            seen = []
            total = 0

            def add(x):
                seen.append(x)
                return len(seen)

            def bump(x):
                nonlocal total
                total += x
                return total

            def pure(x):
                return len(seen) + x

            return add, bump, pure
    """)
    assert "enclosing function keeps between calls (calls seen.append())" in impurity(code, "make.add")
    assert "enclosing function keeps between calls (nonlocal total)" in impurity(code, "make.bump")
    assert impurity(code, "make.pure") == ""


def test_state_writes_in_nested_scopes_of_the_function():
    body = "def inner():\n    CACHE[x] = 1\ninner()\nreturn x"
    assert "writes CACHE[x]" in impurity(_module(body), "f")
    lam = "fill = lambda k: LOG.append(k)\nfill(x)\nreturn x"
    assert "calls LOG.append()" in impurity(_module(lam), "f")


def test_module_state_is_for_the_original_only():
    # The pipeline checks candidates for what they read, not for state: a rule may keep a module-level table.
    code = _module("CACHE[x] = 1\nreturn x")
    assert impurity(code, "f", module_state=False) == ""
    assert impurity(_module("return os.getenv('X')"), "f", module_state=False)


def test_caching_rule_view_is_unchanged_without_imports():
    # With no module in sight a bare name is not taken for a module (a parameter called ``time``).
    import ast

    fn = ast.parse("def f(time, n):\n    return time if n < 1 else f(time, n - 1)\n").body[0]
    assert why_impure(fn, None, effects=True) == ""
    fn = ast.parse("def f(p):\n    return os.environ[p]\n").body[0]
    assert "the environment" in why_impure(fn, None, effects=True)


def test_the_pipeline_refuses_before_any_candidate_runs(tmp_path):
    """A module-state writer with an applicable rule: refused with the reason, no candidate tried, nothing run."""
    (tmp_path / "memo.py").write_text(
        textwrap.dedent("""
            SEEN = []


            def total(xs):
                SEEN.append(len(xs))
                out = 0
                for x in xs:
                    out = out + x
                return out
        """).lstrip()
    )
    (tmp_path / "test_memo.py").write_text(
        "from memo import total\n\n\ndef test_total():\n    assert total(list(range(100))) == 4950\n"
    )
    progress: list[str] = []
    res = optimize_function(
        str(tmp_path), str(tmp_path / "memo.py"), "total", Workload("pytest", str(tmp_path)), progress.append
    )
    assert res.error.startswith("not optimized: it changes module state (calls SEEN.append())"), res.error
    assert res.variants == [] and res.rejected == [] and res.inputs == 0
    assert progress == [], "refused before the workload ran"


def test_state_the_static_check_cannot_see_is_left_to_the_two_runs(tmp_path):
    """A helper keeps the state: the function itself looks pure, and two runs of the original disagree."""
    (tmp_path / "tally.py").write_text(
        textwrap.dedent("""
            _calls = []


            def _bump(x):
                _calls.append(x)
                return len(_calls)


            def remember(x):
                return _bump(x) + sorted([x, 0])[-1]  # a rule's shape: something to try, so the runs happen
        """).lstrip()
    )
    (tmp_path / "test_tally.py").write_text(
        "from tally import remember\n\n\ndef test_remember():\n    assert remember(1) >= 2\n"
    )
    assert impurity((tmp_path / "tally.py").read_text(), "remember") == ""
    assert "module state" in impurity((tmp_path / "tally.py").read_text(), "_bump")
    res = optimize_function(str(tmp_path), str(tmp_path / "tally.py"), "remember", Workload("pytest", str(tmp_path)))
    assert "two runs of the original on the same input disagree" in res.error, res.error
    assert res.variants == []
