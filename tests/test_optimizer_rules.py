"""Every rewrite rule: where it must apply, where it must not, and that applied rewrites verify."""

from __future__ import annotations

import textwrap

import pytest

from optimizer.rules import RULES, candidates
from optimizer.sandbox import Limits
from optimizer.verify import verify


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip()


def applied(code: str, func: str = "f") -> dict[str, str]:
    return {r.rule: r.source for r in candidates(src(code), func)}


POSITIVE = [
    ("keys-membership", "def f(d, k):\n    return k in d.keys()\n", "return k in d\n"),
    ("keys-membership", "def f(d, k):\n    return k not in d.keys()\n", "return k not in d\n"),
    ("sorted-index", "def f(xs):\n    return sorted(xs)[0]\n", "return min(xs)\n"),
    ("sorted-index", "def f(xs):\n    return sorted(xs)[-1]\n", "return max(xs)\n"),
    ("sum-generator", "def f(xs):\n    return sum([x * x for x in xs])\n", "return sum(x * x for x in xs)\n"),
    (
        "literal-set-membership",
        "def f(c):\n    return c in ['a', 'e', 'i', 'o']\n",
        "return c in {'a', 'e', 'i', 'o'}\n",
    ),
    (
        "append-loop-comprehension",
        "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x + 1)\n    return out\n",
        "out = [x + 1 for x in xs]\n",
    ),
    (
        "append-loop-comprehension",
        "def f(xs):\n    out = []\n    for x in xs:\n        if x > 2:\n            out.append(x)\n    return out\n",
        "out = [x for x in xs if x > 2]\n",
    ),
    (
        "string-concat-join",
        "def f(words):\n    s = ''\n    for w in words:\n        s += w.upper()\n    return s\n",
        's = "".join(w.upper() for w in words)\n',
    ),
    (
        "cache-pure-recursion",
        "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
        "@functools.cache\ndef f(n):",
    ),
]

POSITIVE += [
    (
        "membership-set",
        "def f(xs, allowed):\n    return [x for x in xs if x in allowed]\n",
        "    _allowed_set = set(allowed)\n    return [x for x in xs if x in _allowed_set]\n",
    ),
    (
        "membership-set",
        'def f(xs, seen):\n    """Doc."""\n    n = 0\n    for x in xs:\n        if x not in seen:\n            n += 1\n'
        "    return n\n",
        '    """Doc."""\n    _seen_set = set(seen)\n',
    ),
]

NEGATIVE = [
    ("membership-set", "def f(x, allowed):\n    return x in allowed\n"),  # not in a loop: one test, no gain
    (
        "membership-set",
        "def f(xs, seen):\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n    return seen\n",
    ),  # mutated inside
    (
        "membership-set",
        "def f(xs, ys):\n    for x in xs:\n        ys = ys[1:]\n        if x in ys:\n            return x\n",
    ),  # rebound
    ("membership-set", "def f(xs):\n    local = [1, 2]\n    return [x for x in xs if x in local]\n"),  # not a parameter
    ("keys-membership", "def f(d, k):\n    return k in d.keys(1)\n"),  # keys() with arguments: not a dict view
    ("sorted-index", "def f(xs):\n    return sorted(xs, key=len)[0]\n"),  # a key: min(xs) would differ
    ("sorted-index", "def f(xs):\n    return sorted(xs)[1]\n"),
    ("sum-generator", "def f(xs):\n    return sum([1, 2, 3])\n"),  # a list literal, not a comprehension
    ("literal-set-membership", "def f(c, v):\n    return c in [v, 'a', 'b']\n"),  # a variable element
    ("literal-set-membership", "def f(c):\n    return c in ['a', 'b']\n"),  # too short to matter
    ("append-loop-comprehension", "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    return x\n"),
    (
        "append-loop-comprehension",
        "def f(xs):\n    out = []\n    for x in xs:\n        out.append(len(out))\n    return out\n",
    ),
    (
        "append-loop-comprehension",
        "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    else:\n        pass\n    return out\n",
    ),
    (
        "append-loop-comprehension",
        "def f(xs):\n    out = [0]\n    for x in xs:\n        out.append(x)\n    return out\n",
    ),
    ("string-concat-join", "def f(words):\n    s = 'x'\n    for w in words:\n        s += w\n    return s\n"),
    ("string-concat-join", "def f(words):\n    s = ''\n    for w in words:\n        s += s[-1:] + w\n    return s\n"),
    ("cache-pure-recursion", "def f(n):\n    print(n)\n    return n if n < 2 else f(n - 1)\n"),  # output
    ("cache-pure-recursion", "import random\ndef f(n):\n    return random.random() if n < 1 else f(n - 1)\n"),
    ("cache-pure-recursion", "def f(xs, n):\n    xs.append(n)\n    return f(xs, n - 1) if n else xs\n"),
    ("cache-pure-recursion", "def f(n):\n    return n * 2\n"),  # not recursive
    ("cache-pure-recursion", "@property\ndef f(n):\n    return f(n - 1) if n else 0\n"),  # decorated
]


