"""Inputs derived from the captured ones: enough checks per function, methods too, and a wrong variant caught.

Real workloads, the real sandbox and the real pipeline. Derived inputs are neighbours of the captured
values by type and shape (optimizer/sandboxed/derive.py); the trusted process never unpickles them.
"""

from __future__ import annotations

import base64
import builtins
import pickle

import pytest
from slipstream.optimizer import sandbox
from slipstream.optimizer.capture import Workload, capture_inputs
from slipstream.optimizer.generate import MIN_CHECKS, generate_inputs
from slipstream.optimizer.measure import Measurement
from slipstream.optimizer.pipeline import input_kinds, optimize_function, title_for
from slipstream.optimizer.proposals import parse_proposal
from slipstream.optimizer.verify import verify

from tests.test_optimizer_trust import scripted, write  # the same proposer and workspace as the trust tests


def loaded(blob: str):
    """Only in the test: look at what the sandbox derived (the pipeline never does this)."""
    return pickle.loads(base64.b64decode(blob))


@pytest.mark.parametrize(
    ("total", "captured", "hinted", "text"),
    [
        (5, 5, 0, ""),
        (20, 1, 0, "1 captured, 19 derived"),
        (41, 1, 40, "1 captured, 40 from type hints"),
        (24, 2, 10, "2 captured, 10 from type hints, 12 derived"),
    ],
)
def test_input_kinds(total, captured, hinted, text):
    assert input_kinds(total, captured, hinted) == text


# A quadratic count of inversions; the tests only ever call it on a strictly decreasing list.
INVERSIONS = """
def inversions(xs):
    n = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            if xs[i] > xs[j]:
                n = n + 1
    return n
"""
INVERSIONS_TEST = """
from inv import inversions


def test_reversed():
    assert inversions(list(range(300, 0, -1))) == 44850
"""
# Right only where the list is strictly decreasing: every pair is an inversion.
WRONG = "    return len(xs) * (len(xs) - 1) // 2\n"
# Merge sort, counting: right everywhere, and O(n log n).
RIGHT = """\
    def count(a):
        if len(a) < 2:
            return a, 0
        left, p = count(a[: len(a) // 2])
        right, q = count(a[len(a) // 2 :])
        merged, i, j, c = [], 0, 0, p + q
        while i < len(left) and j < len(right):
            if right[j] < left[i]:
                merged.append(right[j])
                c += len(left) - i
                j += 1
            else:
                merged.append(left[i])
                i += 1
        merged += left[i:] + right[j:]
        return merged, c

    return count(list(xs))[1]
"""


def test_one_captured_input_gets_twenty_checks_and_a_wrong_variant_is_caught(tmp_path):
    """No type hints, one captured call: derived inputs make up the twenty checks, and they reject the
    variant that is right on the captured input alone, while the right one passes all of them.

    The speed bar is out of reach (1000×), so that no rule variant is offered (the model is asked only
    where no rule helped) and both proposals are judged whatever rules exist: the right one gets as far
    as the speed gate, which only a variant that passed verification reaches."""
    ws = write(tmp_path, {"inv.py": INVERSIONS, "test_inv.py": INVERSIONS_TEST})
    cap = capture_inputs(str(ws), str(ws / "inv.py"), "inversions", Workload("pytest", str(ws)))
    assert len(cap.inputs) == 1, cap
    source = (ws / "inv.py").read_text()
    wrong = parse_proposal(source, "inversions", WRONG)
    assert wrong is not None
    on_captured = verify(source, wrong.source, "inversions", cap.inputs, workspace=str(ws), module="inv")
    assert on_captured.ok, "the wrong variant must pass on the captured input alone, or this test shows nothing"

    propose = scripted(WRONG, RIGHT)
    res = optimize_function(
        str(ws), str(ws / "inv.py"), "inversions", Workload("pytest", str(ws)), proposer=propose, min_speedup=1000
    )
    assert propose.asked and res.variants == [], (res.error, res.rejected)
    assert res.inputs == 1 and res.generated == 0
    assert res.derived >= MIN_CHECKS - 1, res
    assert any(f"1 captured inputs, 0 from the type hints and {res.derived} derived" in n for n in res.notes)
    wrong_reason, right_reason = [r["reason"] for r in res.rejected if r["rule"] == "model"]
    assert "instead of" in wrong_reason, wrong_reason  # a derived input: the formula returns another count
    assert right_reason.startswith(("not measurably faster", "slower at")), right_reason  # verified, then timed


def test_the_title_says_how_many_inputs_were_captured_and_derived():
    m = Measurement(3.0, (2.5, 3.5), 0.3, 0.1, 1000, 1000, 7)
    kinds = input_kinds(20, 1, 0)
    assert (
        title_for(m, 20, kinds=kinds)
        == "Apply faster variant — 3.0× faster (verified on 20 inputs: 1 captured, 19 derived)"
    )
    model = title_for(m, 20, model=True, checks=27, kinds=kinds)
    assert (
        model
        == "Apply model variant — 3.0× faster (passed 27 checks, inputs: 1 captured, 19 derived — review the diff)"
    )
    assert title_for(m, 12) == "Apply faster variant — 3.0× faster (verified on 12 inputs)"  # all captured


