"""Capturing a function's real inputs from a workload, in the sandbox."""

from __future__ import annotations

import base64
import hashlib
import pickle
import textwrap

from slipstream.optimizer.capture import Workload, capture_inputs

LIB = textwrap.dedent("""
    import threading


    class Basket:
        def __init__(self, items):
            self.items = list(items)

        def total(self, discount=0.0):
            return sum(self.items) * (1 - discount)


    def dedupe(xs, *, keep_order=True):
        out = []
        for x in xs:
            if x not in out:
                out.append(x)
        return out


    def with_lock(n):
        return threading.Lock(), n
""")

TESTS = textwrap.dedent("""
    from lib import Basket, dedupe, with_lock


    def test_dedupe():
        assert dedupe([1, 1, 2]) == [1, 2]
        assert dedupe([3, 3], keep_order=False) == [3]
        assert dedupe([1, 1, 2]) == [1, 2]  # the same arguments again: captured once


    def test_basket(tmp_path):
        (tmp_path / "scratch.txt").write_text("tests may use tmp_path")
        assert Basket([1, 2]).total(discount=0.5) == 1.5


    def test_unpicklable():
        lock, _ = with_lock(1)
        assert with_lock(lock)[1] is lock
""")


def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "lib.py").write_text(LIB)
    (ws / "test_lib.py").write_text(TESTS)
    (ws / "run.py").write_text("from lib import dedupe\nfor n in range(5):\n    dedupe(list(range(n)) * 2)\n")
    return ws


def digest(ws) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ws.rglob("*")) if p.is_file()}


def test_pytest_workload_records_distinct_arguments_and_leaves_the_workspace_alone(tmp_path):
    ws = workspace(tmp_path)
    before = digest(ws)
    cap = capture_inputs(str(ws), str(ws / "lib.py"), "dedupe", Workload("pytest", str(ws / "test_lib.py")))
    assert cap.status == 0, cap
    assert cap.calls == 3 and len(cap.inputs) == 2
    assert pickle.loads(base64.b64decode(cap.inputs[0])) == (([1, 1, 2],), {"keep_order": True})
    assert pickle.loads(base64.b64decode(cap.inputs[1])) == (([3, 3],), {"keep_order": False})
    assert digest(ws) == before, "no __pycache__, no .pytest_cache, nothing written"


def test_methods_and_unpicklable_arguments(tmp_path):
    ws = workspace(tmp_path)
    cap = capture_inputs(str(ws), str(ws / "lib.py"), "Basket.total", Workload("pytest", str(ws)))
    assert cap.calls == 1 and len(cap.inputs) == 1  # self (a Basket) is part of the arguments
    locks = capture_inputs(str(ws), str(ws / "lib.py"), "with_lock", Workload("pytest", str(ws)))
    assert locks.calls == 2 and locks.skipped == 1 and len(locks.inputs) == 1


def test_script_workload_and_clear_reasons(tmp_path):
    ws = workspace(tmp_path)
    cap = capture_inputs(str(ws), str(ws / "lib.py"), "dedupe", Workload("script", str(ws / "run.py")))
    assert cap.calls == 5 and len(cap.inputs) == 5
    none = capture_inputs(str(ws), str(ws / "lib.py"), "Basket.total", Workload("script", str(ws / "run.py")))
    assert none.inputs == [] and "never called Basket.total" in none.reason
    (ws / "hang.py").write_text("while True:\n    pass\n")
    from slipstream.optimizer.sandbox import Limits

    hung = capture_inputs(
        str(ws), str(ws / "lib.py"), "dedupe", Workload("script", str(ws / "hang.py")), limits=Limits(seconds=2)
    )
    assert "did not finish" in hung.reason and "timeout" in hung.reason


SLOW = textwrap.dedent("""
    from dataclasses import dataclass


    @dataclass(frozen=True)
    class Order:
        sku: str
        qty: int


    def skus(orders):
        out = []
        for o in orders:
            if o.qty > 0:
                out.append(o.sku.upper())
        return out


    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
""")


def test_captured_inputs_verify_and_measure_rule_variants_against_the_real_module(tmp_path):
    """The pipeline's core: real inputs (instances of the user's own class) → rule variants → verified → faster."""
    from slipstream.optimizer.measure import measure
    from slipstream.optimizer.rules import candidates
    from slipstream.optimizer.verify import verify

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shop.py").write_text(SLOW)
    (ws / "test_shop.py").write_text(
        "from shop import Order, fib, skus\n\n"
        "def test_skus():\n    assert skus([Order('a', 1), Order('b', 0)] * 50) == ['A'] * 50\n\n"
        "def test_fib():\n    assert [fib(n) for n in (5, 18, 20)] == [5, 2584, 6765]\n"
    )
    before = digest(ws)
    source = (ws / "shop.py").read_text()
    for name, rule in (("skus", "append-loop-comprehension"), ("fib", "cache-pure-recursion")):
        cap = capture_inputs(str(ws), str(ws / "shop.py"), name, Workload("pytest", str(ws)))
        assert cap.inputs, cap
        (variant,) = [c for c in candidates(source, name) if c.rule == rule]
        verdict = verify(source, variant.source, name, cap.inputs[:20], workspace=str(ws), module="shop")
        assert verdict.ok, verdict.reason
        # A wrong variant is caught against the same inputs.
        wrong = variant.source.replace("o.sku.upper()", "o.sku").replace("fib(n - 2)", "fib(n - 1)")
        assert not verify(source, wrong, name, cap.inputs[:20], workspace=str(ws), module="shop").ok
        if name == "fib":
            big = [b for b in cap.inputs if pickle.loads(base64.b64decode(b))[0][0] >= 15][
                :3
            ]  # ints: safe to look at here
            m = measure(source, variant.source, name, big, min_round_s=0.02, workspace=str(ws), module="shop")
            assert not isinstance(m, str), m
            assert m.ci[0] > 10, m  # the cache turns exponential time into linear
    assert digest(ws) == before


def test_a_function_called_millions_of_times_is_watched_for_a_bounded_number_of_calls(tmp_path):
    # 300 rounds of fib(10), fib(18), fib(20): ~9 M calls, 21 distinct arguments, all among the first ones.
    # Watching every call took 29 s for 100 rounds; the hook now leaves after WATCHED_CALLS calls.
    from slipstream.optimizer.sandboxed.capture import WATCHED_CALLS

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "lib.py").write_text(SLOW)
    (ws / "run.py").write_text("from lib import fib\nfor _ in range(300):\n    [fib(n) for n in (10, 18, 20)]\n")
    cap = capture_inputs(str(ws), str(ws / "lib.py"), "fib", Workload("script", str(ws / "run.py")))
    assert cap.status == 0, cap
    assert cap.calls == WATCHED_CALLS + 1
    assert sorted(pickle.loads(base64.b64decode(b))[0][0] for b in cap.inputs) == list(range(21))
