"""What the optimizer's promise rests on: adequate inputs, honest labels, gates that reject, real isolation.

Each gate is seen both accepting and rejecting. The hostile-code suite is in tests/security/.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from slipstream.optimizer import sandbox
from slipstream.optimizer.adequacy import does_nothing, mutants
from slipstream.optimizer.capture import Workload
from slipstream.optimizer.measure import Measurement
from slipstream.optimizer.pipeline import Variant, optimize_function, title_for
from slipstream.optimizer.profile import profile_workload
from slipstream.optimizer.proposals import parse_proposal
from slipstream.optimizer.rules import Rewrite
from slipstream.server.optimize import MODEL_ANNOTATION, edit_for


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def scripted(*bodies: str):
    """A proposer that proposes these bodies once (as a model would), then nothing."""
    asked: list[list[str]] = []

    def propose(source: str, qualname: str, feedback: list[str]) -> list[Rewrite]:
        asked.append(list(feedback))
        if len(asked) > 1:
            return []
        out = []
        for body in bodies:
            cand = parse_proposal(source, qualname, body)
            assert cand is not None, body
            out.append(cand)
        return out

    propose.asked = asked  # type: ignore[attr-defined]  # the feedback of each round it was asked
    return propose


@pytest.fixture(autouse=True)
def _isolation_is_probed_fresh():
    sandbox.isolation.cache_clear()
    yield
    sandbox.isolation.cache_clear()


def test_isolation_is_available_where_the_setup_installed_bubblewrap():
    iso = sandbox.isolation()
    assert iso.available, f"setup installs bubblewrap; without it model proposals never run: {iso.reason}"


@pytest.mark.parametrize(
    ("body", "nothing"),
    [
        ('    """Docstring only."""\n', True),
        ("    # a comment\n    pass\n", True),
        ("    ...\n", True),
        ("    return\n", True),
        ("    return None\n", True),
        ('    """Doc."""\n    return xs\n', False),
        ("    xs.sort()\n", False),
        ("    return 0\n", False),
    ],
)
def test_a_body_that_does_nothing_is_recognised(body, nothing):
    assert does_nothing(f"def f(xs):\n{body}", "f") is nothing


def test_trivial_mutants_of_an_in_place_function():
    source = (
        "def relax(grid, w):\n    for i in range(1, len(grid) - 1):\n"
        "        grid[i] = (grid[i - 1] + grid[i + 1]) * w\n"
    )
    labels = [m.label for m in mutants(source, "relax", None)]
    assert labels == ["does nothing (return None)", "returns its argument 'grid'", "skips its in-place writes"]
    method = "class A:\n    def f(self, n):\n        return n + 1\n"
    assert [m.label for m in mutants(method, "A.f", "i")] == [
        "does nothing (return None)",
        "returns its argument 'n'",
        "returns 0",
    ]


RELAX = """
def relax(grid):
    for i in range(1, len(grid) - 1):
        grid[i] = (grid[i - 1] + grid[i] + grid[i + 1]) / 3
"""
# Both inputs are fixed points: doing nothing leaves them as relax() does.
RELAX_TEST = """
from relax import relax


def test_constant_grid_stays():
    g = [2.0] * 50
    relax(g)
    assert g == [2.0] * 50


def test_zero_grid_stays():
    g = [0.0] * 30
    relax(g)
    assert g == [0.0] * 30
