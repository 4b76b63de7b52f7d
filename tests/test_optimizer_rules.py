"""Every rewrite rule: where it must apply, where it must not, and that applied rewrites verify; the one purity
vocabulary the caching rule shares with optimizer/purity.py; the one engine behind candidates and compose."""

from __future__ import annotations

import textwrap

import pytest
from slipstream.optimizer.adequacy import mutants
from slipstream.optimizer.proposals import parse_proposal
from slipstream.optimizer.purity import BUILTINS, METHODS, MODULES, MUTATORS, impurity
from slipstream.optimizer.rules import RULES, candidates, compose, offered
from slipstream.optimizer.sandbox import Limits
from slipstream.optimizer.verify import verify


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip()


_RUN = "def f(xs):\n    t = 0\n    out = []\n    for x in xs:\n        {}\n        {}\n    return {}\n"


def applied(code: str, func: str = "f") -> dict[str, str]:
    """Every rule's rewrite, as on the oldest supported interpreter (where every rule is offered)."""
    return {r.rule: r.source for r in candidates(src(code), func, python=(3, 10))}


POSITIVE = [
    ("keys-membership", "def f(d, k):\n    return k in d.keys()\n", "return k in d\n"),
    ("keys-membership", "def f(d, k):\n    return k not in d.keys()\n", "return k not in d\n"),
    ("sorted-index", "def f(xs):\n    return sorted(xs)[0]\n", "return (min(xs) if xs else sorted(xs)[0])\n"),
    ("sorted-index", "def f(xs):\n    return sorted(xs)[-1]\n", "return (max(xs) if xs else sorted(xs)[-1])\n"),
    ("sorted-index", "def f(d):\n    return sorted(d.values())[0]\n", "return min(d.values())\n"),  # once
    ("consumer-list", "def f(xs):\n    return sum(x * x for x in xs)\n", "return sum([x * x for x in xs])\n"),
    (
        "consumer-list",
        "from math import fsum\ndef f(xs, m):\n    return fsum((d := x - m) * d for x in xs)\n",
        "return fsum([(d := x - m) * d for x in xs])\n",
    ),
    ("consumer-list", "def f(r):\n    return ' | '.join(str(c) for c in r)\n", "' | '.join([str(c) for c in r])"),
    (
        "consumer-list",
        "def f(xs):\n    return max((len(x) for x in xs), default=0)\n",
        "max([len(x) for x in xs], default=0)",
    ),
    ("consumer-list", "def f(xs):\n    return sorted(x.k for x in xs if x)\n", "sorted([x.k for x in xs if x])"),
    ("consumer-list", "def f(xs):\n    return list(x + 1 for x in xs)\n", "return [x + 1 for x in xs]\n"),
    ("consumer-list", "def f(xs):\n    return set(x + 1 for x in xs)\n", "return {x + 1 for x in xs}\n"),
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
    (
        "cache-pure-recursion",  # numbers from a range loop, items of a (hashable) argument, str methods
        "def f(n, s):\n    best = ''\n    for k in range(1, n):\n        best = max(best, f(n - k, s) + s[k].upper())\n"
        "    return best + str(sum(len(c) for c in s))\n",
        "@functools.cache\ndef f(n, s):",
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
    ("consumer-list", "def f(xs):\n    return any(x > 0 for x in xs)\n"),  # stops at the first: not all read
    ("consumer-list", "def f(xs):\n    return next(x for x in xs if x)\n"),
    ("consumer-list", "def f(xs):\n    return sum([x for x in xs])\n"),  # a list already
    ("consumer-list", "def f(xs, sep):\n    return sep.join(x for x in xs)\n"),  # sep's join may be anyone's
    ("consumer-list", "def f(xs, g):\n    return sum((x for x in xs), g())\n"),  # a call after the items
    ("consumer-list", "def f(xs):\n    return zip(x for x in xs)\n"),  # lazy itself
    ("consumer-list", "def f(xs):\n    for y in (x for x in xs):\n        return y\n"),
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
    ("cache-pure-recursion", "def f(n):\n    return [] if n == 0 else f(n - 1) + [n]\n"),  # one list for all callers
    ("cache-pure-recursion", "def f(n):\n    r = {}\n    if n:\n        r = f(n - 1)\n    return r\n"),
    (
        "cache-pure-recursion",
        "def f(n, p):\n    return p.items if n < 1 else f(n - 1, p)\n",
    ),  # an attribute: any object
    ("cache-pure-recursion", "@property\ndef f(n):\n    return f(n - 1) if n else 0\n"),  # decorated
]


POSITIVE += [
    (
        "search-loop-builtin",
        "def f(xs, t):\n    for x in xs:\n        if x > t:\n            return True\n    return False\n",
        "return any(x > t for x in xs)\n",
    ),
    (
        "search-loop-builtin",
        "def f(xs):\n    for x in xs:\n        if x < 0:\n            return False\n    return True\n",
        "return not any(x < 0 for x in xs)\n",
    ),
    (
        "search-loop-builtin",
        "def f(xs):\n    for x in xs:\n        if x.ok:\n            return x\n    return None\n",
        "return next((x for x in xs if x.ok), None)\n",
    ),
    (
        "deque-queue",
        "def f(items):\n    q = list(items)\n    out = []\n    while q:\n        out.append(q.pop(0))\n"
        "    return out\n",
        "q = collections.deque(items)\n",
    ),
    (
        "deque-queue",
        "def f(xs):\n    q = []\n    for x in xs:\n        q.insert(0, x)\n        if len(q) > 3:\n"
        "            q.pop()\n    return q[0] if q else None\n",
        "q.appendleft(x)",
    ),
    (
        "hoist-invariant-call",
        "def f(xs, ys):\n    return [x for x in xs if x in set(ys)]\n",
        "    _set_ys = set(ys)\n    return [x for x in xs if x in _set_ys]\n",
    ),
    (
        "hoist-invariant-call",
        "def f(xs, ys):\n    out = []\n    for x in xs:\n        if x in set(ys) and x < len(ys):\n"
        "            out.append(x)\n    return out\n",
        "    _set_ys = set(ys)\n    _len_ys = len(ys)\n    for x in xs:\n        if x in _set_ys and x < _len_ys:\n",
    ),
    (
        "hoist-method-lookup",
        "import math\ndef f(xs):\n    out = []\n    for x in xs:\n        y = math.sqrt(x)\n        out.append(y)\n"
        "    return out\n",
        "    _math_sqrt = math.sqrt\n    _out_append = out.append\n",
    ),
    (
        "compile-regex",
        "import re\ndef f(lines):\n    return [l for l in lines if re.search(r'\\d+', l)]\n",
        "import re\n_f_re = re.compile(r'\\d+')\ndef f(lines):\n    return [l for l in lines if _f_re.search(l)]\n",
    ),
    (
        "compile-regex",
        "import re\n\n\n# splits\ndef f(s, _f_re=1):\n    return re.split(r'\\n|\\r', s), re.sub('a' 'b', '', s)\n",
        "import re\n\n\n_f_re2 = re.compile(r'\\n|\\r')\n_f_re3 = re.compile('a' 'b')\n\n\n# splits\n"
        "def f(s, _f_re=1):\n    return _f_re2.split(s), _f_re3.sub('', s)\n",
    ),  # not in a loop: every call paid the cache lookup; blank lines kept, the comment stays with the def
    (
        "counter-loop",
        "def f(ws):\n    c = {}\n    for w in ws:\n        c[w] = c.get(w, 0) + 1\n    return c\n",
        "c = dict(collections.Counter(ws))\n",
    ),
    (
        "counter-loop",
        "def f(ws):\n    c = dict()\n    for w in ws:\n        if w[0] in c:\n            c[w[0]] += 1\n        else:\n"
        "            c[w[0]] = 1\n    return c\n",
        "c = dict(collections.Counter(w[0] for w in ws))\n",
    ),
    (
        "sum-products",
        "def f(a, b):\n    t = 0.5\n    for x, y in zip(a, b):\n        t += x * y\n    return t\n",
        "import operator\n\n\ndef f(a, b):\n    t = sum(map(operator.mul, a, b), 0.5)\n    return t\n",
    ),
    (
        "sum-products",
        "def f(a, b):\n    total = 0\n    for i in range(len(a)):\n        total += a[i] * b[i]\n    return total\n",
        "    if len(b) >= len(a):\n        total = sum(map(operator.mul, a, b))\n    else:\n        total = 0\n"
        "        for i in range(len(a)):\n            total += a[i] * b[i]\n    return total\n",
    ),
    (
        "sum-products",
        "def f(a, b):\n    return sum(x * y for x, y in zip(a, b))\n",
        "return sum(map(operator.mul, a, b))\n",
    ),
    (
        "sum-products",
        "def f(a, b):\n    return sum([a[k] * b[k] for k in range(len(a))], 1)\n",
        "return (sum(map(operator.mul, a, b), 1) if len(b) >= len(a) else sum([a[k] * b[k] for k in range(len(a))], 1)"
        ")",
    ),
    (
        "running-accumulate",
        "def f(xs):\n    total = 0\n    out = []\n    for x in xs:\n        total += x\n        out.append(total)\n"
        "    return out\n",
        "    out = list(itertools.accumulate(xs, initial=0))\n    del out[0]\n    return out\n",
    ),
    (
        "running-accumulate",
        "def f(xs):\n    sums = []\n    t = 1.5\n    for v in xs:\n        t += v\n        sums.append(t)\n"
        "    return sums, t\n",
        "    del sums[0]\n    t = sums[-1] if sums else 1.5\n    return sums, t\n",
    ),  # the total is read afterwards: it gets its final value
    ("sum-loop", "def f(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n", "t = sum(xs)\n"),
    (
        "sum-loop",
        "def f(xs):\n    t = 1.5\n    for x in xs:\n        if x:\n            t += x * x\n    return t\n",
        "t = sum((x * x for x in xs if x), 1.5)\n",
    ),
    # Follow-ups: consumer-list also tidies what another rule wrote, as a candidate of its own.
    (
        "sum-loop+consumer-list",
        "def f(xs):\n    t = 1.5\n    for x in xs:\n        if x:\n            t += x * x\n    return t\n",
        "t = sum([x * x for x in xs if x], 1.5)\n",
    ),
    (  # also where the follow-up applies to the original: the pair, whatever each measures alone
        "keys-membership+consumer-list",
        "def f(d, ks, xs):\n    a = [k for k in ks if k in d.keys()]\n    return sum(x for x in xs), a\n",
        "    a = [k for k in ks if k in d]\n    return sum([x for x in xs]), a\n",
    ),
    (
        "string-concat-join+consumer-list",
        "def f(rows):\n    s = ''\n    for r in rows:\n        s += ','.join(str(c) for c in r)\n    return s\n",
        """s = "".join([','.join([str(c) for c in r]) for r in rows])\n""",
    ),
    (
        "pairwise-index",
        "def f(orders, users):\n    out = []\n    for o in orders:\n        for u in users:\n"
        "            if u['id'] == o.user_id:\n                out.append((o, u))\n    return out\n",
        "for u in _users_by_key.get(o.user_id, ()):\n",
    ),
    (
        "range-len-index",
        "def f(xs):\n    t = 0\n    for i in range(len(xs)):\n        t = t + xs[i]\n    return t\n",
        "for x_item in xs:\n        t = t + x_item\n",
    ),
    (
        "range-len-index",
        "def f(xs):\n    t = 0\n    for i in range(len(xs)):\n        t = t + xs[i] * i\n    return t\n",
        "for i, x_item in enumerate(xs):\n",
    ),
    ("square-multiply", "def f(x, y):\n    return x ** 2 + y\n", "return x * x + y\n"),
    (
        "seen-set-dedupe",
        "def f(xs):\n    out = []\n    for x in xs:\n        if x.key not in out:\n            out.append(x.key)\n"
        "    return out\n",
        "    _out_seen = set()\n    for x in xs:\n        if x.key not in _out_seen:\n"
        "            _out_seen.add(x.key)\n            out.append(x.key)\n",
    ),
    ("sorted-slice-heapq", "def f(xs):\n    return sorted(xs)[:5]\n", "return heapq.nsmallest(5, xs)\n"),
    (
        "sorted-slice-heapq",
        "def f(xs):\n    return sorted(xs, key=len, reverse=True)[:2]\n",
        "return heapq.nlargest(2, xs, key=len)\n",
    ),
]

NEGATIVE += [
    # a second statement in the loop body: the early return is not the whole loop
    (
        "search-loop-builtin",
        "def f(xs):\n    for x in xs:\n        print(x)\n        if x:\n            return True\n    return False\n",
    ),
    ("search-loop-builtin", "def f(xs):\n    for x in xs:\n        if x:\n            return True\n    return 0\n"),
    (
        "search-loop-builtin",
        "def f(xs):\n    for x in xs:\n        if (y := x):\n            return True\n    return False\n",
    ),
    ("deque-queue", "def f(xs):\n    q = list(xs)\n    q.pop(0)\n    return q\n"),  # returned: callers see a list
    ("deque-queue", "def f(xs):\n    q = list(xs)\n    while q:\n        q.pop()\n    return 1\n"),  # a stack: no gain
    ("deque-queue", "def f(xs):\n    q = list(xs)\n    q.pop(0)\n    return q[1:3]\n"),  # slicing: deque has none
    (
        "hoist-invariant-call",
        "def f(xs, ys):\n    for x in xs:\n        ys.append(x)\n        if len(ys) > 3:\n            return x\n",
    ),  # ys mutated in the loop
    ("hoist-invariant-call", "def f(xs, ys):\n    for x in xs:\n        s = set(ys)\n        s.add(x)\n"),  # not a test
    ("hoist-invariant-call", "def f(xs):\n    return [len(x) for x in xs]\n"),  # depends on the loop variable
    ("hoist-invariant-call", "def f(xs):\n    return [x for x in set(xs)]\n"),  # evaluated once anyway
    (
        "hoist-invariant-call",
        "def f(h, pop):\n    while len(h) > 1:\n        yield pop(h)\n",
    ),  # h passed to a call that may shrink it (heapq.merge's loop over _heappop(h))
    ("hoist-method-lookup", "def f(xs, out):\n    for x in xs:\n        out = out.union({x})\n    return out\n"),
    ("hoist-method-lookup", "def f(xs, o):\n    for x in xs:\n        o.run = x\n        o.run()\n"),  # attribute set
    (
        "compile-regex",
        "import re\ndef f(p, lines):\n    return [l for l in lines if re.match(p, l)]\n",
    ),  # not a literal
    ("compile-regex", "import re\ndef f(lines):\n    return re.match('a(', lines[0])\n"),  # would break the import
    ("compile-regex", "def f(re, s):\n    return re.match('a', s)\n"),  # not the module
    ("compile-regex", "import re\ndef f(s):\n    def g(re):\n        return re.match('a', s)\n    return g\n"),
    ("compile-regex", "import re\ndef f(ls):\n    return [l for l in ls if re.match('a', l, re.I)]\n"),  # flags
    ("counter-loop", "def f(ws):\n    c = {'x': 1}\n    for w in ws:\n        c[w] = c.get(w, 0) + 1\n    return c\n"),
    ("counter-loop", "def f(ws):\n    c = {}\n    for w in ws:\n        c[w] = c.get(w, 0) + 2\n    return c\n"),
    ("counter-loop", "def f(ws):\n    c = {}\n    for w in ws:\n        c[w] = c.get(w, 0) + 1\n    return w\n"),
    (
        "sum-products",
        "def f(a, b):\n    s = 0\n    for x, y in zip(a, b):\n        s += y * x\n    return s\n",
    ),  # y * x
    (
        "sum-products",
        "def f(a, b):\n    s = 0\n    for x, y in zip(a, b):\n        s += x * y\n    return s, x\n",
    ),  # x read after the loop
    (
        "sum-products",
        "def f(a, b):\n    s = 0\n    if a:\n        s = 0\n        for x, y in zip(a, b):\n            s += x * y\n"
        "    return s, x\n",
    ),  # x read after the block that holds the loop
    ("sum-products", "def f(a, b):\n    return sum(x * y for x, y in zip(a, b) if x)\n"),  # a condition
    ("sum-products", "def f(a, b, c):\n    return sum(x * y for x, y, z in zip(a, b, c))\n"),
    ("sum-products", "def f(a, b):\n    return sum(a[i] * b[i + 1] for i in range(len(a)))\n"),  # another index
    ("sum-products", "def f(a, b):\n    return sum(a[i] * b[i] for i in range(len(b)))\n"),  # bounded by b
    ("sum-products", "operator = None\ndef f(a, b):\n    return sum(x * y for x, y in zip(a, b))\n"),
    ("sum-products", "def f(a, b, sum=max):\n    return sum(x * y for x, y in zip(a, b))\n"),  # not the builtin
    (
        "sum-products",
        "def f(a, b):\n    def g():\n        return sum(x * y for x, y in zip(a, b))\n    return g\n",
    ),  # a nested def
    ("running-accumulate", _RUN.format("t += x", "out.append(t)", "out, x")),  # x read after the loop
    ("running-accumulate", _RUN.format("t += x * 2", "out.append(t)", "out")),  # not the item itself
    ("running-accumulate", _RUN.format("t -= x", "out.append(t)", "out")),  # not a sum
    ("running-accumulate", _RUN.format("out.append(t)", "t += x", "out")),  # appended before adding
    ("running-accumulate", _RUN.format("t += x", "out.append(t + 1)", "out")),  # not the total
    (
        "running-accumulate",
        "def f(xs, out):\n    t = 0\n    out = out\n    for x in xs:\n        t += x\n        out.append(t)\n"
        "    return out\n",
    ),  # not a new empty list
    (
        "running-accumulate",
        "import itertools as itertools\nitertools = None\ndef f(xs):\n    t = 0\n    out = []\n    for x in xs:\n"
        "        t += x\n        out.append(t)\n    return out\n",
    ),  # itertools is not the module
    (
        "sum-loop",
        "def f(xs):\n    t = 1\n    if xs:\n        t = 0\n        for x in xs:\n            t += x\n    return t, x\n",
    ),  # x read after the block that holds the loop
    ("sum-loop", "def f(xs):\n    t = 0\n    for x in xs:\n        t += t + x\n    return t\n"),  # reads itself
    ("sum-loop", "def f(xs):\n    t = 0\n    for x in xs:\n        t -= x\n    return t\n"),
    # the start is read after a list is built: the comprehension's walrus would have changed it by then
    ("consumer-list", "def f(xs, t):\n    return sum(((t := x) for x in xs), t)\n"),
    ("consumer-list", "def f(xs, d):\n    return max(((d := x) for x in xs), default=d)\n"),
    # sum(xs) holds no generator: nothing to follow up
    ("sum-loop+consumer-list", "def f(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n"),
    ("consumer-list+consumer-list", "def f(xs):\n    return sum(x * x for x in xs)\n"),  # never after itself
    ("sum-loop", "def f(xs):\n    t = ''\n    for x in xs:\n        t += x\n    return t\n"),  # not a number
    (
        "pairwise-index",
        "def f(a, b):\n    for x in a:\n        for y in b:\n            if x < y:\n                return x\n",
    ),  # not equality
    (
        "pairwise-index",
        "def f(a, b):\n    n = 0\n    for x in a:\n        for y in b:\n            if x.k == y.k:\n"
        "                n += 1\n    return y\n",
    ),  # y used after the loops
    (
        "pairwise-index",
        "def f(a, b):\n    for x in a:\n        for y in b:\n            if x.k == y.k:\n                b.remove(y)\n",
    ),  # b mutated
    (
        "pairwise-index",
        "def f(a, b):\n    for x in a:\n        for y in b:\n            if x.k == len(y):\n                return 1\n",
    ),  # a call as key
    ("range-len-index", "def f(xs):\n    for i in range(len(xs)):\n        xs[i] = 0\n"),  # writes through the index
    ("range-len-index", "def f(xs):\n    for i in range(len(xs)):\n        xs.append(xs[i])\n"),  # grows the list
    ("range-len-index", "def f(xs):\n    for i in range(len(xs)):\n        t = xs[i]\n    return i\n"),  # i after
    ("square-multiply", "def f(p):\n    return p.x ** 2\n"),  # an attribute: evaluated twice
    ("square-multiply", "def f(x):\n    return x ** 3\n"),
    ("seen-set-dedupe", "def f(xs, out):\n    for x in xs:\n        if x not in out:\n            out.append(x)\n"),
    (
        "seen-set-dedupe",
        "def f(xs):\n    out = []\n    for x in xs:\n        if x not in out:\n            out.append(x)\n"
        "        out.remove(x)\n    return out\n",
    ),  # removed again: the set would go stale
    ("sorted-slice-heapq", "def f(xs, k):\n    return sorted(xs)[:k]\n"),  # k could be negative
    ("sorted-slice-heapq", "def f(xs):\n    return sorted(xs)[1:3]\n"),
]


# Rules that still pay on CPython 3.11+ (optimizer/rules/caching.py's memo_per_call, optimizer/rules/stdlib.py).
_KNAP = (
    "def f(i, w, weights, values):\n    if i == len(weights) or w == 0:\n        return 0\n"
    "    best = f(i + 1, w, weights, values)\n    if weights[i] <= w:\n"
    "        best = max(best, values[i] + f(i + 1, w - weights[i], weights, values))\n    return best\n"
)
_SEARCH = (
    "def f(a, x):\n{init}    while lo < hi:\n        mid = {mid}\n        if {test}:\n{then}{other}    return {ret}\n"
)


def _search(init="    lo, hi = 0, len(a)\n", mid="(lo + hi) // 2", test="a[mid] < x", left=True, ret="lo"):
    up, down = "            lo = mid + 1\n", "            hi = mid\n"
    then, other = (up, down) if left else (down, up)
    return _SEARCH.format(init=init, mid=mid, test=test, then=then, other="        else:\n" + other, ret=ret)


_GUARD = (
    "    if type(lo) is int and type(hi) is int and 0 <= lo < hi <= sys.maxsize:\n"
    "        lo = hi = bisect.bisect_left(a, x, lo, hi)\n    else:\n        while lo < hi:\n"
)
_PAIRS = (
    "def f(xs):\n    t = 0\n    for i in range(len(xs)):\n        for j in range(i + 1, len(xs)):\n{body}    return t\n"
)

POSITIVE += [
    ("memo-per-call", _KNAP, "    def _f(i, w):\n        _key = (i, w)\n"),
    (
        "memo-per-call",
        "def f(s, i):\n    if i >= len(s):\n        return 1\n    n = f(s, i + 1)\n"
        "    if s[i] != '0' and s[i:i + 2] < '27':\n        n += f(s, i + 2)\n    return n\n",
        "        _key = i\n",
    ),
    ("bisect-search", _search(), "    lo = hi = bisect.bisect_left(a, x, lo, hi)\n"),
    (
        "bisect-search",
        _search(init="    hi = len(a)\n    lo = 0\n", mid="lo + (hi - lo) // 2", test="x < a[mid]", left=False),
        "    lo = hi = bisect.bisect_right(a, x, lo, hi)\n",
    ),
    (
        "index-pairs-combinations",
        _PAIRS.format(body="            t += xs[i] * xs[j]\n"),
        "    for x_i, x_j in itertools.combinations(xs, 2):\n        t += x_i * x_j\n",
    ),
    ("bisect-search", _search(test="rank(a[mid]) < x"), "bisect.bisect_left(a, x, lo, hi, key=rank)\n"),
    # Bounds from elsewhere: bisect only under 0 <= lo < hi (it refuses lo < 0, reads hi == -1 as len(a)).
    ("bisect-search", _search(init="    lo, hi = 0, len(a) - 1\n"), _GUARD),
    ("bisect-search", "def f(a, x, lo, hi):\n" + _search(init="").split("\n", 1)[1], _GUARD),
    ("bisect-search", _search(init="    lo, hi = 0, len(a)\n    a = a[::-1]\n"), _GUARD),
    (  # the second search reads the first's mid as its x: only the second becomes bisect
        "bisect-search",
        _search().replace("    return lo\n", "")
        + "    lo2, hi2 = 0, len(b)\n    while lo2 < hi2:\n        m = (lo2 + hi2) // 2\n"
        "        if b[m] < mid:\n            lo2 = m + 1\n        else:\n            hi2 = m\n    return lo2\n",
        "            hi = mid\n    lo2, hi2 = 0, len(b)\n    lo2 = hi2 = bisect.bisect_left(b, mid, lo2, hi2)\n",
    ),
    # A rule's import is added even where another function binds the name locally.
    (
        "sorted-slice-heapq",
        "def g():\n    heapq = []\n    return heapq\n\ndef f(xs):\n    return sorted(xs)[:3]\n",
        "import heapq\n\n\ndef g():",  # two blank lines before a def that began the file
    ),
    # `bisect`/`operator` bound to something else in the module: imported under a fresh name at the top.
    (
        "bisect-search",
        "from bisect import bisect\n" + _search(),
        "import bisect as _bisect\nfrom bisect import bisect\ndef f(a, x):\n    lo, hi = 0, len(a)\n"
        "    lo = hi = _bisect.bisect_left(a, x, lo, hi)\n",
    ),
    (
        "bisect-search-item",
        "operator = None\n" + _search(test="a[mid][0] < x"),
        "import operator as _operator\nimport bisect\noperator = None\ndef f(a, x):\n    lo, hi = 0, len(a)\n"
        "    lo = hi = bisect.bisect_left(a, x, lo, hi, key=_operator.itemgetter(0))\n",
    ),
    ("bisect-search-item", _search(test="a[mid][0] < x"), "bisect_left(a, x, lo, hi, key=operator.itemgetter(0))\n"),
    (
        "bisect-search-item",
        _search(test="x < a[mid].start", left=False),
        'bisect.bisect_right(a, x, lo, hi, key=operator.attrgetter("start"))\n',
    ),
    (
        "index-pairs-combinations",
        _PAIRS.format(body="            t += abs(xs[i] - xs[j]) / n\n")
        .replace("    for i in range(len(xs)):", "    n = len(xs)\n    for i in range(n):")
        .replace("range(i + 1, len(xs))", "range(i + 1, n)"),
        "    n = len(xs)\n    for x_i, x_j in itertools.combinations(xs, 2):\n        t += abs(x_i - x_j) / n\n",
    ),
]

NEGATIVE += [
    (
        "index-pairs-combinations",  # n is no longer len(xs) once the body changes it
        _PAIRS.format(body="            n -= 1\n")
        .replace("    for i in range(len(xs)):", "    n = len(xs)\n    for i in range(n):")
        .replace("range(i + 1, len(xs))", "range(i + 1, n)"),
    ),
    (
        "index-pairs-combinations",  # a size from something else between
        _PAIRS.format(body="            t += xs[i] * xs[j]\n")
        .replace("    for i in range(len(xs)):", "    n = len(xs)\n    t = 1\n    for i in range(n):")
        .replace("range(i + 1, len(xs))", "range(i + 1, n)"),
    ),
    ("memo-per-call", "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n"),  # nothing passed through
    (
        "memo-per-call",  # a rebound parameter is keyed: with both rebound, nothing is passed through
        _KNAP.replace("    if i ==", "    weights, values = list(weights), list(values)\n    if i =="),
    ),
    (
        "memo-per-call",  # changed in one call each: nothing is passed through in every call
        _KNAP.replace("f(i + 1, w, weights, values)", "f(i + 1, w, weights[1:], values)").replace(
            "w - weights[i], weights, values)", "w - weights[i], weights, values[::1])"
        ),
    ),
    ("memo-per-call", _KNAP.replace("f(i + 1, w, weights, values)", "f(i + 1, w, weights, values=values)")),
    ("memo-per-call", _KNAP.replace("    return best\n", "    values.append(best)\n    return best\n")),
    ("memo-per-call", _KNAP.replace("    return best\n", "    print(i)\n    return best\n")),  # output
    ("memo-per-call", _KNAP.replace("    return best\n", "    trim(weights)\n    return best\n")),  # may change it
    ("memo-per-call", _KNAP.replace("    return best\n", "    log.note(values[i])\n    return best\n")),
    ("memo-per-call", _KNAP.replace("    return best\n", "    return best, f\n")),  # the name handed out
    ("memo-per-call", "def f(self, i, xs):\n    return 0 if i >= len(xs) else f(self, i + 1, xs) + xs[i]\n"),
    (
        "memo-per-call",  # a finally could replace a result after the memo kept it
        "def f(i, xs):\n    try:\n        return 0 if i >= len(xs) else f(i + 1, xs) + 1\n    finally:\n        pass\n",
    ),
    (
        "memo-per-call",  # a nested def could outlive the call
        "def f(i, xs):\n    g = lambda: i\n    return g() if i >= len(xs) else f(i + 1, xs)\n",
    ),
    ("bisect-search", _search(test="a[mid] <= x")),  # other comparisons than bisect's
    ("bisect-search", _search(test="x(a[mid]) < x")),  # the key is the value searched for
    ("bisect-search", _search(test="a[mid][0] < x")),  # a field: the rule with an operator key
    ("bisect-search-item", _search(test="a[mid][i] < x")),  # i is no literal
    ("bisect-search-item", _search(test="a[mid] < x")),  # no field: the rule without a key
    (
        "index-pairs-combinations",
        "import more_itertools as itertools\n" + _PAIRS.format(body="            t += xs[i]\n"),
    ),
    ("bisect-search", _search(ret="mid")),  # mid read after the loop
    ("bisect-search", "def f(a, x, lo, hi):\n" + _search(init="", ret="mid").split("\n", 1)[1]),  # guarded too
    (  # two searches, mid read between them
        "bisect-search",
        _search().replace("    return lo\n", "    print(mid)\n" + _search().split("\n", 1)[1]),
    ),
    ("bisect-search", _search(test="a[mid] < x.key")),  # x read on every step
    ("bisect-search", _search(mid="(lo + hi) // 2\n        steps = 1")),  # something else in the loop
    ("index-pairs-combinations", _PAIRS.format(body="            if xs[i] == xs[j]:\n                break\n")),
    ("index-pairs-combinations", _PAIRS.format(body="            t += i * xs[j]\n")),  # the index itself
    ("index-pairs-combinations", _PAIRS.format(body="            xs[j] = xs[i]\n")),  # mutated
    (
        "index-pairs-combinations",
        _PAIRS.format(body="            t += xs[i] * xs[j]\n").replace("range(i + 1,", "range(i,"),  # i == j too
    ),
    (
        "index-pairs-combinations",
        _PAIRS.format(body="            t += xs[i] * xs[j]\n").replace("return t", "return t + j"),  # j read after
    ),
    (
        "index-pairs-combinations",
        _PAIRS.format(body="            t += xs[i] * xs[j]\n").replace(
            "range(i + 1, len(xs))", "range(i + 1, len(ys))"
        ),
    ),
]


_SQ = "def sq(x):\n    return x * x + 1\n\n\n"
_LOOP = "def f(xs):\n    t = 0\n    for x in xs:\n        t += {call}\n    return t\n"

POSITIVE += [
    ("inline-helper", _SQ + _LOOP.format(call="sq(x)"), "        t += x * x + 1\n"),
    (
        "inline-helper",  # the call is the whole value: its argument is bound first, as it was evaluated first
        _SQ + "def f(b):\n    if b:\n        return sq(b[0] - 1)\n    return 0\n",
        "    if b:\n        _x = b[0] - 1\n        return _x * _x + 1\n",
    ),
    (
        "inline-helper",
        "import math\n\n\ndef scale(v, k):\n    '''Doc.'''\n    return math.floor(v.real) * k\n\n\n"
        "def f(xs):\n    return [scale(x, 2) for x in xs]\n",
        "    return [(math.floor(x.real) * 2) for x in xs]\n",
    ),
]

NEGATIVE += [
    ("inline-helper", _SQ + "def f(x):\n    return 2 * sq(x + 1)\n"),  # x + 1 is evaluated before 2 now
    ("inline-helper", _SQ + _LOOP.format(call="sq(x + 1)")),  # an argument that is no name: evaluated once
    ("inline-helper", _SQ + _LOOP.format(call="sq(x=x)")),
    ("inline-helper", _SQ + "sq = abs\n\n\n" + _LOOP.format(call="sq(x)")),  # the name means something else
    ("inline-helper", _SQ + "def g():\n    global sq\n\n\n" + _LOOP.format(call="sq(x)")),
    ("inline-helper", "def sq(x):\n    y = x * x\n    return y\n\n\n" + _LOOP.format(call="sq(x)")),  # two lines
    ("inline-helper", "def sq(x):\n    print(x)\n    return x\n\n\n" + _LOOP.format(call="sq(x)")),
    (
        "inline-helper",
        "import random\n\n\ndef sq(x):\n    return x * random.random()\n\n\n" + _LOOP.format(call="sq(x)"),
    ),
    ("inline-helper", "import functools\n\n\n@functools.cache\n" + _SQ + _LOOP.format(call="sq(x)")),
    ("inline-helper", "def sq(x, y):\n    return x\n\n\n" + _LOOP.format(call="sq(x, t)")),  # y never read
    ("inline-helper", "def sq(x):\n    return sum(v for v in x)\n\n\n" + _LOOP.format(call="sq(x)")),  # a scope
    ("inline-helper", "def sq(x):\n    return x if x < 2 else sq(x - 1)\n\n\n" + _LOOP.format(call="sq(x)")),
    (
        "inline-helper",  # K is the module's in the helper, a local of the target: moving it would change it
        "K = 3\n\n\ndef sq(x):\n    return x * K\n\n\n" + _LOOP.format(call="sq(x)").replace("t = 0", "t = K = 0"),
    ),
    ("inline-helper", _SQ + _LOOP.format(call="(lambda: sq(x))()")),  # inside a lambda
]

_MAX = "def f(xs, m):\n    for x in xs:\n        {}\n    return m\n"

POSITIVE += [
    ("minmax-compare", _MAX.format("m = max(m, x)  # why"), "        if x > m:\n            m = x  # why\n"),
    ("minmax-compare", _MAX.format("m = min(m, x)"), "        if x < m:\n            m = x\n"),
    ("minmax-compare", _MAX.format("m = max(x, m)"), "        if not m > x:\n            m = x\n"),  # keeps x on ties
    ("minmax-compare", _MAX.format("m = min(-1, m)"), "        if not m < -1:\n            m = -1\n"),
    ("minmax-compare", _MAX.format("m = max(m, not x)"), "        if (new_m := not x) > m:\n            m = new_m\n"),
    (
        "minmax-compare",  # an item, e first: evaluated first, then the item read, then stored
        _MAX.format("m[x] = min(len(x), m[x])  # why"),
        "        new_m = len(x)\n        old_m = m[x]\n        m[x] = old_m if old_m < new_m else new_m  # why\n",
    ),
    (
        "minmax-compare",  # evaluated once, into a fresh local
        "def f(ps):\n    best = new_best = 0\n    for p in ps:\n        best = max(best, p.x * p.y)\n    return best\n",
        "        if (new_best2 := p.x * p.y) > best:\n            best = new_best2\n",
    ),
    (
        "minmax-compare",  # the item of a list, in a nested loop under an if
        "def f(xs, dp):\n    for i in range(len(xs)):\n        for j in range(i):\n            if xs[j] < xs[i]:\n"
        "                dp[i] = max(dp[i], dp[j] + 1)\n    return dp\n",
        "                old_dp = dp[i]\n                new_dp = dp[j] + 1\n"
        "                dp[i] = new_dp if new_dp > old_dp else old_dp\n",
    ),
    (
        "minmax-compare",  # bound at the top level before the loop, by a plain assignment
        "def f(xs):\n    lo: float = xs[0]\n    i = 0\n    while i < len(xs):\n        lo = min(lo, xs[i])\n"
        "        i += 1\n    return lo\n",
        "        if (new_lo := xs[i]) < lo:\n            lo = new_lo\n",
    ),
]

NEGATIVE += [
    ("minmax-compare", "def f(a, b):\n    a = max(a, b)\n    return a\n"),  # not in a loop: paid once
    ("minmax-compare", "def f(xs):\n    for x in xs:\n        m = max(m, x)\n    return m\n"),  # unbound m
    ("minmax-compare", "def f(xs, k):\n    if k:\n        m = 0\n    for x in xs:\n        m = max(m, x)\n"),
    ("minmax-compare", "def f(xs):\n    for x in xs:\n        m = 0\n        m = max(m, x)\n"),  # bound in the loop
    ("minmax-compare", "max = min\n\n\n" + _MAX.format("m = max(m, x)")),  # not the builtin
    ("minmax-compare", _MAX.replace("xs, m", "xs, m, max=min").format("m = max(m, x)")),
    ("minmax-compare", "from helpers import *\n\n\n" + _MAX.format("m = max(m, x)")),
    ("minmax-compare", "def g():\n    import builtins as max\n\n\n" + _MAX.format("m = max(m, x)")),
    ("minmax-compare", _MAX.format("m = max(m, x, 0)")),
    ("minmax-compare", _MAX.format("m = max(m, x, key=abs)")),
    ("minmax-compare", _MAX.format("m = max(*(m, x))")),
    ("minmax-compare", _MAX.format("m = max(x, 0)")),  # neither argument is the target
    ("minmax-compare", _MAX.format("m = max(m, (y := x))")),  # a binding would move
    ("minmax-compare", _MAX.format("m = max(m, x); y = m")),  # not alone on its line
    ("minmax-compare", _MAX.format("m = max(  # the best so far\n            m,\n            x,\n        )")),
    ("minmax-compare", _MAX.format("n = m = max(m, x)")),
    ("minmax-compare", _MAX.format("m = max(m, x)").replace("    return m", "    del m")),
    ("minmax-compare", "def f(xs):\n    global m\n    m = 0\n    for x in xs:\n        m = max(m, x)\n"),
    ("minmax-compare", _MAX.format("m = max(m, x)").replace("for x", "with open(x) as m:\n        pass\n    for x")),
    ("minmax-compare", _MAX.format("def g(m):\n            m = max(m, x)")),  # a nested def's own statement
    ("minmax-compare", _MAX.format("m.v = max(m.v, x)")),  # an attribute: a property may run
    ("minmax-compare", _MAX.format("m[x.k] = max(m[x.k], 1)")),  # an index that is no plain name
]


@pytest.mark.parametrize(("rule", "code", "expect"), POSITIVE)
def test_rule_applies(rule, code, expect):
    out = applied(code)
    assert rule in out, f"{rule} did not apply to:\n{code}"
    assert expect is None or expect in out[rule], out[rule]
    compile(out[rule], "<rewrite>", "exec")


@pytest.mark.parametrize(("rule", "code"), NEGATIVE)
def test_rule_does_not_apply(rule, code):
    assert rule not in applied(code)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("imports", ["import heapq", "import os, heapq", "import heapq  # for nsmallest"])
def test_an_import_already_there_is_not_added_again(imports, newline):
    code = f"{imports}\n\ndef f(xs):\n    return sorted(xs)[:3]\n".replace("\n", newline)
    out = applied(code)["sorted-slice-heapq"]
    assert out.count("import") == 1 and out.startswith(imports), out


def test_every_rule_has_positive_and_negative_cases():
    names = {r.name for r in RULES}
    follow_ups = {f"{a}+{b.name}" for a in names for b in RULES if b.follow_up}  # a rule, then a follow-up
    assert names == {p[0] for p in POSITIVE} - follow_ups == {n[0] for n in NEGATIVE} - follow_ups


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
    assert method.source.count("min(xs)") == 1
    assert method.source.endswith("def f(xs):\n    return sorted(xs)[0]\n"), method.source
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
            "import math\ndef f(xs, ws):\n    m = math.fsum(x for x in xs) / len(xs)\n"
            "    return m, ' '.join(str(w) for w in ws), sorted((x - m for x in xs), reverse=True)\n",
            [(([1.5, -2.0, 1e16, 1.0], ["a", 3]), {}), (([0.1] * 10, []), {})],
        ),
        (
            "def f(a, b):\n    total = 0\n    for i in range(len(a)):\n        total += a[i] * b[i]\n"
            "    return total, sum(x * y for x, y in zip(a, b))\n",
            [
                (([1.5, 2.0, 1e16, -1e16], [3.0, -1.0, 1.0, 1.0]), {}),
                (([1, 2, 3], [4, 5]), {}),  # b shorter: IndexError part-way in both
                (([1, 2], [4, 5, 6]), {}),
                ((["ab", "c"], [2, 3]), {}),  # 0 + "abab": TypeError in both
                (([], []), {}),
            ],
        ),
        (
            "def f(xs):\n    t = 0\n    out = []\n    for x in xs:\n        t += x\n        out.append(t)\n"
            "    return out, t\n",
            [(([0.1, 1e16, -1e16, 0.3, 2],), {}), (([],), {}), ((["a"],), {}), (((1, 2, 3),), {})],
        ),
        (
            "def f(xs, allowed):\n    return [x for x in xs if x in allowed]\n",
            [((list(range(10)), [1, 3, 5]), {}), ((["a"], ("a", "b")), {}), (([1], {1: 2}), {})],
        ),
    ]
    for code, inputs in cases:
        for rewrite in candidates(code, "f"):
            verdict = verify(code, rewrite.source, "f", inputs, fast)
            assert verdict.ok, (rewrite.rule, verdict.reason)


