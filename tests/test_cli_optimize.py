"""``slipstream optimize`` / ``slipstream profile`` (cli/optimize.py), run as the real command on a small
project with a pytest workload: the verified rule variant in the table and in a patch that applies, the
sources byte-for-byte unchanged, JSON that parses, clear errors with a non-zero status for bad arguments,
status 0 when nothing is faster."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from slipstream.cli.optimize import Outcome, Target, _overlap, build_patch, optimize_table, unified_diff
from slipstream.optimizer.pipeline import OptimizeResult, Variant

from tests.conftest import server_env

SHOP = textwrap.dedent("""
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)


    def scale(xs, k):
        return [x * k + 1 for x in xs]
""").lstrip()
TESTS = textwrap.dedent("""
    from shop import fib, scale


    def test_fib():
        assert [fib(n) for n in (10, 18, 20)] == [55, 2584, 6765]


    def test_scale():
        assert scale(list(range(3000)), 3)[5] == 16
""").lstrip()


def slipstream(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slipstream.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=server_env(),
    )


def digest(root: Path, skip: set[str] = frozenset()) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shop.py").write_text(SHOP)
    (root / "test_shop.py").write_text(TESTS)
    return root


# TESTS' calls, repeated so that scalene's samples see both (~90 ms of fib, ~90 ms of scale: TESTS' ~1 ms
# of fib went unseen in a run under load, and so did ~30 ms of scale once, in a clean clone's full run while
# the machine was busy); a repeated call adds no captured input, and capture watches a bounded number of
# calls, so this costs no more than TESTS.
REPEATED = textwrap.dedent("""
    from shop import fib, scale


    def test_fib():
        for _ in range(100):
            assert [fib(n) for n in (10, 18, 20)] == [55, 2584, 6765]


    def test_scale():
        for _ in range(450):
            assert scale(list(range(3000)), 3)[5] == 16
