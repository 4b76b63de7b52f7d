"""Forged verdicts and timings: variants that attack verification (optimizer/verify.py), measurement
(optimizer/measure.py) and the static check model proposals pass first (optimizer/reach.py).

What this proves:

- a wrong variant is rejected by ``verify`` however it lies about itself through its own classes, a copy of
  the judge, the exit path, or what it writes on its protocol descriptor (a crafted pickle before, after or
  instead of the result mark, JSON that is not a report): each is a rejection, nothing is ever unpickled;
- ``measure`` stays honest (speedup < 1.5 for an unchanged or slower body) when a variant patches the
  clocks, and refuses a variant that behaves differently when timed than when checked;
- code that reaches its own process's harness (the job pickle, the drivers in ``sys.modules``, its protocol
  descriptor) can forge its own report and timings: that is inherent to running code in the process that
  reports on it, so ``verify``/``measure`` called directly are not the guarantee. The pipeline's is: the
  static check refuses every forging body before it runs (here; the pipeline itself in
  test_pipeline_attacks.py), and ``test_each_forging_body_is_live_against_the_direct_api`` keeps the bodies
  honest (each does forge what it is given when it runs);
- plus the invariants of conftest.World.check for everything that runs.

No case is marked xfail: every hole this suite found was closed (REACH_HOLES and FAKE_TYPE_WHY say what
each was).
"""

from __future__ import annotations

import pytest
from slipstream.optimizer import judge
from slipstream.optimizer.measure import measure
from slipstream.optimizer.reach import out_of_reach
from slipstream.optimizer.sandbox import HARNESS, RESULT_MARK, Limits
from slipstream.optimizer.verify import verify

from tests.security.attacks import (
    CALC,
    FORGED,
    FORGING,
    LAZY_LIST,
    LOOP,
    MEMO,
    OS_CALC,
    PROTOCOL_FD,
    REACH,
    SANDBOX_BY_FORMAT,
    TIMING_HIJACKER,
)

LIMITS = Limits(seconds=10, memory_bytes=512 << 20)
INPUTS = [((list(range(n)),), {}) for n in (0, 1, 7, 300)]
JUDGE = str(HARNESS.parent / "judge.py")
MARK = repr(RESULT_MARK)

VEC = """\
class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y


def scale(x, y, k):
    VARIANT
"""
VEC_ORIGINAL = VEC.replace("VARIANT", "return Vec(x * k, y * k)")
VEC_INPUTS = [((1, 2, 3), {}), ((0, -4, 2), {})]
FIRST = "def first(xs):\n    return xs[0]\n"
FIRST_INPUTS = [(([],), {}), (([3, 4],), {})]

CRAFTED_PICKLE = """\
    import os, pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("open(PWNED, 'w').write('pwned'); __import__('builtins').SLIPSTREAM_PWNED = True",))

"""


def total(body: str) -> str:
    return "def total(xs):\n" + body


def on_calc(body: str) -> tuple[str, str, list, str]:
    return (CALC, "total", INPUTS, total(body))