def test_sorted_index_keeps_the_empty_lists_error():
    """An empty list raises IndexError in the original; the rewrite keeps it, where bare min() would not."""
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    code = "def f(xs):\n    return sorted(xs)[0], sorted(xs)[-1]\n"
    inputs = [(([3, 1, 2],), {}), ((["b", "a"],), {}), (([],), {}), (((),), {})]
    (rewrite,) = [r for r in candidates(code, "f") if r.rule == "sorted-index"]
    assert verify(code, rewrite.source, "f", inputs, fast).ok
    # An iterator: the second sorted() sees it exhausted (IndexError), max() does too (ValueError): refused.
    once = verify(code, rewrite.source, "f", [((iter([2, 5]),), {})], fast)
    assert not once.ok and "ValueError" in once.reason, once.reason
    bare = verify(code, "def f(xs):\n    return min(xs), max(xs)\n", "f", inputs, fast)
    assert not bare.ok and "IndexError" in bare.reason, bare.reason


def test_verification_rejects_the_set_rewrite_where_a_string_means_substring():
    code = "def f(words, text):\n    return [w for w in words if w in text]\n"
    (rewrite,) = [c for c in candidates(code, "f") if c.rule == "membership-set"]
    verdict = verify(code, rewrite.source, "f", [((["ab", "x"], "cabd"), {})], Limits(seconds=20))
    assert not verdict.ok and "instead of" in verdict.reason