""").lstrip()


def test_optimize_writes_a_patch_of_the_verified_variant_and_nothing_else(project, tmp_path):
    (project / "test_shop.py").write_text(REPEATED)
    before = digest(project)
    patch = tmp_path / "out.diff"
    run = slipstream("optimize", ".", "--patch", str(patch), cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert digest(project) == before, "the sources and the project are byte-for-byte unchanged"
    # The table: the verified rule variant, and the function with nothing faster.
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.startswith("shop:")}
    assert set(rows) == {"shop:fib", "shop:scale"}, run.stdout
    assert "cache-pure-recursion" in rows["shop:fib"] and "× faster" in rows["shop:fib"], rows
    assert "verified on" in rows["shop:fib"]
    assert "cache-pure-recursion" not in rows["shop:scale"]
    assert f"patch: {patch} (1 function(s): shop:fib)" in run.stdout
    # Progress went to stderr, never into the table.
    # (fib and scale each take ~90 ms of the workload: either may be the hotter one and come first.)
    assert re.search(r"\[[12]/2\] shop:fib: verifying", run.stderr) and "verifying" not in run.stdout
    # The patch applies with git and with patch(1), and gives the variant.
    text = patch.read_text()
    assert text.startswith("--- a/shop.py\n+++ b/shop.py\n") and "+@functools.cache" in text, text
    assert "scale" not in "".join(x for x in text.splitlines() if x.startswith(("+", "-")))
    if shutil.which("git"):
        check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=project, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    if shutil.which("patch"):
        dry = subprocess.run(["patch", "-p1", "--dry-run", "-i", str(patch)], cwd=project, capture_output=True)
        assert dry.returncode == 0, dry.stdout
    copy = tmp_path / "applied"
    shutil.copytree(project, copy)
    subprocess.run(["patch", "-p1", "-s", "-i", str(patch)], cwd=copy, check=True)
    assert "@functools.cache" in (copy / "shop.py").read_text()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy)], capture_output=True, cwd=copy
    )
    assert tests.returncode == 0, tests.stdout
    assert digest(project) == before


def test_a_named_function_with_nothing_faster_exits_0_with_json(project):
    before = digest(project)
    run = slipstream("optimize", ".", "--function", "shop:scale", "--json", cwd=project)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)  # stdout is the JSON alone
    assert data["profile"] is None and data["patch"] is None  # named: no profile was run
    (fn,) = data["functions"]
    assert fn["function"] == "shop:scale" and fn["path"] == "shop.py" and fn["line"] == 5
    assert fn["best_rule_variant"] is None and fn["result"]["variants"] == []
    # no rule applies and the model is off: said at once, without running the workload to capture inputs
    assert fn["result"]["error"] == "no rewrite rule applies to this function (model proposals off)"
    assert fn["result"]["inputs"] == 0
    assert digest(project) == before


def test_profile_prints_the_hot_functions(project):
    # scalene samples: TESTS' ~1 ms of fib went unseen in 1 CI run of 2 (only scale was listed), and with
    # ~50 ms of fib, scale's 0.4 ms went unseen. Here: fib ~130 ms, scale ~30 ms (without scalene; under it,
    # scale's allocations made it the hotter one in 1 run of 5: the order is checked, not who leads).
    heavier = TESTS.replace("(10, 18, 20)", "(10, 28, 29)").replace("2584, 6765", "317811, 514229")
    (project / "test_shop.py").write_text(heavier.replace("range(3000)", "range(200_000)"))
    run = slipstream("profile", ".", cwd=project)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("profile of ")
    rows = [x.split() for x in lines if x.strip().endswith((".py:1", ".py:5"))]
    names = [next(w for w in row if w.startswith("shop:")) for row in rows]
    assert sorted(names) == ["shop:fib", "shop:scale"], run.stdout  # the test functions are not PATH's
    shares = [float(row[0].rstrip("%")) for row in rows]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0, run.stdout  # hottest first
    run = slipstream("profile", "shop.py", "--json", "-q", cwd=project)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    data = json.loads(run.stdout)
    assert sorted(f["name"] for f in data["functions"]) == ["fib", "scale"] and not data["error"]
    assert data["tool"] == "scalene", data["note"]  # not the cProfile fallback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimize", "nowhere"], "nowhere: no such file or folder"),
        (["optimize", "/"], "is outside the project root"),
        (["optimize", ".", "--function", "shop:nope"], "--function shop:nope: shop has no function nope"),
        (["optimize", ".", "--function", "nomodule:f"], "no module nomodule under"),
        (["optimize", ".", "--function", "shop.fib"], "expected MODULE:QUALNAME"),
        (["optimize", ".", "--patch", "shop.py"], "would overwrite a Python file"),
        (["optimize", ".", "--workload", "tests/missing.py"], "tests/missing.py does not exist"),
        (["optimize", ".", "--min-speedup", "0.5"], "--min-speedup must be at least 1.0"),
        (["profile", "README.txt"], "README.txt: no such file or folder"),
        (["profile", ".", "--workload", "nothere.py"], "nothere.py does not exist"),
    ],
)
def test_bad_arguments_are_one_clear_line_and_status_2(project, args, message):
    before = digest(project)
    run = slipstream(*args, cwd=project, timeout=60)
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert run.stdout == "" and digest(project) == before


def test_an_engine_that_cannot_be_reached_is_an_error(project):
    from tests.conftest import free_port

    port = free_port()
    run = slipstream(
        "optimize", ".", "--function", "shop:scale", "--engine", "openai", "--endpoint", f"http://127.0.0.1:{port}",
        cwd=project, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "--engine openai" in run.stderr and "Traceback" not in run.stderr, run.stderr


# ── the patch, from pipeline results (pure) ────────────────────────────────────────────────────────────


def _variant(rule: str, source: str, edits: list[tuple[int, int, str]], review: bool = False) -> Variant:
    return Variant("t", rule, source, 2.0, (1.8, 2.2), 1.0, 10, edits, needs_review=review)


def test_patch_merges_functions_of_a_file_and_leaves_out_model_variants(tmp_path):
    path = tmp_path / "m.py"
    original = "def a(x):\n    return x\n\n\ndef b(x):\n    return x"  # no newline at the end
    path.write_text(original)
    imp = (0, 0, "import functools\n")
    va = _variant("cache", "", [imp, (0, 0, "@functools.cache\n")])
    vb = _variant("faster-b", "", [imp, (5, 6, "    return x + 0")])
    vm = _variant("model", "", [(5, 6, "    return 0")], review=True)
    outcomes = [
        Outcome(Target(str(path), "a", "m"), OptimizeResult("a", variants=[va]), 1.0),
        Outcome(Target(str(path), "b", "m"), OptimizeResult("b", variants=[vm, vb]), 1.0),
    ]
    patch = build_patch(outcomes, str(tmp_path))
    assert patch.functions == ["m:a", "m:b"] and patch.left_out == []
    assert patch.text.count("+import functools") == 1  # added by both: once
    assert "return 0" not in patch.text and "+    return x + 0" in patch.text
    assert "\\ No newline at end of file" in patch.text
    (tmp_path / "m.diff").write_text(patch.text)
    subprocess.run(["patch", "-p1", "-s", "-i", "m.diff"], cwd=tmp_path, check=True)
    expected = "import functools\n@functools.cache\ndef a(x):\n    return x\n\n\ndef b(x):\n    return x + 0"
    assert path.read_text() == expected


@pytest.mark.parametrize(
    ("x", "y", "overlap"),
    [
        ((0, 2, "a"), (2, 4, "b"), False),
        ((0, 3, "a"), (2, 4, "b"), True),
        ((3, 3, "a"), (3, 3, "b"), True),  # two insertions at one place
        ((3, 3, "a"), (2, 5, "b"), True),  # an insertion inside a replaced range
        ((2, 2, "a"), (2, 5, "b"), False),  # ... or before it
        ((5, 5, "a"), (2, 5, "b"), False),  # ... or after it
    ],
)
def test_overlapping_edits(x, y, overlap):
    assert _overlap(x, y) is overlap and _overlap(y, x) is overlap


def test_unified_diff_of_nothing_is_empty():
    assert unified_diff("a\n", "a\n", "m.py") == ""


def test_the_table_lists_model_variants_for_review_apart_from_the_patch(tmp_path):
    path = tmp_path / "m.py"
    original = "def b(x):\n    return x\n"
    path.write_text(original)
    model = _variant("model", "def b(x):\n    return x + 0\n", [(1, 2, "    return x + 0\n")], review=True)
    model.title = "Apply model variant — 2.0× faster (passed 12 checks — review the diff)"
    outcomes = [Outcome(Target(str(path), "b", "m", 12.5, 1), OptimizeResult("b", variants=[model]), 1.0)]
    patch = build_patch(outcomes, str(tmp_path))
    assert patch.text == "" and patch.functions == []
    table = optimize_table(outcomes, str(tmp_path), patch, "out.diff")
    row, *rest = table.splitlines()[1:]
    assert row.split()[:3] == ["m:b", "12.5%", "m.py:1"] and "model variants only" in row
    assert "model variants (written by a model: review them; never in the patch):" in rest
    assert "  m:b: Apply model variant — 2.0× faster (passed 12 checks — review the diff)" in rest
    assert "    +    return x + 0" in rest
    assert "patch: out.diff is empty (no verified rule variant)" in rest


def test_model_proposals_from_the_named_server_and_ctrl_c(project, llama_server):
    """--engine openai asks that server (its access log counts the completions); Ctrl-C then cancels the run:
    status 130, one line, the sources untouched."""
    import signal
    import time

    from tests.conftest import LLAMA_API_KEY, LlamaServer

    log_start = len(llama_server.log())
    before, files = llama_server.log().count('"POST /v1/completions'), digest(project)
    env = {**server_env(), "SLIPSTREAM_TEST_CLI_KEY": LLAMA_API_KEY}
    args = ["optimize", ".", "--function", "shop:scale", "--engine", "openai", "--endpoint", llama_server.url]
    args += ["--remote-model", LlamaServer.ALIAS, "--api-key-env", "SLIPSTREAM_TEST_CLI_KEY"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "slipstream.cli.main", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background commands with SIGINT ignored, and Python keeps an
        # ignored SIGINT ignored: `make test &` ran this CLI deaf to Ctrl-C (status 0 after the whole run)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 300
        while llama_server.log().count('"POST /v1/completions') == before:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no completion request reached the server"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err, llama_server.log()[log_start:][-2000:])
    assert "slipstream: interrupted" in err and "Traceback" not in err, err
    assert "asking the model for variants" in err
    assert digest(project) == files
