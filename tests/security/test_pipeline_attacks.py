"""The whole pipeline (optimizer/pipeline.optimize_function) against a scripted "model" that proposes
hostile variants of ``calc.total`` (a loop summing its argument), tested with the project's own pytest.

What this proves: a hostile proposal is refused before it runs (optimizer/reach.py) or rejected after it
ran in the sandbox, none is offered, and the invariants of conftest.World.check hold (the workspace
byte-for-byte the same, nothing outlives the run, no connection, no secret in the result, no pickle loaded
here). Every forging body (its own report, its timings, the project's test run, detecting the sandbox, a
payload the sandbox stops) is refused by the static check before it runs.

The proposals reach ``sys`` by one of two routes (tests/security/attacks.py): ``REACH``, which the static
check refuses, and ``REACH_OS`` (``os.path.sys``, where the user's module imports os and ``total`` uses
os.path), which it still lets through. The second shows what the sandbox does with code past the static
check: every containment case is still rejected. The ``closed_hole`` tests were holes, now closed:
forging variants that get past the static check by ``REACH_OS``, by state kept between calls through a
local alias, or by a format field, and are offered.
"""

from __future__ import annotations

from slipstream.optimizer.capture import Workload
from slipstream.optimizer.pipeline import OptimizeResult, optimize_function
from slipstream.optimizer.proposals import parse_proposal

from tests.security.attacks import FORGED, FORGING, LOOP, MEMO, OS_CALC, REACH, REACH_OS, SANDBOX_BY_FORMAT
from tests.security.conftest import closed_hole

STATIC = "model variants may not reach the interpreter"

# Bodies after a reach prefix (``s`` is sys, ``m`` sys.modules).
CONTAINED = {
    "writes calc.py in the workspace with libc": """\
    libc = m["ctypes"].CDLL(None)
    fd = libc.open(WS + b"/calc.py", 1 | 512)
    if fd < 0:
        raise PermissionError("the workspace is read-only")
    m["os"].write(fd, b"pwned = 1\\n")
    return sum(xs)
""",
    "connects to the test's TCP listener with libc": """\
    libc = m["ctypes"].CDLL(None)
    addr = (2).to_bytes(2, "little") + (PORT).to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8)
    if libc.connect(libc.socket(2, 1, 0), addr, len(addr)) != 0:
        raise ConnectionError("no network")
    return sum(xs)
""",
    "forks a child named with the marker": """\
    libc = m["ctypes"].CDLL(None)
    pid = libc.fork()
    if pid == 0:
        libc.prctl(15, MARKER, 0, 0, 0)
        libc.pause()
    if pid < 0:
        raise PermissionError("no fork")
    return sum(xs)
""",
    "a crafted pickle after the mark on its protocol descriptor, the driver's own result then lost": """\
    o = m["os"]
    pipes = []
    for name in o.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and o.readlink("/proc/self/fd/" + name).startswith("pipe:"):
                pipes.append(int(name))
        except OSError:
            pass
    if pipes:
        o.write(min(pipes), MARK + b"cbuiltins\\nexec\\n(V" + PWNED_CODE + b"\\ntR.\\n")
        null = o.open("/dev/null", 1)
        o.dup2(null, min(pipes))
    return sum(xs)
""",
    "right only when pytest is imported": '    if "pytest" in m:\n        return sum(xs)\n    return -1\n',
    "the clocks patched, the body unchanged": """\
    clock = m["time"]
    clock.perf_counter = lambda: 0.0
    clock.monotonic = lambda: 0.0
"""
    + LOOP,
}
# What each is rejected for once it runs (when the static check lets it through).
CONTAINED_BECAUSE = {
    "writes calc.py in the workspace with libc": "variant raises (PermissionError: the workspace is read-only)",
    "connects to the test's TCP listener with libc": "variant raises (ConnectionError: no network)",
    "forks a child named with the marker": "variant raises (PermissionError: no fork)",
    "a crafted pickle after the mark on its protocol descriptor, the driver's own result then lost": (
        "unreadable result"
    ),
    "right only when pytest is imported": "returns -1 instead of",
    "the clocks patched, the body unchanged": "not measurably faster",
}
REFUSED = {"os through __import__": '    __import__("o" + "s").system("true")\n    return sum(xs)\n'}


def proposer_for(world, bodies: dict[str, str]):
    """A scripted model: these bodies, once; the rule is ``model: <label>``."""
    asked: list[int] = []

    def propose(source: str, qualname: str, feedback: list[str]):
        asked.append(1)
        if len(asked) > 1:
            return []
        out = []
        for label, body in bodies.items():
            body = (
                body.replace("WS", repr(str(world.ws).encode()))
                .replace("PORT", str(world.tcp.sock.getsockname()[1]))
                .replace("MARKER", repr(world.marker.encode()))
                .replace("PWNED_CODE", repr(f"open({str(world.pwned)!r}, 'w').write('pwned')".encode()))
                .replace("PWNED", repr(str(world.pwned)))
                .replace("MARK", repr(b"\n\x1eslipstream-result\x1e"))
            )
            cand = parse_proposal(source, qualname, body)
            assert cand is not None, label
            out.append(cand.__class__(f"model: {label}", cand.title, cand.source))
        return out

    return propose