LOOP_CASES = [
    (
        "def f(xs, t):\n    for x in xs:\n        if x > t:\n            return True\n    return False\n",
        [(([1, 5, 2], 4), {}), (([], 0), {}), (([1], 1), {})],
    ),
    (
        "def f(start, graph):\n    seen = {start}\n    q = [start]\n    order = []\n    while q:\n"
        "        n = q.pop(0)\n        order.append(n)\n        for m in graph.get(n, ()):\n"
        "            if m not in seen:\n                seen.add(m)\n                q.append(m)\n    return order\n",
        [((1, {1: [2, 3], 2: [4], 3: [4], 4: [1]}), {}), ((9, {}), {})],
    ),
    (
        "import re\ndef f(lines):\n    n = 0\n    for line in lines:\n        if re.match(r'\\d+', line):\n"
        "            n += len(re.findall('[a-z]+', line))\n    return n\n",
        [((["12ab cd", "x1", "3"],), {}), (([],), {})],
    ),
    (
        "def f(ws):\n    c = {}\n    for w in ws:\n        if w in c:\n            c[w] += 1\n        else:\n"
        "            c[w] = 1\n    return c\n",
        [((["b", "a", "b", "c"],), {}), (([],), {})],
    ),
    (
        "def f(orders, users):\n    out = []\n    for o in orders:\n        for u in users:\n"
        "            if u['id'] == o[0]:\n                out.append((o[1], u['name']))\n    return out\n",
        [(([(1, "x"), (2, "y"), (1, "z")], [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]), {}), (([], []), {})],
    ),
    (
        "def f(xs):\n    out = []\n    for x in xs:\n        if x not in out:\n            out.append(x)\n"
        "    return out\n",
        [(([3, 1, 3, 2, 1],), {}), (([1, 1.0, True],), {})],
    ),
    (
        "def f(xs):\n    t = 0\n    for i in range(len(xs)):\n        x = xs[i]\n        t += x ** 2\n    return t\n",
        [(([1, 2, 3],), {}), (([0.5, 1e3],), {}), (([],), {})],
    ),
    ("def f(xs):\n    return sorted(xs, key=abs, reverse=True)[:3]\n", [(([-5, 3, 5, -3, 1],), {}), (([],), {})]),
]


