"""Variants that misbehave (a model can write anything): refused before they run, or stopped within their
limits by the sandbox, each with a clear reason; the workspace stays byte-for-byte the same.
The attack suite (tests/security/) goes further: every route around the sandbox a reviewer found."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from slipstream.optimizer.capture import Workload
from slipstream.optimizer.pipeline import optimize_function
from slipstream.optimizer.proposals import parse_proposal
from slipstream.optimizer.sandbox import Limits
from slipstream.optimizer.verify import verify

CALC = "def total(xs):\n    out = 0\n    for x in xs:\n        out = out + x\n    return out\n"
CALC_TEST = "from calc import total\n\n\ndef test_total():\n    assert total(list(range(2000))) == 1999000\n"
OS = '__import__("o" + "s")'  # hidden from the static purity check: the sandbox must stop it
HOSTILE = {
    "loops forever": "    while True:\n        pass\n",
    "allocates without bound": "    junk = []\n    while True:\n        junk.append(bytearray(1 << 24))\n",
    "forks repeatedly": f"    for _ in range(50):\n        {OS}.fork()\n    return sum(xs)\n",
    "runs a shell command": f"    {OS}.system('true')\n    return sum(xs)\n",
    "writes in its own directory": "    getattr(__import__('builtins'), 'op' + 'en')('cache.txt', 'w').write('x')\n"
    "    return sum(xs)\n",
    "writes into the workspace": "    getattr(__import__('builtins'), 'op' + 'en')(WS + '/calc.py', 'w').write('x')\n"
    "    return sum(xs)\n",
    "deletes workspace files": f"    {OS}.remove(WS + '/test_calc.py')\n    return sum(xs)\n",
    "opens a socket": "    __import__('socket').create_connection(('127.0.0.1', 9))\n    return sum(xs)\n",
    "calls sys.exit": "    __import__('sys').exit(3)\n",
    "calls os._exit": f"    {OS}._exit(0)\n",
    "segfaults": "    __import__('ctypes').string_at(0)\n",
}


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()


EXPECT = {  # what the sandbox itself says when such code runs (the static check bypassed)
    "loops forever": "timeout",
    "allocates without bound": "MemoryError",
    "forks repeatedly": "os.fork",
    "runs a shell command": "os.system",
    "writes in its own directory": "touches files differently",
    "writes into the workspace": "outside the sandbox",
    "deletes workspace files": "os.remove",
    "opens a socket": "socket",
    "calls sys.exit": "SystemExit",
    "calls os._exit": "ended the process",
    "segfaults": "SIGSEGV",
}


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "calc.py").write_text(CALC)
    (ws / "test_calc.py").write_text(CALC_TEST)
    return ws


def test_hostile_model_variants_are_rejected_by_the_pipeline(tmp_path):
    """Through the pipeline: each is refused before it runs (it reaches the interpreter) or stopped by the
    sandbox; none is offered; the workspace is byte-for-byte the same."""
    ws = workspace(tmp_path)
    before = digest(ws)

    def proposer(src: str, qualname: str, feedback: list[str]):
        out = []
        for label, body in HOSTILE.items():
            cand = parse_proposal(src, qualname, body.replace("WS", repr(str(ws))))
            assert cand is not None, label
            out.append(cand.__class__(f"model: {label}", cand.title, cand.source))
        return out if not feedback or len(feedback) <= len(HOSTILE) else []

    res = optimize_function(
        str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=proposer, model_rounds=1
    )
    reasons = {r["rule"]: r["reason"] for r in res.rejected if r["rule"].startswith("model: ")}
    assert set(reasons) == {f"model: {label}" for label in HOSTILE}, reasons
    assert not [v for v in res.variants if v.rule_or_model.startswith("model: ")]
    for label in ("forks repeatedly", "runs a shell command", "opens a socket", "segfaults", "calls os._exit"):
        assert "may not reach the interpreter" in reasons[f"model: {label}"], reasons[f"model: {label}"]
    assert "timeout" in reasons["model: loops forever"]
    assert digest(ws) == before


@pytest.mark.parametrize("label", list(HOSTILE))
def test_the_sandbox_stops_each_hostile_variant_on_its_own(tmp_path, label):
    """The same bodies straight into verification, as if the static check had missed them."""
    ws = workspace(tmp_path)
    before = digest(ws)
    cand = parse_proposal(CALC, "total", HOSTILE[label].replace("WS", repr(str(ws))))
    assert cand is not None
    verdict = verify(
        CALC, cand.source, "total", [((list(range(50)),), {})], Limits(seconds=5), workspace=str(ws), module="calc"
    )
    assert not verdict.ok and EXPECT[label] in verdict.reason, verdict.reason
    assert digest(ws) == before
