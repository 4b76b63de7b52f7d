"""Variants that misbehave (a model can write anything): each is stopped within its limits and rejected with
a clear reason, and the workspace stays byte-for-byte the same."""

from __future__ import annotations

import hashlib
from pathlib import Path

from optimizer.capture import Workload
from optimizer.pipeline import optimize_function
from optimizer.proposals import parse_proposal

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


def test_hostile_variants_are_stopped_and_rejected(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "calc.py").write_text(CALC)
    (ws / "test_calc.py").write_text(CALC_TEST)
    before = digest(ws)
    source = CALC
    labels: dict[str, str] = {}

    def proposer(src: str, qualname: str, feedback: list[str]):
        out = []
        for label, body in HOSTILE.items():
            cand = parse_proposal(src, qualname, body.replace("WS", repr(str(ws))))
            assert cand is not None, label
            cand = cand.__class__(f"model: {label}", cand.title, cand.source)
            labels[cand.rule] = label
            out.append(cand)
        return out if not feedback or len(feedback) <= len(HOSTILE) else []

    res = optimize_function(
        str(ws), str(ws / "calc.py"), "total", Workload("pytest", str(ws)), proposer=proposer, model_rounds=1
    )
    reasons = {r["rule"]: r["reason"] for r in res.rejected if r["rule"].startswith("model: ")}
    assert set(reasons) == {f"model: {label}" for label in HOSTILE}, reasons
    assert not [v for v in res.variants if v.rule_or_model.startswith("model: ")]
    expect = {
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
    for label, word in expect.items():
        assert word in reasons[f"model: {label}"], (label, reasons[f"model: {label}"])
    assert digest(ws) == before
    assert (ws / "calc.py").read_text() == source