def test_loop_rewrites_verify_on_inputs():
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    seen = set()
    for code, inputs in LOOP_CASES:
        for rewrite in candidates(code, "f"):
            seen.add(rewrite.rule)
            verdict = verify(code, rewrite.source, "f", inputs, fast)
            assert verdict.ok, (rewrite.rule, verdict.reason, rewrite.source)
    assert {"search-loop-builtin", "deque-queue", "compile-regex", "counter-loop", "pairwise-index"} <= seen
    assert {"seen-set-dedupe", "range-len-index", "square-multiply", "sorted-slice-heapq", "sum-loop"} <= seen


def test_sum_products_keeps_the_short_inputs_error_where_a_bare_map_would_not():
    code = "def f(a, b):\n    total = 0\n    for i in range(len(a)):\n        total += a[i] * b[i]\n    return total\n"
    (rewrite,) = [r for r in candidates(code, "f") if r.rule == "sum-products"]
    bare = "import operator\ndef f(a, b):\n    total = sum(map(operator.mul, a, b))\n    return total\n"
    inputs = [(([1.0, 2.0, 3.0], [4.0, 5.0]), {}), (([0.1] * 7, [0.3] * 9), {})]
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    assert verify(code, rewrite.source, "f", inputs, fast).ok
    assert not verify(code, bare, "f", inputs, fast).ok  # 9.0 where the original raised IndexError