BASKET = """
class Basket:
    def __init__(self, prices):
        self.prices = list(prices)
        self.currency = "EUR"

    def over(self, limit):
        out = []
        for p in self.prices:
            if p > limit:
                out.append(p * 2)
        return out
"""
BASKET_TEST = """
from shop import Basket


def test_over():
    assert Basket(range(3000)).over(2990) == [2 * p for p in range(2991, 3000)]
"""


def test_a_method_gets_inputs_derived_from_its_captured_self(tmp_path):
    ws = write(tmp_path, {"shop.py": BASKET, "test_shop.py": BASKET_TEST})
    cap = capture_inputs(str(ws), str(ws / "shop.py"), "Basket.over", Workload("pytest", str(ws)))
    assert len(cap.inputs) == 1, cap
    gen = generate_inputs(str(ws), "shop", "Basket.over", captured=cap.inputs)
    assert gen.inputs == [] and "a method" in gen.reason
    assert len(gen.derived) >= MIN_CHECKS - 1 and not gen.derived_reason
    import sys

    sys.path.insert(0, str(ws))  # only to look at the derived instances here
    try:
        derived = [loaded(b) for b in gen.derived]
        (((basket, limit), _),) = [loaded(b) for b in cap.inputs]
    finally:
        sys.path.remove(str(ws))
        sys.modules.pop("shop", None)
    prices = {len(args[0].prices) for args, _ in derived}
    assert {len(basket.prices) - 1, len(basket.prices) + 1} <= prices  # the captured self, shrunk and grown
    assert any(args[1] != limit for args, _ in derived)  # the other argument varied too
    assert any(args[0].currency != "EUR" for args, _ in derived)
    assert all(type(args[0]).__name__ == "Basket" for args, _ in derived)

    res = optimize_function(str(ws), str(ws / "shop.py"), "Basket.over", Workload("pytest", str(ws)))
    assert res.inputs == 1 and res.derived >= MIN_CHECKS - 1, res
    reasons = [r["reason"] for r in res.rejected if r["rule"] == "append-loop-comprehension"]
    assert all(r.startswith(("not measurably faster", "slower at")) for r in reasons), reasons  # verified, then timed
    for v in res.variants:
        assert v.inputs_verified >= MIN_CHECKS and "1 captured" in v.title, v.title


CANARY = """
class Canary:
    \"\"\"Unpickled anywhere, marks that process (builtins.SLIPSTREAM_INPUTS_CANARY), then is itself again.\"\"\"

    def __reduce__(self):
        mark = "setattr(__import__('builtins'), 'SLIPSTREAM_INPUTS_CANARY', 1)"
        return (eval, (mark + " or __import__('canary').Canary()",))


def doubled(xs, tag):
    out = []
    for x in xs:
        out.append(x * 2)
    return out
"""
CANARY_TEST = """
from canary import Canary, doubled


def test_doubled():
    assert doubled([1, 2, 3], Canary()) == [2, 4, 6]
"""


@pytest.fixture
def no_canary():
    assert not hasattr(builtins, "SLIPSTREAM_INPUTS_CANARY")
    yield
    if hasattr(builtins, "SLIPSTREAM_INPUTS_CANARY"):
        delattr(builtins, "SLIPSTREAM_INPUTS_CANARY")


def test_derivation_never_unpickles_in_the_trusted_process(tmp_path, no_canary):
    sandbox.isolation.cache_clear()
    ws = write(tmp_path, {"canary.py": CANARY, "test_canary.py": CANARY_TEST})
    cap = capture_inputs(str(ws), str(ws / "canary.py"), "doubled", Workload("pytest", str(ws)))
    assert len(cap.inputs) == 1, cap
    gen = generate_inputs(str(ws), "canary", "doubled", captured=cap.inputs)
    assert len(gen.derived) >= MIN_CHECKS - 1
    res = optimize_function(str(ws), str(ws / "canary.py"), "doubled", Workload("pytest", str(ws)))
    assert res.derived >= MIN_CHECKS - 1 and not res.error, res
    assert not hasattr(builtins, "SLIPSTREAM_INPUTS_CANARY"), "an input was unpickled in the trusted process"
    # The canary works: a derived input still carries it, and loading one here trips it.
    with pytest.raises(ModuleNotFoundError):
        loaded(gen.derived[0])
    assert getattr(builtins, "SLIPSTREAM_INPUTS_CANARY", None) == 1


def test_a_derived_input_two_runs_disagree_on_is_dropped_not_the_function(tmp_path):
    """On the captured input the function is deterministic; on a derived empty list it returns an address,
    which differs from process to process: that input goes, the function stays."""
    ws = write(
        tmp_path,
        {
            # sorted(xs)[0]: a rule's shape, so there is something to try (else the answer comes before any run)
            "ident.py": "def first_or_id(xs):\n    if xs:\n        return sorted(xs)[0] * 2\n    return id(xs)\n",
            "test_ident.py": "from ident import first_or_id\n\n\ndef test_f():\n    assert first_or_id([3, 4]) == 6\n",
        },
    )
    res = optimize_function(str(ws), str(ws / "ident.py"), "first_or_id", Workload("pytest", str(ws)))
    assert "disagree" not in res.error, res.error
    assert any("derived inputs dropped: two runs of the original disagree" in n for n in res.notes), res.notes
    assert res.derived >= MIN_CHECKS - 2, res