"""


def test_a_no_op_variant_is_never_offered_on_fixed_point_inputs(tmp_path):
    """The model's honest mistake from the issue: a body of comments "verified" on inputs where doing
    nothing gives the same result. Now refused outright, and a disguised no-op is caught by derived inputs."""
    ws = write(tmp_path, {"relax.py": RELAX, "test_relax.py": RELAX_TEST})
    propose = scripted(
        '    """Relax the grid in place."""\n    # the loop is not needed\n',
        "    n = len(grid)\n    return None\n",
    )
    res = optimize_function(str(ws), str(ws / "relax.py"), "relax", Workload("pytest", str(ws)), proposer=propose)
    assert res.variants == [], res.variants
    assert res.derived + res.enriched > 0, res  # the captured inputs alone cannot tell "does nothing" apart
    reasons = [r["reason"] for r in res.rejected if r["rule"] == "model"]
    assert "the variant's body does nothing" in reasons, reasons
    assert any("mutates its arguments differently" in r for r in reasons), reasons
    assert (ws / "relax.py").read_text() == textwrap.dedent(RELAX).lstrip()


def test_inputs_that_cannot_tell_trivial_mutants_apart_get_nothing_offered(tmp_path):
    """Returning a copy of the argument cannot be told from returning the argument by value: say so."""
    ws = write(
        tmp_path,
        {
            "ident.py": "def same(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    return out\n",
            "test_ident.py": "from ident import same\n\n\ndef test_same():\n    assert same([1, 2, 3]) == [1, 2, 3]\n",
        },
    )
    res = optimize_function(str(ws), str(ws / "ident.py"), "same", Workload("pytest", str(ws)))
    assert res.variants == [] and "cannot tell this function from a version that returns its argument" in res.error


CALC = "def total(xs):\n    out = 0\n    for x in xs:\n        out = out + x\n    return out\n"
CALC_TEST = "from calc import total\n\n\ndef test_t():\n    assert total(list(range(3000))) == 4498500\n"


def test_the_speed_gate_rejects_a_variant_that_verifies_but_is_not_faster(tmp_path):
    ws = write(
        tmp_path,
        {
            "calc.py": CALC,
            "test_calc.py": CALC_TEST,
        },
    )
    slower = "    out = 0\n    for x in list(xs):\n        out = out + x\n    return out\n"
    faster = "    return sum(xs)\n"
    res = optimize_function(
        str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=scripted(slower, faster)
    )
    reasons = [r["reason"] for r in res.rejected if r["rule"] == "model"]
    # Refused by the speed gate at the tests' sizes or at a grown size (it is a slower loop at every size).
    assert any(r.startswith(("not measurably faster", "slower at")) for r in reasons), (reasons, res)
    (offered,) = res.variants  # the same gate accepts the faster one
    assert offered.source.endswith("return sum(xs)\n") and offered.speedup > 1.1


def test_the_workload_gate_rejects_a_variant_that_breaks_the_projects_tests(tmp_path):
    """A generator argument cannot be captured (not picklable), so only the project's own tests see the
    variant fail on it."""
    ws = write(
        tmp_path,
        {
            "calc.py": CALC,
            "test_calc.py": """
                from calc import total


                def test_list():
                    assert total(list(range(3000))) == 4498500


                def test_generator():
                    assert total(x for x in range(10)) == 45
            """,
        },
    )
    breaks = "    return sum(xs[:])\n"  # faster on lists; a generator is not subscriptable
    res = optimize_function(
        str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=scripted(breaks)
    )
    reasons = [r["reason"] for r in res.rejected if r["rule"] == "model"]
    assert any("the tests exit with status 1 with the variant, 0 with the original" in r for r in reasons), reasons
    assert res.variants == []


def test_model_variants_are_labelled_for_review_and_rule_variants_as_verified(tmp_path):
    m = Measurement(3.0, (2.5, 3.5), 0.3, 0.1, 1000, 1000, 7)
    assert title_for(m, 12) == "Apply faster variant — 3.0× faster (verified on 12 inputs)"
    model_title = title_for(m, 12, model=True, checks=21)
    assert model_title == "Apply model variant — 3.0× faster (passed 21 checks — review the diff)"
    assert "verified" not in model_title

    edits = [(1, 3, "    return sum(xs)\n")]
    rule = Variant("t", "sum-loop", "", 3.0, (2.5, 3.5), 1.0, 12, edits)
    plain = edit_for("file:///x.py", rule)
    assert plain.changes and plain.document_changes is None and plain.change_annotations is None
    model = Variant(model_title, "model", "", 3.0, (2.5, 3.5), 1.0, 12, edits, needs_review=True, checks=21)
    annotated = edit_for("file:///x.py", model, version=7)
    assert annotated.changes is None and annotated.change_annotations is not None
    note = annotated.change_annotations[MODEL_ANNOTATION]
    assert note.needs_confirmation is True and "review" in (note.description or "")
    (doc_edit,) = annotated.document_changes  # type: ignore[misc]
    assert doc_edit.text_document.version == 7
    assert all(e.annotation_id == MODEL_ANNOTATION for e in doc_edit.edits)  # type: ignore[union-attr]


def test_a_model_variant_that_passes_is_marked_for_review(tmp_path):
    ws = write(
        tmp_path,
        {
            "calc.py": CALC,
            "test_calc.py": CALC_TEST,
        },
    )
    res = optimize_function(
        str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=scripted("    return sum(xs)\n")
    )
    (v,) = res.variants
    assert v.needs_review and v.checks >= v.inputs_verified + 7 and "review the diff" in v.title
    assert res.isolation.startswith("bubblewrap")


def test_a_model_variant_of_a_module_that_imports_numpy_runs(tmp_path):
    """Code a model wrote gets no threads; OpenBLAS started a pool per CPU at ``import numpy`` and crashed
    there, so every model variant of such a module was rejected. Its pool is one thread in the sandbox.
    (With one CPU OpenBLAS starts no pool: the test can fail only with two or more.)"""
    pytest.importorskip("numpy")
    ws = write(tmp_path, {"calc.py": "import numpy\n\n\n" + CALC, "test_calc.py": CALC_TEST})
    res = optimize_function(
        str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=scripted("    return sum(xs)\n")
    )
    assert [v.needs_review for v in res.variants] == [True], (res.rejected, res.error)


def test_without_isolation_model_proposals_are_not_run_and_rules_still_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIPSTREAM_ISOLATION", "none")
    sandbox.isolation.cache_clear()
    ws = write(
        tmp_path,
        {
            "calc.py": CALC + "\n\ndef has(xs, ys):\n    return [x for x in xs if x in ys]\n",
            "test_calc.py": "from calc import has\n"
            + CALC_TEST
            + "    assert has(list(range(900)), [0, 3])[:2] == [0, 3]\n",
        },
    )
    asked: list[int] = []

    def proposer(source: str, qualname: str, feedback: list[str]) -> list[Rewrite]:
        asked.append(1)
        return []

    res = optimize_function(str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=proposer)
    assert not asked, "a model proposal ran without OS isolation"
    assert any("model proposals were not run" in n and "SLIPSTREAM_ISOLATION" in n for n in res.notes), res.notes
    assert res.isolation.startswith("none")
    rules = optimize_function(str(ws), str(ws / "calc.py"), "has", Workload("pytest", str(ws)))
    assert rules.variants and rules.variants[0].rule_or_model == "membership-set", rules


def test_profiling_really_uses_scalene(tmp_path):
    ws = write(
        tmp_path,
        {
            "work.py": "def busy(n):\n    t = 0\n    for i in range(n):\n        t += i * i % 7\n    return t\n",
            "run.py": "from work import busy\n\nfor _ in range(8):\n    busy(400000)\n",
        },
    )
    prof = profile_workload(str(ws), Workload("script", str(ws / "run.py")))
    assert prof.tool == "scalene" and not prof.error, (prof.tool, prof.note, prof.error)
    assert any(f.name == "busy" for f in prof.functions), prof.functions


ORIGINAL = """
import sys
from helpers import norm