_CAT = "def f(xs):\n    acc = []\n    for x in xs:\n        {}\n    return acc\n"

POSITIVE += [
    ("list-concat-append", _CAT.format("acc = acc + [x * 2]  # why"), "        acc.append(x * 2)  # why\n"),
    ("list-concat-append", _CAT.format("acc = acc + [x, -x]"), "        acc += [x, -x]\n"),
    ("list-concat-append", _CAT.format("acc = acc + [*x]"), "        acc += [*x]\n"),
    ("list-concat-append", _CAT.format("acc = acc + [y for y in x]; n = len(acc)"), "acc += [y for y in x]; n = len"),
    (
        "list-concat-append",  # looked at, sorted, searched, indexed, iterated elsewhere: one object is enough
        "def f(rows):\n    acc = [0]\n    i = 0\n    while i < len(rows):\n        acc = acc + [rows[i]]\n"
        "        if rows[i] in acc[1:] or len(acc) > 9:\n            acc.sort()\n            acc[0] = 1\n"
        "        i += 1\n"
        "    n = sum([a for a in acc])\n    for a in acc:\n        n += a\n    acc += [n]\n    return acc\n",
        "        acc.append(rows[i])\n",
    ),
]

NEGATIVE += [
    ("list-concat-append", "def f(xs):\n    acc = []\n    acc = acc + [xs]\n    return acc\n"),  # not in a loop
    ("list-concat-append", "def f(xs, acc):\n    for x in xs:\n        acc = acc + [x]\n    return acc\n"),  # caller's
    (
        "list-concat-append",
        "def f(xs, keep):\n    acc = []\n    for x in xs:\n        keep.append(acc)\n"
        "        acc = acc + [x]\n    return acc\n",
    ),  # the old list escapes
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        old = acc")),  # an alias
    ("list-concat-append", _CAT.replace("acc = []", "acc = other = []").format("acc = acc + [x]")),
    ("list-concat-append", _CAT.replace("acc = []", "acc = list(xs)").format("acc = acc + [x]")),  # maybe no list
    ("list-concat-append", _CAT.format("acc = acc + xs")),  # a tuple there raised TypeError; += would extend
    ("list-concat-append", _CAT.format("acc = acc + [acc]")),  # the item is the old list
    ("list-concat-append", _CAT.format("acc = acc + [  # why\n            x,\n        ]")),  # a comment
    ("list-concat-append", _CAT.format("acc = [x] + acc")),
    ("list-concat-append", "def f(xs):\n    acc = []\n    for x in acc:\n        acc = acc + [x]\n    return acc\n"),
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        yield acc")),  # a generator hands it out
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        g = lambda: acc")),  # a closure
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        print(acc)")),  # a call may keep it
    ("list-concat-append", _CAT.format("push = acc.append\n        acc = acc + [x]\n        push(x)")),  # old list
    ("list-concat-append", _CAT.format("it = acc.__iter__()\n        acc = acc + [x]")),
    ("list-concat-append", _CAT.format("acc = acc + [x]").replace("    return acc", "    del acc")),
    ("list-concat-append", "len = max\n\n\n" + _CAT.format("acc = acc + [x]\n        n = len(acc)")),
    (
        "list-concat-append",  # the finally concatenates after the return read the list
        _CAT.format("acc = acc + [x]").replace(
            "    return acc", "    try:\n        return acc\n    finally:\n        acc = acc + [0]"
        ),
    ),
]