REJECTED = {  # label -> (module, function, inputs, variant, what the rejection says)
    "a wrong Vec, with Vec.__eq__ and __hash__ patched to say equal": (
        VEC_ORIGINAL,
        "scale",
        VEC_INPUTS,
        VEC.replace("VARIANT", "Vec.__eq__ = lambda a, b: True\n    Vec.__hash__ = lambda a: 0\n    return Vec(0, 0)"),
        "input 0",
    ),
    "a wrong result, with a copy of the judge loaded and patched to accept anything": (
        *on_calc(f"""\
    import importlib.util
    spec = importlib.util.spec_from_file_location("slipstream.optimizer.judge", {JUDGE!r})
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    copy.compare_rows = lambda *a, **k: ""
    copy.same_tree = lambda *a, **k: True
    return -1
"""),
        "input 0",
    ),
    "right only when pytest is imported": (
        *on_calc('    import sys\n    return sum(xs) if "pytest" in sys.modules else -1\n'),
        "input 0",
    ),
    "right only where the harness is absent": (
        *on_calc('    import sys\n    return -1 if "_slipstream_sandboxed" in sys.modules else sum(xs)\n'),
        "input 0",
    ),
    "os._exit(0) from inside the first call": (*on_calc("    import os\n    os._exit(0)\n"), "without a result"),
    "raise SystemExit(0) from the call": (*on_calc("    raise SystemExit(0)\n"), "input 0"),
    "a crafted pickle on its protocol descriptor, then os._exit(0)": (
        *on_calc(CRAFTED_PICKLE + PROTOCOL_FD + "    os.write(fd, pickle.dumps(Boom()))\n    os._exit(0)\n"),
        "without a result",
    ),
    "a crafted pickle after the mark on its protocol descriptor, then os._exit(0)": (
        *on_calc(CRAFTED_PICKLE + PROTOCOL_FD + f"    os.write(fd, {MARK} + pickle.dumps(Boom()))\n    os._exit(0)\n"),
        "unreadable result",
    ),
    "a crafted pickle after the mark, then the descriptor silenced: the driver's own result is lost": (
        *on_calc(
            CRAFTED_PICKLE
            + PROTOCOL_FD
            + "    if fd is not None:\n"
            + f"        os.write(fd, {MARK} + pickle.dumps(Boom()) + b'\\n')\n"
            + "        null = os.open(os.devnull, os.O_WRONLY)\n"
            + "        os.dup2(null, fd)\n"
            + "    return sum(xs)\n"
        ),
        "unreadable result",
    ),
    "a crafted pickle after a mark, written by an atexit hook after the driver's own result": (
        *on_calc(
            CRAFTED_PICKLE
            + "    import atexit\n"
            + PROTOCOL_FD
            + f"    atexit.register(os.write, fd, {MARK} + pickle.dumps(Boom()) + b'\\n')\n"
            + "    return sum(xs)\n"
        ),
        "unreadable result",
    ),
    "the mark and a crafted pickle on stdout (now /dev/null) and on stderr, and a wrong result": (
        *on_calc(
            CRAFTED_PICKLE
            + f"    os.write(1, {MARK} + pickle.dumps(Boom()) + b'\\n')\n"
            + f"    os.write(2, {MARK} + pickle.dumps(Boom()) + b'\\n')\n"
            + "    return -1\n"
        ),
        "input 0",
    ),
    "valid JSON that is not a report after the mark, then os._exit(0)": (
        *on_calc(
            "    import os\n"
            + PROTOCOL_FD
            + f'    os.write(fd, {MARK} + b\'{{"runs": [[{{"k": "return"}}]]}}\\n\')\n'
            + "    os._exit(0)\n"
        ),
        "incomplete or malformed",
    ),
    "a report whose work-directory listing is not one, then os._exit(0)": (
        *on_calc(
            "    import os\n" + PROTOCOL_FD + f"    os.write(fd, {MARK} + b'{{\"_files\": [1]}}\\n')\n    os._exit(0)\n"
        ),
        "malformed",
    ),
    "the protocol descriptor closed, so that the driver cannot report": (
        *on_calc(
            "    import os\n" + PROTOCOL_FD + "    if fd is not None:\n        os.close(fd)\n    return sum(xs)\n"
        ),
        "exit 1",
    ),
    "a fake IndexError: a class made with type(), named builtins.IndexError": (
        FIRST,
        "first",
        FIRST_INPUTS,
        """\
def first(xs):
    if not xs:
        fake = type("IndexError", (LookupError,), {"__module__": "builtins", "__qualname__": "IndexError"})
        raise fake("list index out of range")
    return xs[0]
""",
        "input 0",
    ),
}
FAKE_TYPE_WHY = (
    "HOLE: the canonical encoding names a type by its __module__ and __qualname__, which any class may set: "
    "a variant that raises (or returns) an instance of a class it made with type(name, bases, namespace) "
    "named builtins.IndexError reports exactly what the original's real IndexError does, yet `except "
    "IndexError` in the user's program does not catch it. optimizer/reach.py refuses class statements but "
    "lets type() with three arguments through (see REACH_HOLES)"
)


def run_verify(world, module: str, name: str, inputs: list, variant: str):
    variant = variant.replace("PWNED", repr(str(world.pwned)))
    verdict = verify(module, variant, name, inputs, LIMITS)
    world.record(verdict.reason, verdict.mismatches, verdict.rows)
    return verdict