LIMIT = 10


def f(xs):
    return [norm(x) for x in xs if x < LIMIT and x < sys.maxsize]
"""


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ("    import heapq\n    return heapq.nsmallest(2, xs) + sorted(set(xs))\n", ""),
        ("    return getattr(xs, 'real', 0)\n", ""),
        ("    return type(xs) is list and len(xs)\n", ""),
        ("    return [norm(x) for x in xs if x < min(LIMIT, sys.maxsize)]\n", ""),  # the original's own names
        ("    return f(xs[1:]) if xs else []\n", ""),  # itself
        ("    out = {}\n    out[1] = xs\n    xs.append(1)\n    return out\n", ""),  # its own and its argument
        ("    return __import__('o' + 's').getpid()\n", "it uses __import__"),
        ("    return sys.modules\n", "sys.modules, which the original does not"),
        ("    return getattr(sys, 'modules')\n", "sys.modules, which the original does not"),
        ("    import threading\n    return 1\n", "it imports threading"),
        ("    import typing\n    return 1\n", "it imports typing"),
        ("    g = (x for x in xs)\n    return g.gi_frame\n", "(.gi_frame)"),
        ("    return xs.__class__\n", "(.__class__)"),
        ("    return xs._private\n", "(._private)"),
        ("    return getattr(xs, NAME)\n", "literal public attribute name"),
        ("    g = getattr\n    return g(xs, 'real')\n", "passes getattr around"),
        ("    import functools\n    return functools.reduce(getattr, ['a'], xs)\n", "passes getattr around"),
        ("    return getattr(xs, '__dict__')\n", "literal public attribute name"),
        ("    import operator\n    return operator.attrgetter('real')(xs)\n", "operator.attrgetter"),
        ("    import collections\n    return collections.abc\n", "reaches the module collections.abc"),
        ("    return '{0.real}'.format(xs)\n", "format string with attribute or index fields"),
        ("    s = '{0.'\n    return (s + 'real}').format(xs)\n", "not a literal"),
        ("    global SEEN\n    return 1\n", "global SEEN"),
        ("    f.memo = xs\n    return 1\n", "writes f.memo"),
        ("    LIMIT.append(xs)\n    return 1\n", "LIMIT.append()"),
        ("    return open('x').read()\n", "it uses open"),
        ("    return eval('1')\n", "it uses eval"),
        ("    return helper(xs)\n", "it uses helper"),  # a module name the original does not use
    ],
)
def test_what_a_model_variant_may_reach(body, refused):
    from slipstream.optimizer.reach import out_of_reach

    source = ORIGINAL.replace("def f(xs):\n    return [norm(x) for x in xs if x < LIMIT and x < sys.maxsize]\n", "")
    why = out_of_reach(source + f"def f(xs):\n{body}", "f", ORIGINAL)
    assert (refused in why) if refused else why == "", why