NEGATIVE += [  # found in review: each reached the old list after a concatenation
    (
        "list-concat-append",
        _CAT.replace("    for x", "    g = (y for y in acc)\n    for x").format("acc = acc + [x]"),
    ),  # a lazy iterator
    ("list-concat-append", _CAT.replace("    for x", "    snap = locals()\n    for x").format("acc = acc + [x]")),
    ("list-concat-append", _CAT.replace("    for x", "    old = eval('acc')\n    for x").format("acc = acc + [x]")),
    (
        "list-concat-append",
        _CAT.replace("    for x", "    old = sys._getframe(0).f_locals\n    for x").format("acc = acc + [x]"),
    ),
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        acc *= x")),  # x.__rmul__ would get the list
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        acc += x")),  # x.__radd__ too
    ("list-concat-append", _CAT.format("acc = acc + [x]\n        if 0 in acc in x:\n            pass")),
    ("list-concat-append", "from lenlib import *\n\n\n" + _CAT.format("acc = acc + [x]\n        n = len(acc)")),
]


def test_list_concat_append_verifies_and_appending_to_the_callers_list_does_not():
    fresh = "def f(xs, start):\n    acc = []\n    for x in xs + start:\n        acc = acc + [x]\n    return acc\n"
    (rewrite,) = [r for r in candidates(fresh, "f") if r.rule == "list-concat-append"]
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    inputs = [(([1, 2, 3], [9]), {}), (([], [9]), {}), ((["a"], []), {})]
    assert verify(fresh, rewrite.source, "f", inputs, fast).ok
    # Where the list is the caller's (the rule refuses: acc = start is no fresh list), appending changes it.
    callers = fresh.replace("acc = []", "acc = start").replace("xs + start", "xs")
    assert "list-concat-append" not in applied(callers)
    shared = callers.replace("acc = acc + [x]", "acc.append(x)")
    rejected = verify(callers, shared, "f", inputs, fast)
    assert not rejected.ok and "argument" in rejected.reason, rejected.reason  # the caller's list grew


_FMT = "def f(a, b):\n    return {}\n"

POSITIVE += [
    ("format-fstring", _FMT.format('"{}: {!r}".format(a, b)'), 'return f"{a}: {b!r}"\n'),
    ("format-fstring", _FMT.format("'{1} {0} {1}'.format(a, b)"), 'return f"{b} {a} {b}"\n'),
    ("format-fstring", _FMT.format('"{k}={}".format(a, k=b)'), 'return f"{b}={a}"\n'),
    ("format-fstring", _FMT.format('"{{{}}}\\n{!s}".format(a, b)'), 'return f"{{{a}}}\\n{b!s}"\n'),  # braces, escapes
    ("format-fstring", _FMT.format("r'\\d{}'.format(a) + b"), 'return f"\\\\d{a}" + b\n'),  # a raw string
    ("format-fstring", _FMT.format("'{}\\'s'.format(a)"), 'return f"{a}\'s"\n'),
]

NEGATIVE += [
    ("format-fstring", _FMT.format('"{:>3}".format(a)')),  # a format spec: measured slower as an f-string
    ("format-fstring", _FMT.format('"{}".format(a, b)')),  # b unused: it would no longer be read
    ("format-fstring", _FMT.format('"{}{1}".format(a, b)')),  # automatic and manual numbering: ValueError
    ("format-fstring", _FMT.format('"{0.real}".format(a)')),
    ("format-fstring", _FMT.format('"{0[1]}".format(a)')),
    ("format-fstring", _FMT.format('"{2}".format(a, b)')),  # IndexError
    ("format-fstring", _FMT.format('"{k}".format(a)')),  # KeyError
    ("format-fstring", _FMT.format('"{}".format(a + 1)')),  # an expression: evaluated earlier than before
    ("format-fstring", _FMT.format('"{}".format(*a)')),
    ("format-fstring", _FMT.format('"{}".format(None)')),
    ("format-fstring", _FMT.format('b"{}".format(a)')),
    ("format-fstring", _FMT.format('"{".format(a)')),  # does not parse as a format
    ("format-fstring", _FMT.format("a.format(b)")),  # not a literal
    ("format-fstring", _FMT.format('"%s" % a')),  # already as fast as an f-string
]

NEGATIVE += [  # found in review
    ("format-fstring", _FMT.format('"{ﬁ}".format(ﬁ=a)')),  # the parser reads the keyword as "fi": KeyError
    ("format-fstring", _FMT.format('"{²}".format(a)')),  # "²".isdigit(): int("²") used to raise here
    ("format-fstring", "G = 1\n\n\n" + _FMT.format('"{}{}".format(a, G)')),  # a global a __format__ may rebind
    ("format-fstring", _FMT.format('"{}{}".format(a, b)').replace("    return", "    def g():\n        b\n    return")),
    ("format-fstring", _FMT.format('"{}{}".format(a, b)').replace("    return", "    del b\n    return")),
    ("format-fstring", _FMT.format("f\"{'{}'.format(a)}\"")),  # inside another f-string: quotes before 3.12
    ("format-fstring", _FMT.format('"{}: {}".format(\n        a,  # the key\n        b,\n    )')),  # a comment
    ("format-fstring", "def f(a) -> '{}'.format(a):\n    return a\n"),  # an annotation
]