@pytest.mark.parametrize(("rule", "code", "expect"), POSITIVE)
def test_rule_applies(rule, code, expect):
    out = applied(code)
    assert rule in out, f"{rule} did not apply to:\n{code}"
    assert expect in out[rule]
    compile(out[rule], "<rewrite>", "exec")


@pytest.mark.parametrize(("rule", "code"), NEGATIVE)
def test_rule_does_not_apply(rule, code):
    assert rule not in applied(code)


def test_every_rule_has_positive_and_negative_cases():
    names = {r.name for r in RULES}
    assert names == {p[0] for p in POSITIVE} == {n[0] for n in NEGATIVE}


def test_only_the_target_function_changes_and_methods_are_found():
    code = src('''
        """Module doc."""
        from __future__ import annotations


        class Shop:
            def f(self, xs):
                return sorted(xs)[0]


        def f(xs):
            return sorted(xs)[0]
    ''')
    (method,) = [r for r in candidates(code, "Shop.f")]
    assert method.source.count("min(xs)") == 1 and method.source.count("sorted(xs)[0]") == 1
    fib = src("""
        '''Doc.'''
        from __future__ import annotations


        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)
    """)
    (cached,) = candidates(fib, "fib")
    lines = cached.source.splitlines()
    assert lines[1].startswith("from __future__") and lines[2] == "import functools"
    assert candidates(code, "missing") == [] and candidates("def (:", "f") == []


def test_applied_rewrites_verify_on_inputs():
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    cases = [
        (
            "def f(xs):\n    out = []\n    for x in xs:\n        if x % 2:\n"
            "            out.append(x * 3)\n    return out\n",
            [((list(range(n)),), {}) for n in range(6)],
        ),
        (
            "def f(words):\n    s = ''\n    for w in words:\n        s += w.upper()\n    return s\n",
            [((["ab", "c", ""],), {}), (([],), {})],
        ),
        ("def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n", [((n,), {}) for n in range(15)]),
        (
            "def f(xs, allowed):\n    return [x for x in xs if x in allowed]\n",
            [((list(range(10)), [1, 3, 5]), {}), ((["a"], ("a", "b")), {}), (([1], {1: 2}), {})],
        ),
    ]
    for code, inputs in cases:
        for rewrite in candidates(code, "f"):
            verdict = verify(code, rewrite.source, "f", inputs, fast)
            assert verdict.ok, (rewrite.rule, verdict.reason)


def test_verification_rejects_the_set_rewrite_where_a_string_means_substring():
    code = "def f(words, text):\n    return [w for w in words if w in text]\n"
    (rewrite,) = [c for c in candidates(code, "f") if c.rule == "membership-set"]
    verdict = verify(code, rewrite.source, "f", [((["ab", "x"], "cabd"), {})], Limits(seconds=20))
    assert not verdict.ok and "instead of" in verdict.reason