@pytest.mark.parametrize("label", list(REJECTED))
def test_a_wrong_variant_is_rejected_by_verify(world, label):
    module, name, inputs, variant, why = REJECTED[label]
    verdict = run_verify(world, module, name, inputs, variant)
    world.check()
    assert not verdict.ok, verdict
    assert why in verdict.reason, verdict.reason


# -- forging: live against the direct API, refused before it runs by the pipeline -------------------------

# The pipeline's forging bodies (attacks.FORGING), behind the route the old check let through.
FORGED_IN_PIPELINE = {label: total(REACH + body) for label, body in FORGING.items()}
DIRECT = "    import sys\n    s = sys\n    m = sys.modules\n"  # the same bodies, for the direct API


@pytest.mark.parametrize("label", [*FORGED, *FORGED_IN_PIPELINE])
def test_the_static_check_refuses_every_forging_body(label):
    module = FORGED.get(label) or FORGED_IN_PIPELINE[label]
    why = out_of_reach(module, "total", CALC)
    assert why, "let through"


@pytest.mark.parametrize("label", list(FORGED))
def test_each_forging_body_is_live_against_the_direct_api(world, label):
    """Not a property of the product: ``verify`` runs what it is given, and these bodies do forge it (a
    wrong variant accepted). It keeps the static check's cases above honest: what it refuses would work."""
    verdict = run_verify(world, CALC, "total", INPUTS, FORGED[label])
    world.check()
    assert verdict.ok, verdict.reason


def test_the_timing_hijacker_is_live_against_the_direct_api(world):
    """Likewise for ``measure``: the unchanged loop answering the timing requests itself measures faster."""
    hijacker = total(DIRECT + TIMING_HIJACKER)
    verdict = verify(CALC, hijacker, "total", TIMED_INPUTS, LIMITS)
    assert verdict.ok, verdict  # it is the original's loop: right
    ref = verify(CALC, CALC, "total", TIMED_INPUTS, LIMITS)
    expected = (judge.outcome_digest(ref.rows), judge.outcome_digest(verdict.rows))
    m = measure(CALC, hijacker, "total", TIMED_INPUTS, rounds=7, min_round_s=0.02, limits=LIMITS, expected=expected)
    world.record(m, verdict.reason)
    world.check()
    assert not isinstance(m, str) and m.speedup > 1.5, m


# -- measurement ------------------------------------------------------------------------------------------

TIMED_INPUTS = [((list(range(3000)),), {})]
PATCH_CLOCKS = """\
    import time
    time.perf_counter = lambda: 0.0
    time.perf_counter_ns = lambda: 0
    time.monotonic = lambda: 0.0
    time.process_time = lambda: 0.0
    time.time = lambda: 0.0
"""
SLOW_LOOP = LOOP.replace("    return out", "    for x in xs:\n        out = out + 0 * x\n    return out")

HONEST = {
    "the clocks patched, the body unchanged": total(PATCH_CLOCKS + LOOP),
    "the clocks patched, the body twice as slow": total(PATCH_CLOCKS + SLOW_LOOP),
}


@pytest.mark.parametrize("label", list(HONEST))
def test_patched_clocks_do_not_make_a_variant_look_faster(world, label):
    m = measure(CALC, HONEST[label], "total", TIMED_INPUTS, rounds=7, min_round_s=0.02, limits=LIMITS)
    world.record(m)
    assert not isinstance(m, str), m
    assert m.speedup < 1.5, m
    world.check()


def test_a_pickle_on_the_protocol_channel_ends_the_measurement(world):
    variant = total(
        CRAFTED_PICKLE
        + """\
    import gc
    for o in gc.get_objects():
        if type(o).__name__ == "Channel":
            os.write(o._write_fd, pickle.dumps(Boom()) + b"\\n")
"""
        + LOOP
    ).replace("PWNED", repr(str(world.pwned)))
    m = measure(CALC, variant, "total", TIMED_INPUTS, rounds=7, min_round_s=0.02, limits=LIMITS)
    world.record(m)
    assert isinstance(m, str) and "unreadable answer" in m, m
    world.check()


