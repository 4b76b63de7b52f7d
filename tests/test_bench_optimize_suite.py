"""The optimizer benchmark's real-code part (bench/optimize_suite/real) is usable: its cases name functions
that exist, every vendored file carries its licence notice, the workloads pass under plain pytest in a
copy of the folder (as the benchmark runs them), and the original runs on every case's held-out inputs.
Cheap: no optimizer run (that is bench/optimize.py's job)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "bench" / "optimize_suite" / "real"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def real_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("real") / "suite"
    shutil.copytree(REAL, dst, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dst


@pytest.fixture(scope="module")
def cases():
    return _load(REAL / "real_cases.py", "_bench_real_cases").CASES


@pytest.fixture(scope="module")
def bench():
    return _load(ROOT / "bench" / "optimize.py", "_bench_optimize")


def test_cases_name_functions_and_tests_that_exist(cases):
    assert 15 <= len(cases) <= 20
    assert len({(c.module, c.qualname) for c in cases}) == len(cases)
    for c in cases:
        source = (REAL / f"{c.module}.py").read_text()
        *owner, name = c.qualname.split(".")
        if owner:
            body = source.split(f"\nclass {owner[0]}", 1)
            assert len(body) == 2, f"{c.module} has no class {owner[0]}"
            assert re.search(rf"\n    def {name}\(", body[1]), f"{c.qualname} is not a method in {c.module}"
        else:
            assert re.search(rf"^def {name}\(", source, re.M), f"{c.module} defines no function {name}"
        file, test = c.test.split("::")
        assert re.search(rf"^def {test}\(", (REAL / file).read_text(), re.M), f"no {c.test}"
        assert (
            f"import {c.module}" in (REAL / file).read_text() or f"from {c.module} import" in (REAL / file).read_text()
        )


def test_vendored_files_carry_their_licence(cases):
    for module in {c.module for c in cases}:
        head = (REAL / f"{module}.py").read_text().splitlines()[:8]
        text = "\n".join(head)
        assert "# Source: " in text, module
        notice = re.search(r"see LICENSES/([\w.-]+\.(?:txt|md))", text)
        assert notice, f"{module}: no licence notice in its header"
        assert (REAL / "LICENSES" / notice.group(1)).is_file(), f"{module}: LICENSES/{notice.group(1)} missing"


def test_workloads_pass_under_plain_pytest(real_copy, cases):
    nodes = [c.test for c in cases]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(real_copy), *nodes],
        cwd=real_copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{len(set(nodes))} passed" in proc.stdout, proc.stdout[-500:]


HELDOUT_CHECK = r"""
import inspect, sys
sys.path.insert(0, sys.argv[1])
import importlib, real_cases
for c in real_cases.CASES:
    fn = importlib.import_module(c.module)
    for part in c.qualname.split("."):
        fn = getattr(fn, part)
    ok = 0
    for args, kwargs in real_cases.heldout(c.qualname):
        try:
            out = fn(*args, **kwargs)
            if inspect.isgenerator(out):
                out = list(out)
            ok += 1
        except Exception:
            pass  # error cases are held-out inputs too
    print(c.qualname, ok)
"""


def test_heldout_inputs_run_with_the_original(real_copy, cases):
    proc = subprocess.run(
        [sys.executable, "-c", HELDOUT_CHECK, str(real_copy)],
        cwd=real_copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ran = dict(line.rsplit(" ", 1) for line in proc.stdout.splitlines())
    assert set(ran) == {c.qualname for c in cases}
    assert all(int(n) >= 3 for n in ran.values()), ran  # each has at least three inputs that return


def test_bench_selects_parts_and_names(bench):
    real = bench.jobs("real", set())
    rules = bench.jobs("rules", set())
    assert {j.part for j in real} == {"real"} and {j.part for j in rules} == {"rules"}
    assert len(bench.jobs("both", set())) == len(real) + len(rules)
    assert [j.qualname for j in bench.jobs("both", {"dedent"})] == ["dedent"]
    assert [j.qualname for j in bench.jobs("real", {"psf_heapq.merge"})] == ["merge"]
    assert bench.jobs("rules", {"dedent"}) == []
    assert bench.jobs("real", {"no_such_function"}) == []


class _V:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Scale:
    def __init__(self, scale, speedup):
        self.scale, self.speedup = scale, speedup


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (_V(), None),
        (_V(speedup_10x=3.5), 3.5),
        (_V(speedup_10x=None), None),
        (_V(scaled={10: 2.0, 100: 9.0}), 2.0),
        (_V(scaled={"10×": 2.5}), 2.5),
        (_V(scaled={100: 9.0}), None),
        (_V(scales=[(1, 1.0), (10, 4.0)]), 4.0),
        (_V(scales=[{"scale": 10, "speedup": 1.7}]), 1.7),
        (_V(scales=[_Scale(1, 1.1), _Scale(10, 6.0)]), 6.0),
        (_V(scales=[_Scale(100, 6.0)]), None),
    ],
)
def test_scaled_speedup_reads_what_the_measurement_reports(bench, variant, expected):
    assert bench.scaled_speedup(variant) == expected


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (_V(speedup=1.4, title="Apply faster variant — 1.4× faster"), 1.4),
        (_V(speedup=1.4, basis="captured", title="x"), 1.4),
        (
            _V(speedup=24.0, basis="10×", title="Apply faster variant — 1.0× on your tests' inputs, 24× at 10× size"),
            1.0,
        ),
        (_V(speedup=24.0, basis="10×", title="Apply faster variant — 24× faster"), None),
    ],
)
def test_workload_speedup_is_the_figure_at_the_workloads_sizes(bench, variant, expected):
    assert bench.workload_speedup(variant) == expected