def test_format_fstring_verifies_and_a_str_conversion_where_format_differs_does_not():
    code = src("""
        class Money:
            def __init__(self, c):
                self.c = c

            def __format__(self, spec):
                return f"${self.c / 100:.2f}"

            def __str__(self):
                return f"{self.c} cents"


        def f(items):
            return ["{}: {!r}".format(Money(c), n) for n, c in items]
    """)
    assert "format-fstring" not in applied(code)  # Money(c) is no plain name: left alone
    code = code.replace('"{}: {!r}".format(Money(c), n)', '"{}: {!r}".format(m, n)').replace(
        "for n, c in items]", "for n, c in items for m in [Money(c)]]"
    )
    (rewrite,) = [r for r in candidates(code, "f") if r.rule == "format-fstring"]
    assert 'f"{m}: {n!r}"' in rewrite.source
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    inputs = [(([("a", 150), ("b", 7)],), {}), (([],), {})]
    assert verify(code, rewrite.source, "f", inputs, fast).ok
    as_str = rewrite.source.replace('f"{m}: {n!r}"', 'f"{m!s}: {n!r}"')  # str() where format() was called
    rejected = verify(code, as_str, "f", inputs, fast)
    assert not rejected.ok and "cents" in rejected.reason, rejected.reason


def test_format_fstring_gives_the_same_text_on_random_formats_and_values():
    import random

    from slipstream.optimizer.rules.expressions import _fstring

    class Fmt:
        def __format__(self, spec):
            return "F" + spec

        def __repr__(self):
            return "R"

        def __str__(self):
            return "S"

    class Sub(str):
        pass

    rng = random.Random(5)
    pieces = ["a", " ", "{{", "}}", "'", '"', "\\", "\n", "\t", "é", "\x00", "%s", "\u2028"]
    made = 0
    for _ in range(400):
        n = rng.randint(1, 3)
        names = [f"v{i}" for i in range(n)]
        manual = rng.random() < 0.5
        order = list(range(n))  # automatic numbering: each argument once, in order
        if manual:  # {0}, {1}...: any order, some twice
            order += [rng.randrange(n) for _ in range(rng.randint(0, 2))]
            rng.shuffle(order)
        text = ""
        for i in order:
            conv = rng.choice(["", "!r", "!s", "!a"])
            text += "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
            text += "{" + (str(i) if manual else "") + conv + "}"
        text += rng.choice(pieces)
        source = _fstring(text, names, {})
        assert source is not None, text
        compile(source, "<f>", "eval")
        for _ in range(3):
            values = {v: rng.choice([1, -2.5, "x'y", Sub("s"), Fmt(), None, b"b", ("t",)]) for v in names}
            assert eval(source, {}, values) == text.format(*(values[v] for v in names)), (text, source)
        made += 1
    assert made == 400


_POP = "def f(b):\n    c = 0\n    while b:\n        c += b & 1\n        b >>= 1\n    return c\n"

POSITIVE += [
    ("small-int-table", _POP, "        if hit is None:\n            hit = _f_table[b] = (_f_computed(b),)\n"),
    (
        "small-int-table",
        'def f(n: int) -> int:\n    """Sum of the digits."""\n    s = 0\n    while n:\n        s += n % 10\n'
        "        n //= 10\n    return s\n",
        'def f(n: int) -> int:\n    """Sum of the digits."""\n    if type(n) is int and 0 <= n < 256:\n',
    ),
    ("small-int-table", "def f(k):\n    return ''.join(chr(65 + i) for i in range(k))\n", "return _f_computed(k)\n"),
]

NEGATIVE += [
    ("small-int-table", "class C:\n    def f(self, b):\n        return sum(b >> i & 1 for i in range(8))\n"),
    ("small-int-table", _POP.replace("(b)", "(b, k)")),  # two parameters
    ("small-int-table", _POP.replace("(b)", "(b=0)")),
    ("small-int-table", _POP.replace("(b)", "(*b)")),
    ("small-int-table", "import functools\n\n\n@functools.cache\n" + _POP),
    (
        "small-int-table",
        "def f(b):\n    return sum(1 for _ in range(b & 1)) + (f(b >> 1) if b > 1 else 0)\n",
    ),  # recursive
    ("small-int-table", "def f(b):\n    return b & 255\n"),  # no loop: cheaper than the lookup
    ("small-int-table", "def f(b):\n    return [b >> i & 1 for i in range(8)]\n"),  # a list: callers could change it
    ("small-int-table", _POP.replace("    return c", "    print(c)\n    return c")),  # impure
    ("small-int-table", "def f(s):\n    n = 0\n    for ch in s:\n        n += ch == 'a'\n    return n\n"),  # no int use
    ("small-int-table", "type = print\n\n\n" + _POP),
    ("small-int-table", "def int(x):\n    return x\n\n\n" + _POP),
    ("small-int-table", "async " + _POP),
]

NEGATIVE += [  # found in review: each gave a stale or shared answer from the table
    (
        "small-int-table",
        "W = [1, 2]\n\n\ndef f(n):\n    t = 0\n    for i in range(n):\n        t += int(W[i % 2])\n    return t\n",
    ),
    (
        "small-int-table",
        "import random as rnd\n\n\n" + _POP.replace("    return c", "    return c + int(rnd.randrange(9))"),
    ),
    (
        "small-int-table",
        "def g(x):\n    return x\n\n\n" + _POP.replace("    return c", "    return c + int(g(c))"),
    ),  # a helper
    ("small-int-table", _POP.replace("    return c", "    return c + int(len(LOG))")),
    ("small-int-table", _POP.replace("    return c", "    return c + int(g(c - 1))") + "\n\ng = f\n"),
    ("small-int-table", _POP.replace("(b):\n", "(b):\n    import math\n")),
]

POSITIVE += [
    (
        "small-int-table",
        _POP.replace("(b):\n", '(b):\n    "Bits " "set."\n'),
        '(b):\n    "Bits " "set."\n    if type(b)',
    ),
]

NEGATIVE += [  # found in review of the table rule: a remembered result must not depend on module state
    (
        "cache-pure-recursion",  # a module list another function may change between calls
        "W = [1, 2, 3]\n\n\ndef f(n):\n    return 0 if n < 1 else int(W[n % 3]) + f(n - 1)\n",
    ),
    (
        "cache-pure-recursion",  # a setting another function rebinds
        "S = 2\n\n\ndef set_s(v):\n    global S\n    S = v\n\n\n"
        "def f(n):\n    return 0 if n < 1 else f(n - 1) + int(S)\n",
    ),
    (
        "cache-pure-recursion",  # randomness under another name
        "import random as rnd\n\n\ndef f(n):\n    return 0 if n < 1 else f(n - 1) + int(rnd.randrange(3))\n",
    ),
]

POSITIVE += [
    (
        "cache-pure-recursion",  # a constant and a pure module read the same on every call
        "import math\n\nLIMIT = 2 * 1\n\n\n"
        "def f(n):\n    return int(math.sqrt(n)) if n < LIMIT else f(n - 1) + f(n - 2)\n",
        "@functools.cache\ndef f(n):",
    ),
]


def test_small_int_table_verifies_and_a_table_that_takes_bools_for_ints_does_not():
    code = "def f(n):\n    out = ()\n    for i in range(n % 3 + 1):\n        out += (str(n),)\n    return out\n"
    (rewrite,) = [r for r in candidates(code, "f") if r.rule == "small-int-table"]
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    inputs = [((1,), {}), ((True,), {}), ((300,), {}), ((-1,), {}), ((1.0,), {}), ((1,), {})]
    assert verify(code, rewrite.source, "f", inputs, fast).ok
    loose = rewrite.source.replace("type(n) is int", "isinstance(n, int)")  # True would find 1's entry
    assert loose != rewrite.source
    rejected = verify(code, loose, "f", inputs, fast)
    assert not rejected.ok and "True" in rejected.reason, rejected.reason


def test_minmax_compare_verifies_and_a_comparison_that_takes_ties_does_not():
    code = "def f(xs, m):\n    for x in xs:\n        m = max(m, x)\n    return m\n"
    (rewrite,) = [r for r in candidates(code, "f") if r.rule == "minmax-compare"]
    ties = code.replace("m = max(m, x)", "if x >= m:\n            m = x")  # takes the later of equal values
    inputs = [
        (([1.0, 3, 3.0, 2],), {"m": 0}),
        (([2.0],), {"m": 2}),
        (([],), {"m": -1}),
        (([float("nan"), 1],), {"m": 0}),
    ]
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    assert verify(code, rewrite.source, "f", inputs, fast).ok
    rejected = verify(code, ties, "f", inputs, fast)
    assert not rejected.ok and "returns 3.0 instead of 3" in rejected.reason, rejected.reason