def test_a_variant_that_is_fast_and_wrong_only_when_timed_is_refused(world):
    """Right when verified, wrong (and instant) in the timing process: the per-batch digest catches it,
    given the verified outcomes as the pipeline passes them."""
    variant = total('    import sys\n    if "_slipstream_sandboxed.timing" in sys.modules:\n        return 0\n' + LOOP)
    verdict = verify(CALC, variant, "total", TIMED_INPUTS, LIMITS)
    assert verdict.ok, verdict
    ref = verify(CALC, CALC, "total", TIMED_INPUTS, LIMITS)
    expected = (judge.outcome_digest(ref.rows), judge.outcome_digest(verdict.rows))
    m = measure(CALC, variant, "total", TIMED_INPUTS, rounds=7, min_round_s=0.02, limits=LIMITS, expected=expected)
    world.record(m, verdict.reason)
    assert isinstance(m, str) and "returned something else" in m, m
    world.check()


# -- the static check model proposals pass first (optimizer/reach.py) -------------------------------------

REACH_BYPASSES = {  # each reaches sys, os, a frame, a dunder attribute, or keeps state: all refused
    "operator.attrgetter with a module's name": """\
    import operator, typing
    return operator.attrgetter("sys")(typing)
""",
    "getattr passed around as a value": """\
    import typing
    g = getattr
    return g(typing, "sy" + "s")
""",
    "functools.reduce over getattr": """\
    import functools, typing
    return functools.reduce(getattr, ["sys", "modules"], typing)
""",
    "a dunder name split into two strings": """\
    import operator
    return operator.attrgetter("__cla" + "ss__")(xs)
""",
    "an attribute the check refuses, by a string it does not": """\
    import operator, typing
    return operator.attrgetter("open")(operator.attrgetter("sys")(typing).modules["os"])
""",
    "attrgetter imported by name": "    from operator import attrgetter\n    return attrgetter('real')(xs)\n",
    "operator under another name": "    import operator as op\n    return op.methodcaller('copy')(xs)\n",
    "getattr on an allowed module with a reflective name": (
        "    import operator\n    return getattr(operator, 'attrgetter')('real')(xs)\n"
    ),
    "getattr with a name built at run time": "    return getattr(xs, 'co' + 'py')()\n",
    "getattr with a private literal name": "    return getattr(xs, '__class__')\n",
    "a module reached as an attribute of an allowed one": "    import collections\n    return collections.abc\n",
    "a module the allowlist does not hold": "    import os\n    return os.getpid() + sum(xs)\n",
    "a relative import": "    from . import calc\n    return calc.total(xs)\n",
    "string.Formatter().get_field": "    import string\n    return string.Formatter().get_field('0.real', [xs], {})\n",
    "decimal's process-wide context": "    import decimal\n    decimal.getcontext().prec = 3\n    return sum(xs)\n",
    "a format string with an attribute field": '    return "{0.__class__}".format(xs)\n',
    ".format on a string built at run time": '    return ("{0" + ".real}").format(sum(xs))\n',
    "an f-string reading a dunder": '    return f"{xs.__class__}"\n',
    "__import__": '    return __import__("sys").modules\n',
    "globals(), vars(), eval and exec": "    return globals()['total'](xs)\n",
    "a generator's frame": "    g = (x for x in xs)\n    return g.gi_frame.f_back\n",
    "an exception's traceback": (
        "    try:\n        1 / 0\n    except ZeroDivisionError as e:\n        return e.__traceback__\n"
    ),
    "a traceback's frame, by a public-looking name": "    return sum(xs) if xs else xs.tb_frame\n",
    "a name of the user's module the original does not use": "    return calc(xs)\n",
    "a class statement": "    class A:\n        pass\n    return sum(xs)\n",
    "a global statement": "    global CACHE\n    CACHE = sum(xs)\n    return CACHE\n",
    "a nonlocal statement in a nested function": (
        "    n = 0\n    def f():\n        nonlocal n\n        n = 1\n    f()\n    return sum(xs) + n\n"
    ),
    "an attribute written on the function itself": "    total.memo = {}\n    return sum(xs)\n",
    "a mutating method called through the function itself": "    total.memo.update({1: 2})\n    return sum(xs)\n",
    "a lambda default that smuggles getattr": "    f = lambda o, g=getattr: g(o, 'real')\n    return f(sum(xs))\n",
    "async code": "    async def f():\n        await g()\n    return sum(xs)\n",
}


