"""The optimizer pipeline in process: workloads, purity, generated inputs, combined rules, model rounds."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from slipstream.optimizer.capture import Workload
from slipstream.optimizer.generate import generate_inputs
from slipstream.optimizer.pipeline import optimize_function
from slipstream.optimizer.profile import profile_workload
from slipstream.optimizer.proposals import build_prompt, parse_proposal
from slipstream.optimizer.purity import impurity
from slipstream.optimizer.rules import Rewrite, compose
from slipstream.optimizer.sandbox import Limits
from slipstream.optimizer.workload import default_workload, module_name, parse_workload


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def test_workload_setting_and_default(tmp_path):
    ws = write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/shop.py": "def f(x):\n    return x\n",
            "pkg/orphan.py": "def g(x):\n    return x\n",
            "tests/test_a.py": "from pkg.shop import f\n",
            "tests/test_b.py": "from pkg import shop\n",
            "tests/test_c.py": "import pkg.shop as s\n",
            "tests/test_other.py": "import json\n",
            ".venv/test_x.py": "from pkg.shop import f\n",
        },
    )
    shop = str(ws / "pkg/shop.py")
    assert module_name(str(ws), shop) == "pkg.shop"
    w = default_workload(str(ws), shop)
    assert w.kind == "pytest" and sorted(Path(p).name for p in (w.target, *w.more)) == [
        "test_a.py",
        "test_b.py",
        "test_c.py",
    ]
    assert default_workload(str(ws), str(ws / "pkg/orphan.py")) == Workload("pytest", str(ws))  # nobody imports it
    assert parse_workload("-m pkg.tool", str(ws), shop) == Workload("module", "pkg.tool")
    assert parse_workload("bench.py", str(ws), shop) == Workload("script", str(ws / "bench.py"))
    node = parse_workload("tests/test_a.py::test_f", str(ws), shop)
    assert node == Workload("pytest", str(ws / "tests/test_a.py::test_f"))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import random\ndef f(x):\n    return random.choice(x)\n", "randomness"),
        ("from random import choice\ndef f(x):\n    return choice(x)\n", "randomness"),
        ("import time as t\ndef f():\n    return t.monotonic()\n", "the clock"),
        ("def f(p):\n    with open(p) as fh:\n        return fh.read()\n", "file system"),
        ("def f(p):\n    return p.read_text()\n", "file system"),
        ("def f():\n    import socket\n    return socket.gethostname()\n", "network"),
        ("import os\ndef f(a, b):\n    return os.path.join(a, b)\n", ""),
        ("def f(xs):\n    return sorted(xs)\n", ""),
    ],
)
def test_impurity(code, reason):
    found = impurity(code, "f")
    assert (reason in found and found) if reason else found == ""


def test_generated_inputs_follow_type_hints(tmp_path):
    write(
        tmp_path,
        {"lib.py": "def f(xs: list[int], k: int) -> int:\n    return len(xs) + k\n\n\ndef g(x):\n    return x\n"},
    )
    gen = generate_inputs(str(tmp_path), "lib", "f", n=25)
    assert len(gen.inputs) >= 10 and not gen.reason
    assert "no type hints on x" in generate_inputs(str(tmp_path), "lib", "g").reason


def test_generated_inputs_reject_what_the_captured_ones_miss(tmp_path):
    # The tests only use small floats; x ** 2 overflows where x * x gives inf: hypothesis finds it.
    write(
        tmp_path,
        {
            "geo.py": "def norm2(x: float, y: float) -> float:\n    return x ** 2 + y ** 2\n",
            "test_geo.py": "from geo import norm2\n\n\ndef test_norm2():\n    assert norm2(3.0, 4.0) == 25.0\n",
        },
    )
    res = optimize_function(str(tmp_path), str(tmp_path / "geo.py"), "norm2", Workload("pytest", str(tmp_path)))
    assert res.inputs == 1 and res.generated >= 10
    assert res.variants == []
    (rej,) = [r for r in res.rejected if r["rule"] == "square-multiply"]
    assert "raise" in rej["reason"], rej


def test_rules_combine(tmp_path):
    code = textwrap.dedent("""
        def report(xs, allowed):
            out = []
            for x in xs:
                if x in allowed:
                    out.append(x ** 2)
            total = 0
            for v in out:
                total += v
            return total
    """).lstrip()
    combined = compose(code, "report", ["membership-set", "square-multiply", "sum-loop"])
    assert combined is not None and combined.rule == "membership-set+sum-loop+square-multiply"
    assert "_allowed_set" in combined.source and "x * x" in combined.source and "sum(out)" in combined.source
    assert compose(code, "report", ["square-multiply"]) is None  # one rule is not a combination


WORKSPACE = {
    "calc.py": """
        def total(xs):
            out = 0
            for x in xs:
                out = out + x
            return out
    """,
    "test_calc.py": """
        from calc import total


        def test_total():
            assert total(list(range(20000))) == 199990000
    """,
}


def test_model_rounds_feed_failures_back(tmp_path):
    """The feedback loop itself, with a scripted proposer: a wrong proposal, then the reason in the next prompt."""
    write(tmp_path, WORKSPACE)
    source = (tmp_path / "calc.py").read_text()
    seen_feedback: list[list[str]] = []

    def proposer(src: str, qualname: str, feedback: list[str]) -> list[Rewrite]:
        seen_feedback.append(list(feedback))
        body = "    return sum(xs) + 1\n" if len(seen_feedback) == 1 else "    return sum(xs)\n"
        cand = parse_proposal(src, qualname, body)
        assert cand is not None
        return [cand]

    res = optimize_function(
        str(tmp_path), str(tmp_path / "calc.py"), "total", Workload("pytest", str(tmp_path)), proposer=proposer
    )
    assert len(seen_feedback) == 2
    assert any("instead of" in f for f in seen_feedback[1]), seen_feedback
    (variant,) = res.variants
    assert variant.rule_or_model == "model" and variant.speedup > 1.1
    assert any(r["rule"] == "model" and "instead of" in r["reason"] for r in res.rejected)
    assert (tmp_path / "calc.py").read_text() == source


def test_nothing_to_try_is_said_without_running_the_workload(tmp_path):
    """No rule applies and no model may propose: the answer comes before the workload runs. Here the workload
    would hang, so running it would end in a timeout instead."""
    files = {
        "calc.py": "def scale(xs, k):\n    return [x * k + 1 for x in xs]\n",
        "test_calc.py": "import time\nfrom calc import scale\n\n\ndef test_scale():\n    time.sleep(3600)\n",
    }
    write(tmp_path, files)
    res = optimize_function(
        str(tmp_path), str(tmp_path / "calc.py"), "scale", Workload("pytest", str(tmp_path)), limits=Limits(seconds=20)
    )
    assert res.error == "no rewrite rule applies to this function (model proposals off)", res.error
    assert res.inputs == 0
    # with a rule that applies, the same workload is run (and times out): the answer above was not a guess
    files["calc.py"] = "def scale(xs, k):\n    return sorted([x * k for x in xs])[0]\n"
    write(tmp_path, files)
    res = optimize_function(
        str(tmp_path), str(tmp_path / "calc.py"), "scale", Workload("pytest", str(tmp_path)), limits=Limits(seconds=5)
    )
    assert res.inputs == 0 and "timeout" in res.error, res.error


def test_model_proposals_from_the_default_model(tmp_path):
    """The real default model through the real engine: whatever it writes is parsed into candidates or dropped."""
    from slipstream.inference.engine import Engine
    from slipstream.inference.model import ModelConfig, load_model
    from slipstream.optimizer.model_proposals import engine_proposer

    write(tmp_path, WORKSPACE)
    source = (tmp_path / "calc.py").read_text()
    prompt = build_prompt(source, "total", ["rule x: not faster"])
    assert prompt is not None and prompt.endswith("def total(xs):\n") and "A previous attempt failed" in prompt
    engine = Engine(load_model(ModelConfig(n_ctx=2048, n_threads=2)))
    try:
        cands = engine_proposer(engine, samples=2, max_tokens=96)(source, "total", [])
    finally:
        engine.close()
    for c in cands:
        assert c.rule == "model" and "def total(xs):" in c.source
        compile(c.source, "<proposal>", "exec")


def test_profile_falls_back_to_cprofile(tmp_path):
    write(
        tmp_path,
        {
            "work.py": "def busy(n):\n    return sum(i * i for i in range(n))\n",
            "run.py": "from work import busy\n\nprint(busy(300000))\n",
        },
    )
    prof = profile_workload(str(tmp_path), Workload("script", str(tmp_path / "run.py")), use_scalene=False)
    assert prof.tool == "cProfile+tracemalloc" and not prof.error and prof.status == 0
    (busy,) = [f for f in prof.functions if f.name == "busy"]
    assert busy.line == 1 and busy.cpu_percent > 10
    # Per-line time from the line timer: busy's line holds its time (sum's C loop and the generator's
    # steps); the caller's line keeps only its own work, so no time counts twice.
    lines = {(os.path.basename(ln.path), ln.line): ln.cpu_percent for ln in prof.lines}
    assert lines.get(("work.py", 2), 0) > 10, prof.lines
    assert lines.get(("run.py", 3), 0) < lines[("work.py", 2)] / 4, prof.lines
    assert sum(lines.values()) <= 100.5 and all(os.path.realpath(ln.path) == ln.path for ln in prof.lines)


def test_profile_says_why_the_run_failed(tmp_path):
    # A workload that dies of an exception (the sandbox's guard refuses os.kill): scalene's run exits 1 (it
    # runs once more), then the fallback's; each reason names the exception, not a bare exit status.
    write(tmp_path, {"run.py": "import os, signal\n\nos.kill(os.getpid(), signal.SIGTERM)\n"})
    prof = profile_workload(str(tmp_path), Workload("script", str(tmp_path / "run.py")))
    assert prof.tool == "cProfile+tracemalloc", prof
    why = "exit 1: PermissionError: sandbox: os.kill is not allowed"
    assert f"scalene ended the run: {why}" in prof.note, prof.note
    assert prof.error == f"the workload did not finish in the sandbox: {why}", prof.error


def test_function_spans_and_the_innermost_def():
    from slipstream.optimizer.functions import function_at, function_spans

    code = textwrap.dedent("""
        import functools


        class Shop:
            @functools.cache
            def total(self):
                def helper(x):
                    return x
                return helper(1)


        def free():
            return 2
    """).lstrip()
    spans = {s.name: (s.first, s.line, s.last) for s in function_spans(code)}
    assert spans == {"Shop.total": (4, 5, 8), "Shop.total.helper": (6, 6, 7), "free": (11, 11, 12)}
    assert [function_at(code, n) for n in (0, 3, 4, 7, 8, 12)] == [
        None,
        None,
        "Shop.total",
        "Shop.total.helper",
        "Shop.total",
        "free",
    ]
    assert function_spans("def (:") == []