def test_a_compiled_pattern_goes_before_the_class_and_verifies_on_a_method(tmp_path):
    code = src("""
        import re


        class Lines:
            def f(self, s):
                return re.split(r"\\r?\\n", s)
    """)
    (rewrite,) = [r for r in candidates(code, "Lines.f") if r.rule == "compile-regex"]
    assert '\n\n\n_f_re = re.compile(r"\\r?\\n")\n\n\nclass Lines:' in rewrite.source, rewrite.source
    assert "return _f_re.split(s)" in rewrite.source
    inputs = [((None, "a\r\nb\nc"), {}), ((None, ""), {})]  # self unused
    fast = Limits(seconds=20, memory_bytes=512 << 20)
    assert verify(code, rewrite.source, "Lines.f", inputs, fast).ok
    # a pattern changed in the rewrite is caught
    wrong = rewrite.source.replace('r"\\r?\\n"', 'r"\\n"')
    assert not verify(code, wrong, "Lines.f", inputs, fast).ok
    # from a workspace the variant's def runs in the real module's namespace: its constant comes along
    (tmp_path / "lines.py").write_text(code)
    ws = {"workspace": str(tmp_path), "module": "lines"}
    assert verify(code, rewrite.source, "Lines.f", inputs, fast, **ws).ok
    assert not verify(code, wrong, "Lines.f", inputs, fast, **ws).ok


def test_verification_catches_what_preconditions_cannot_see():
    # A dict indexed by position: iterating it yields keys, not values.
    code = "def f(xs):\n    t = 0\n    for i in range(len(xs)):\n        t += xs[i]\n    return t\n"
    (rewrite,) = [c for c in candidates(code, "f") if c.rule == "range-len-index"]
    verdict = verify(code, rewrite.source, "f", [(({0: 5, 1: 7},), {})], Limits(seconds=20))
    assert not verdict.ok
    # Unhashable keys: the dict index raises where the nested loop compared with ==.
    code = (
        "def f(a, b):\n    out = []\n    for x in a:\n        for y in b:\n            if x[0] == y[0]:\n"
        "                out.append(y)\n    return out\n"
    )
    (rewrite,) = [c for c in candidates(code, "f") if c.rule == "pairwise-index"]
    verdict = verify(code, rewrite.source, "f", [(([([1],)], [([1],)]), {})], Limits(seconds=20))
    assert not verdict.ok and "raise" in verdict.reason
    # A consumer that raises part-way: the list has evaluated an item the generator never reached.
    code = "def f(d, ks):\n    return sum(d[k] for k in ks)\n"
    (rewrite,) = [c for c in candidates(code, "f") if c.rule == "consumer-list"]
    fine = verify(code, rewrite.source, "f", [(({"a": 1, "b": 2}, ["a", "b", "a"]), {})], Limits(seconds=20))
    assert fine.ok, fine.reason
    verdict = verify(code, rewrite.source, "f", [(({"a": "x", "b": 1}, ["b", "a", "c"]), {})], Limits(seconds=20))
    assert not verdict.ok and "KeyError" in verdict.reason and "TypeError" in verdict.reason, verdict.reason


# ── one purity vocabulary: the caching rule and optimizer/purity.py read the same table ──────────────────


def _recursive_calling(call: str, imports: str = "") -> str:
    return f"{imports}def f(n, p):\n    x = {call}\n    return x if n < 1 else f(n - 1, p)\n"


def _cached(code: str) -> bool:
    return "cache-pure-recursion" in applied(code)


VOCABULARY = [
    *[(MODULES[n], _recursive_calling(f"{n}.thing(n)", f"import {n}\n")) for n in sorted(MODULES)],
    *[(BUILTINS[n], _recursive_calling(f"{n}(p)")) for n in sorted(BUILTINS)],
    *[(METHODS[n], _recursive_calling(f"p.{n}()")) for n in sorted(METHODS)],
]


@pytest.mark.parametrize(("entry", "code"), VOCABULARY)
def test_every_impure_call_blocks_caching_and_only_what_it_reads_refuses_the_pipeline(entry, code):
    assert not _cached(code)
    reason = impurity(code, "f")
    assert (entry.what in reason) if entry.reads else reason == "", reason


def test_the_vocabulary_is_the_union_of_the_two_former_lists():
    # What the caching rule alone used to list (builtins and modules), and what purity.py alone did.
    rules_only = {"print", "setattr", "delattr", "globals", "vars", "sys", "itertools"}
    purity_only = {"shutil", "pathlib", "glob", "tempfile", "socket", "requests", "subprocess"}
    purity_only |= {"urllib.request", "http.client"}  # urllib.parse and http.HTTPStatus only compute
    purity_only |= {"sqlite3", "read_text", "write_text", "read_bytes", "write_bytes", "now", "today", "utcnow"}
    both = {"open", "input", "exec", "eval", "random", "time", "datetime", "os", "secrets", "uuid"}
    assert rules_only | purity_only | both <= set(MODULES) | set(BUILTINS) | set(METHODS)
    assert MUTATORS <= set(METHODS)  # a mutating call blocks caching as it always did


def test_a_case_from_each_former_list_now_holds_for_both():
    # From the caching rule's list: the pipeline now refuses what reads the interpreter or module state.
    assert "the interpreter's state" in impurity(_recursive_calling("sys.getrecursionlimit()", "import sys\n"), "f")
    assert "module state" in impurity(_recursive_calling("globals()"), "f")
    # ... and what only acts is left to verification, which sees prints, writes and results.
    assert impurity(_recursive_calling("print(n)"), "f") == ""
    assert impurity(_recursive_calling("itertools.count(n)", "import itertools\n"), "f") == ""
    # From purity.py's list: the caching rule now refuses the clock, files and processes.
    assert not _cached(_recursive_calling("datetime.date.today()", "import datetime\n"))
    assert not _cached(_recursive_calling("p.read_text()"))
    assert not _cached(_recursive_calling("subprocess.run(p)", "import subprocess\n"))
    assert not _cached(_recursive_calling("shutil.which(p)", "import shutil\n"))
    # Imports inside the function and aliases count for both.
    inner = "def f(n, p):\n    import random as r\n    return r.random() if n < 1 else f(n - 1, p)\n"
    assert not _cached(inner) and "randomness" in impurity(inner, "f")
    # Effects no table names: state between calls, generators, writes into an object.
    for body in ("    global G\n", "    yield n\n", "    p.x = n\n", "    p[0] = n\n", "    del p[0]\n"):
        assert not _cached(f"def f(n, p):\n{body}    return n if n < 1 else f(n - 1, p)\n"), body
    # And what is pure still is cached.
    assert _cached("import math\ndef f(n, p):\n    return math.sqrt(n) if n < 1 else f(n - 1, p)\n")
    assert _cached("import os\ndef f(n, p):\n    return os.path.join(p, 'x') if n < 1 else f(n - 1, p)\n")


# ── one engine: candidates and compose ────────────────────────────────────────────────────────────────────


def test_compose_uses_the_same_target_and_imports_as_candidates():
    code = src('''
        """Doc."""
        from __future__ import annotations


        def f(xs):
            return sorted(xs)[:3]


        class Queue:
            def f(self, items):
                q = list(items)
                out = []
                while q:
                    out.append(q.pop(0))
                return sorted(out)[:2], sorted(out)[0]
    ''')
    rules = [c.rule for c in candidates(code, "Queue.f", python=(3, 10))]
    assert rules == ["sorted-index", "deque-queue", "hoist-method-lookup", "sorted-slice-heapq"], rules
    # 3.11's specialising interpreter made hoisting method lookups worthless: not offered there
    rules = [c.rule for c in candidates(code, "Queue.f", python=(3, 11))]
    assert rules == ["sorted-index", "deque-queue", "sorted-slice-heapq"], rules
    assert [r.name for r in RULES if r not in offered((3, 12))] == ["hoist-method-lookup"]
    both = compose(code, "Queue.f", ["deque-queue", "sorted-slice-heapq"])
    assert both is not None and both.rule == "deque-queue+sorted-slice-heapq"
    lines = both.source.splitlines()
    assert lines[1:4] == ["from __future__ import annotations", "import heapq", "import collections"], lines
    assert "    return sorted(xs)[:3]" in lines  # the module-level f is not the target
    assert compose(code, "Queue.f", ["deque-queue"]) is None  # one rule is a candidate, not a combination
    assert compose(code, "missing", [r.name for r in RULES]) is None and compose("def (:", "f", rules) is None


def test_nested_defs_are_never_rewritten():
    # The sandbox loads a function by attribute path, which a def inside a def has not.
    code = "def f(xs):\n    def g(ys):\n        return sorted(ys)[0]\n    return g(xs)\n"
    assert candidates(code, "f.g") == [] and mutants(code, "f.g", "i") == []
    assert parse_proposal(code, "f.g", "        return ys[0]\n") is None


def test_a_rule_that_raises_costs_only_its_own_candidate(caplog):
    """Found in review: a rule's exception (format-fstring's int("²")) escaped candidates(), and the
    function lost every other rewrite with it."""
    from slipstream.optimizer.rules import engine
    from slipstream.optimizer.rules.engine import Rule

    def boom(fn):
        raise ValueError("a rule's bug")

    keys = next(r for r in RULES if r.name == "keys-membership")
    code = "def f(d, k):\n    return k in d.keys()\n"
    out = engine.candidates(code, "f", [Rule("boom", "", boom), keys])
    assert [r.rule for r in out] == ["keys-membership"]
    assert "rule boom failed" in caplog.text
    assert engine.compose(code, "f", ["boom", "keys-membership"], [Rule("boom", "", boom), keys]) is None