@pytest.mark.parametrize("label", list(REACH_BYPASSES))
def test_the_static_check_refuses_a_variant_that_reaches_the_interpreter(label):
    assert out_of_reach(total(REACH_BYPASSES[label]), "total", CALC), "let through"


def test_the_static_check_lets_plain_computation_through():
    """Not blind: the check accepts what a faster version of ``total`` plausibly looks like."""
    for body in (
        "    return sum(xs)\n",
        "    import math\n    return math.fsum(xs) if xs and isinstance(xs[0], float) else sum(xs)\n",
        "    import itertools\n    out = 0\n    for out in itertools.accumulate(xs):\n        pass\n    return out\n",
        "    import functools, operator\n    return functools.reduce(operator.add, xs, 0)\n",
        '    return int("{:d}".format(sum(xs)))\n',
    ):
        assert out_of_reach(total(body), "total", CALC) == "", body


REACH_HOLES = {  # label -> (the user's module, the variant's body, why it is a hole)
    "an attribute past the first of a name the user's module imported (os.path.sys)": (
        OS_CALC,
        "    m = os.path.sys.modules\n    return sum(xs) if '_slipstream_sandboxed' in m else -1\n",
        "attribute access on a name the user's module imported is checked at the first level only "
        "((os, path) is what the original uses): os.path.sys, os.path.os and everything below them pass, "
        "so a variant reaches sys.modules (the harness: it detects the sandbox, forges its report, answers "
        "the timing requests) and os (system, write) whenever the original uses os.path or any other "
        "submodule or object of a module it imported",
    ),
    "the same through a local alias (p = os.path; p.os)": (
        OS_CALC,
        "    p = os.path\n    o = p.os\n    o.system('true')\n    return sum(xs)\n",
        "a local bound to an attribute of an imported name is a local: every attribute of it passes, and "
        "optimizer/purity.py only looks at calls whose root is the imported name, so o.system() is neither "
        "reach's nor purity's business",
    ),
    "state between calls, written through a local alias of the function (f = total; f.memo = ...)": (
        CALC,
        MEMO,
        "writes through module globals are recognised by the name at the root of the target: a local alias "
        "of the function (or of any global object) is a local, so `f = total; f.memo = {}` keeps state "
        "between calls; an identity memo over it makes the unchanged body measure as fast as an empty call "
        "(timing.py's cache_clear() does not know it) and returns stale results when the caller mutates the "
        "list between calls",
    ),
    "state between calls, written through a list display ([total][0].memo = ...)": (
        CALC,
        "    [total][0].memo = sum(xs)\n    return sum(xs)\n",
        "the root of the written target is a list display, not a name: _global_base says it is not global",
    ),
    "a class made with type(name, bases, namespace)": (
        CALC,
        LAZY_LIST,
        "type() is an allowed builtin, and with three arguments it defines a class (class statements are "
        "refused): dunder methods by string keys, __slots__, and __module__/__qualname__ that make it encode "
        "as builtins.list or builtins.IndexError (see the fake IndexError above); e.g. a slotted list "
        "subclass, empty, whose __iter__ computes the result: it verifies (the encoder only iterates), is "
        "timed doing its work only in the one pass per batch whose results are encoded, and is an empty list "
        "to len(), indexing and == in the user's program",
    ),
    "str.format taken as a value, with a format string built at run time": (
        CALC,
        SANDBOX_BY_FORMAT,
        "only a call of .format/.format_map written as an attribute is checked: `fmt = str.format` (or "
        "getattr(s, 'format'), or map(str.format, ...)) with a field built from pieces reads any attribute "
        "and item chain from the function: total.__globals__ → builtins → _frozen_importlib's globals → "
        "sys.modules, enough to tell the sandbox from the user's program",
    ),
    "getattr(s, 'format') on a string built at run time": (
        CALC,
        '    s = "{0" + ".__globals__}"\n    getattr(s, "format")(total)\n    return sum(xs)\n',
        "getattr with the literal public name 'format' is allowed on any local",
    ),
}


@pytest.mark.parametrize("label", list(REACH_HOLES))
def test_the_static_check_refuses_what_once_got_through(label):
    """Each was a hole in the first allowlist (its text says how); the allowlist now refuses it."""
    module, body, _ = REACH_HOLES[label]
    imports = module.split("def total")[0]
    assert out_of_reach(imports + total(body), "total", module), "let through"
