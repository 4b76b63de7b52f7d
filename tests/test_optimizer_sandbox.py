"""The sandbox, verification and measurement the optimizer relies on: user code runs only there."""

from __future__ import annotations

import hashlib
import textwrap

import pytest
from slipstream.optimizer.measure import bootstrap_ci, measure
from slipstream.optimizer.sandbox import Limits, run
from slipstream.optimizer.verify import verify

FAST = Limits(seconds=10, memory_bytes=512 << 20)


def run_code(code: str, payload=None, limits: Limits | None = None):
    """Any code, as hostile code would run: the sandbox's snippet driver."""
    res = run("snippet", {"code": code, "payload": payload}, limits or FAST)
    if res.ok:
        res.value = res.value["value"]
    return res


def snapshot(root) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_plain_result_comes_back():
    res = run_code("RESULT = sum(PAYLOAD)", [1, 2, 3])
    assert res.ok and res.value == 6


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("while True: pass", "timeout"),
        ("x = bytearray(4 << 30)", "memory"),
        ("import os; os._exit(0)", "without a result"),
        ("import sys; sys.exit(3)", "exit 3"),
        ("import ctypes; ctypes.string_at(0)", "crashed: SIGSEGV"),
        ("import socket; socket.socket().connect(('127.0.0.1', 9))", "exit 1"),
        ("import subprocess; subprocess.run(['true'])", "exit 1"),
        ("import os; os.fork()", "exit 1"),
    ],
)
def test_misbehaving_code_is_stopped_with_a_reason(code, reason):
    res = run_code(code, None, Limits(seconds=3, memory_bytes=512 << 20))
    assert not res.ok
    assert reason in res.reason, (res.reason, res.stderr[-500:])


def test_the_workspace_is_left_byte_for_byte_unchanged(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "keep.py").write_text("x = 1\n")
    before = snapshot(ws)
    code = textwrap.dedent(f"""
        import os, shutil
        open("scratch.txt", "w").write("inside the sandbox is fine")
        for attempt in (
            lambda: open({str(ws / "keep.py")!r}, "w").write("clobbered"),
            lambda: open({str(ws / "new.txt")!r}, "x"),
            lambda: os.remove({str(ws / "keep.py")!r}),
            lambda: shutil.rmtree({str(ws)!r}),
            lambda: os.rename({str(ws / "keep.py")!r}, "stolen.py"),
        ):
            try:
                attempt()
            except PermissionError:
                pass
        RESULT = os.path.exists("scratch.txt")
    """)
    res = run_code(code)
    assert res.ok and res.value is True
    assert snapshot(ws) == before


MODULE = textwrap.dedent("""
    def has_dupes(items):
        seen = []
        for x in items:
            if x in seen:
                return True
            seen.append(x)
        return False
""")
FASTER = MODULE.replace("seen = []", "seen = set()").replace("seen.append(x)", "seen.add(x)")
WRONG = MODULE.replace("return True", "return False")


def test_verify_accepts_an_equivalent_variant_and_rejects_a_wrong_one():
    inputs = [((list(range(n)) + [0],), {}) for n in range(1, 30)] + [(([],), {}), ((["a", "b"],), {})]
    good = verify(MODULE, FASTER, "has_dupes", inputs, FAST)
    assert good.ok and good.inputs == len(inputs)
    bad = verify(MODULE, WRONG, "has_dupes", inputs, FAST)
    assert not bad.ok and "returns False instead of True" in bad.reason


@pytest.mark.parametrize(
    ("variant_body", "expect"),
    [
        ("    raise KeyError(x)\n", "raises KeyError ([1]) instead of ValueError"),
        ("    x.append(1)\n    raise ValueError\n", "mutates its arguments differently"),
        ("    print('hi')\n    raise ValueError\n", "prints differently"),
    ],
)
def test_verify_compares_exceptions_mutation_and_output(variant_body, expect):
    original = "def f(x):\n    raise ValueError\n"
    variant = "def f(x):\n" + variant_body
    v = verify(original, variant, "f", [(([1],), {})], FAST)
    assert not v.ok and expect in v.reason


def test_float_tolerance_only_where_the_original_returns_a_float():
    original = "def f(xs):\n    return sum(xs)\n"
    reordered = "def f(xs):\n    return sum(reversed(xs))\n"
    floats = [(([0.1] * 7 + [1e-3, 2.5],), {})]
    assert verify(original, reordered, "f", floats, FAST).ok  # rounding differs in the last bits only
    different_type = "def f(xs):\n    return float(sum(xs))\n"
    assert not verify(original, different_type, "f", [(([1, 2],), {})], FAST).ok


def test_measure_finds_a_real_speedup_with_an_interval():
    inputs = [((list(range(600)) + [599],), {})]
    m = measure(MODULE, FASTER, "has_dupes", inputs, rounds=7, min_round_s=0.02)
    assert not isinstance(m, str), m
    assert m.speedup > 3 and m.ci[0] > 2, m
    assert m.rounds >= 7 and m.seconds_variant < m.seconds_original
    same = measure(MODULE, MODULE, "has_dupes", inputs, rounds=7, min_round_s=0.02)
    assert not isinstance(same, str) and 0.6 < same.speedup < 1.6


def test_bootstrap_interval_brackets_the_median():
    lo, hi = bootstrap_ci([1.9, 2.0, 2.1, 2.05, 1.95, 2.2, 1.8])
    assert lo <= 2.0 <= hi and hi - lo < 0.5
    assert bootstrap_ci([3.0] * 7) == (3.0, 3.0)