def optimize(world, bodies: dict[str, str], module: str | None = None) -> OptimizeResult:
    """Optimize ``calc.total`` (``module``: calc.py's text instead of the world's) with ``bodies`` proposed."""
    ws = world.ws
    if module is not None:
        (ws / "calc.py").write_text(module)
        world.rebase()
    res = optimize_function(
        str(ws),
        str(ws / "calc.py"),
        "total",
        Workload("pytest", str(ws)),
        proposer=proposer_for(world, bodies),
        model_rounds=1,
    )
    world.record(res.as_json())
    return res


def model_reasons(res: OptimizeResult) -> dict[str, str]:
    return {r["rule"].removeprefix("model: "): r["reason"] for r in res.rejected if r["rule"].startswith("model: ")}


def offered(res: OptimizeResult) -> list[tuple[str, str]]:
    return [
        (v.rule_or_model.removeprefix("model: "), v.title) for v in res.variants if v.rule_or_model.startswith("model")
    ]


def test_hostile_proposals_are_refused_before_they_run(world):
    bodies = {**REFUSED, **{label: REACH + body for label, body in CONTAINED.items()}}
    res = optimize(world, bodies)
    reasons = model_reasons(res)
    assert set(reasons) == set(bodies), (reasons, res.error, res.notes)
    assert not offered(res)
    refused = {label: why for label, why in reasons.items() if STATIC not in why}
    assert not refused, refused
    world.check()


def test_hostile_proposals_past_the_static_check_are_contained_by_the_sandbox(world):
    """The same payloads by the route the static check still lets through (``os.path.sys``): each runs in
    the sandbox and is rejected for what it did there (or refused first, once that route is closed)."""
    bodies = {**REFUSED, **{label: REACH_OS + body for label, body in CONTAINED.items()}}
    res = optimize(world, bodies, OS_CALC)
    reasons = model_reasons(res)
    assert set(reasons) == set(bodies), (reasons, res.error, res.notes)
    assert not offered(res)
    assert STATIC in reasons["os through __import__"]
    for label, because in CONTAINED_BECAUSE.items():
        assert because in reasons[label] or STATIC in reasons[label], (label, reasons[label])
    world.check()


def test_forging_proposals_are_refused_and_never_offered(world):
    """Every forging body: the pipeline's (its report, its timings, the project's tests, the sandbox
    detected, a payload) and verify()'s (tests/security/test_forged_verdicts.py: FORGED)."""
    bodies = {label: REACH + body for label, body in FORGING.items()}
    bodies.update({label: source.split("\n", 1)[1] for label, source in FORGED.items()})
    res = optimize(world, bodies)
    reasons = model_reasons(res)
    assert set(reasons) == set(bodies), (reasons, res.error, res.notes)
    assert not offered(res), offered(res)
    refused = {label: why for label, why in reasons.items() if STATIC not in why}
    assert not refused, refused
    world.check()


@closed_hole(
    "HOLE: optimizer/reach.py checks attributes of a name the user's module imported at the first level "
    "only: with an original that uses os.path, a variant may use os.path.sys (and os.path.os). Through it a "
    "body that returns -1 forges its report (the original's, written on its protocol descriptor after the "
    "mark, which it then points at /dev/null so that the driver's own result is lost), answers the timing "
    "requests itself and forges the project's test run; it is offered as 'Apply model variant — about 3× "
    "faster (passed 14 checks — review the diff)', and so are a variant right only where "
    "'_slipstream_sandboxed' is loaded, the unchanged loop answering its own timing requests, and a correct "
    "one carrying a payload the sandbox stopped (connect to loopback, fork) that the user's machine would run "
    "once applied",
)
def test_forging_variants_past_the_static_check_by_os_path_are_not_offered(world):
    res = optimize(world, {label: REACH_OS + body for label, body in FORGING.items()}, OS_CALC)
    world.check()  # the sandbox contained all of them while they ran
    assert not offered(res), (offered(res), res.rejected)


@closed_hole(
    "HOLE: state between calls through a local alias of the function (`f = total; f.memo = {}`: "
    "reach.py refuses only writes whose target's root is a global name): the unchanged loop with an identity "
    "memo verifies (each input is a fresh copy), measures as fast as an empty call (a timed batch repeats "
    "the same input objects, and timing.py's cache_clear() does not know this cache), passes the derived "
    "inputs and the project's tests, and is offered as 40-60× faster; in the user's program it returns "
    "a stale sum once the list is mutated between two calls",
)
def test_a_variant_that_keeps_state_between_calls_is_not_offered(world):
    res = optimize(world, {"an identity memo on the function object": MEMO})
    world.check()
    assert not offered(res), (offered(res), res.rejected)


@closed_hole(
    "HOLE: str.format taken as a value (`fmt = str.format`; only .format written as a called "
    "attribute is checked) with a field built from pieces reads total.__globals__[__builtins__] ... "
    "_frozen_importlib's sys.modules['_slipstream_sandboxed']: a variant that returns -1 in the user's "
    "program (where the field raises KeyError) and sum(xs) in every sandboxed process is offered as about "
    "3× faster",
)
def test_a_variant_that_detects_the_sandbox_by_a_format_field_is_not_offered(world):
    res = optimize(world, {"the sandbox told by a format field": SANDBOX_BY_FORMAT})
    world.check()
    assert not offered(res), (offered(res), res.rejected)
