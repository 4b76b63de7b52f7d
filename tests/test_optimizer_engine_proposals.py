"""Model proposals from the configured engine (optimizer/model_proposals.py, server/optimize.py).

With ``engine: openai`` the proposals are asked of that server (the real llama-cpp-python server with the
default model: its access log counts the completions) and each candidate goes through the same checks as
any other (reach, the sandbox, verification, measurement); with the local engine nothing reaches the
server. An optimize request that arrives while the model loads waits for it (and says so) rather than
running without proposals. Prompts carry the profile's hot lines of the function and the reasons earlier
attempts failed.
"""

from __future__ import annotations

import hashlib
import itertools
import queue
import textwrap
import time
from pathlib import Path

import pytest
from slipstream.optimizer.capture import Workload
from slipstream.optimizer.model_proposals import (
    ProposalError,
    engine_proposer,
    function_end,
    hot_hints,
    proposal_prompt,
)
from slipstream.optimizer.pipeline import optimize_function
from slipstream.optimizer.profile import LineStat
from slipstream.optimizer.proposals import build_prompt
from slipstream.optimizer.rules import Rewrite
from slipstream.optimizer.sandbox import isolation

from tests.conftest import LLAMA_API_KEY, LlamaServer, free_port
from tests.rawlsp import RawServer

KEY_ENV = "SLIPSTREAM_TEST_PROPOSALS_KEY"
# Nothing a rule could make measurably faster: the model's rounds always run.
MODULE = "def scale(xs, k):\n    return [x * k + 1 for x in xs]\n"
TESTS = (
    "from calc import scale\n\n\n"
    "def test_scale():\n"
    "    assert scale(list(range(3000)), 3)[5] == 16\n"
    "    assert scale([1.5, -2.0, 7.0], 2) == [4.0, -3.0, 15.0]\n"
)


def workspace(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text(MODULE)
    (root / "test_calc.py").write_text(TESTS)
    return root


def completions(server: LlamaServer) -> int:
    """Completion requests the server has answered so far (uvicorn's access log)."""
    return server.log().count('"POST /v1/completions HTTP/1.1"')


def remote_config(server: LlamaServer):
    from slipstream.inference.remote import RemoteConfig

    return RemoteConfig(server.url, LlamaServer.ALIAS, api_key_env=KEY_ENV, engine="openai")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ── pure parts ──────────────────────────────────────────────────────────────────────────────────────────

HOT_SOURCE = textwrap.dedent("""
    import math


    def crunch(n):
        squares = [i * i for i in range(n)]
        total = 0
        for s in squares:
            total += s % 7
        return total


    def other():
        return 1
""").lstrip()


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ([], []),
        # Outside the function, or too cold: left out.
        ([LineStat("p", 1, 50.0, 0.0), LineStat("p", 13, 40.0, 0.0), LineStat("p", 6, 0.4, 0.0)], []),
        (
            [LineStat("p", 8, 12.0, 0.0), LineStat("p", 5, 61.0, 3.0), LineStat("p", 7, 20.0, 0.0)],
            [
                "the profile says `squares = [i * i for i in range(n)]` takes 61 % of the run's time and 3 MB",
                "the profile says `total += s % 7` takes 12 % of the run's time",
                "the profile says `for s in squares:` takes 20 % of the run's time",
            ],
        ),
        ([LineStat("p", 5, 0.0, 8.0)], ["the profile says `squares = [i * i for i in range(n)]` takes 8 MB"]),
    ],
)
def test_hot_lines_for_the_prompt(stats, expected):
    got = hot_hints(HOT_SOURCE, "crunch", stats)
    assert sorted(got) == sorted(expected)
    if expected:
        assert got[0] == expected[0]  # the hottest first
        prompt = build_prompt(HOT_SOURCE, "crunch", ["rule sum-loop: not measurably faster: 1.01×"], got)
        assert prompt is not None and f"# Hint: {expected[0]}" in prompt
        assert "# A previous attempt failed: rule sum-loop: not measurably faster" in prompt


def test_the_engine_stops_where_the_function_ends():
    assert function_end("    x = 1\n    return x\n\ndef g():\n") == len("    x = 1\n    return x\n")
    assert function_end("    x = 1\n\n    return x\n") is None  # still inside
    assert function_end("print(1)") == 0  # never indented: nothing to parse


# ── the real models ─────────────────────────────────────────────────────────────────────────────────────


def test_the_prompt_is_each_models_own_tokens(default_model_path, llama_server, monkeypatch):
    """The local model: its BOS and its tokens (as before). A remote model: pseudo-tokens without a BOS that
    decode to the prompt exactly, which the openai dialect sends as a plain completion prompt."""
    from slipstream.inference.host import open_remote
    from slipstream.inference.model import ModelConfig, load_model
    from slipstream.inference.remote import pseudo_text, split_layout

    text = build_prompt(MODULE, "scale", ["rule x: failed"])
    assert text is not None
    local = load_model(ModelConfig(default_model_path, n_ctx=1024, n_threads=2))
    prompt = proposal_prompt(local, text)
    assert prompt.tokens == [local.bos, *local.tokenize(text)] and prompt.mode == "prefix"
    monkeypatch.setenv(KEY_ENV, LLAMA_API_KEY)
    engine = open_remote(remote_config(llama_server))
    try:
        remote = proposal_prompt(engine.model, text)
        assert pseudo_text(remote.tokens) == text
        layout = split_layout(remote.tokens)
        assert layout.prefix == text and layout.after is None
    finally:
        engine.close()


@pytest.mark.skipif(not isolation().available, reason="model-written code runs only under OS isolation")
def test_proposals_from_the_configured_server_are_checked_like_any_candidate(llama_server, tmp_path, monkeypatch):
    from slipstream.inference.host import open_remote

    ws = workspace(tmp_path / "ws")
    monkeypatch.setenv(KEY_ENV, LLAMA_API_KEY)
    faults: list[str | None] = []
    engine = open_remote(remote_config(llama_server), faults.append)
    assert engine.check() is None, faults
    # Two samples a round, two rounds (the feedback); the greedy sample of the 270M model repeats the
    # original, the seeded one (seed 1) writes a different body. Short: each token costs the server time.
    samples = 2
    hot = [LineStat(str(ws / "calc.py"), 2, 90.0, 0.0)]
    proposer = engine_proposer(engine, samples=samples, max_tokens=96, hot_lines=hot)
    calls: list[tuple[list[str], list[Rewrite]]] = []

    def observed(source: str, qualname: str, feedback: list[str]) -> list[Rewrite]:
        out = proposer(source, qualname, feedback)
        calls.append((list(feedback), out))
        return out

    before = completions(llama_server)
    try:
        res = optimize_function(
            str(ws), str(ws / "calc.py"), "scale", Workload("pytest", str(ws)), proposer=observed, model_rounds=2
        )
    finally:
        engine.close()
    assert calls, res
    assert any(cands for _, cands in calls), "the server's model wrote at least one candidate (judged below)"
    time.sleep(0.5)  # the access log line is written as the response ends
    assert completions(llama_server) - before == samples * len(calls), llama_server.log()[-2000:]
    assert res.isolation.startswith("bubblewrap")
    # Every candidate the server's model wrote was judged: offered for review, or rejected with a reason.
    offered = {digest(v.source) for v in res.variants}
    rejected = {r["source_digest"]: r for r in res.rejected if r["rule"] == "model"}
    for _, cands in calls:
        for c in cands:
            assert c.rule == "model" and c.title == f"proposal from {LlamaServer.ALIAS}"
            assert digest(c.source) in offered | set(rejected) or c.source == MODULE, c.source
            assert digest(c.source) not in rejected or rejected[digest(c.source)]["reason"]
    assert all(v.needs_review and v.rule_or_model == "model" for v in res.variants)
    # Each round's prompt carries the reasons the previous round's candidates failed.
    for (_, first), (second_feedback, _) in itertools.pairwise(calls):
        for c in first:
            r = rejected.get(digest(c.source))
            assert r is None or f"model: {r['reason']}" in second_feedback, (r, second_feedback)
    assert (ws / "calc.py").read_text() == MODULE


def test_a_server_that_does_not_answer_is_a_note_not_a_failure(tmp_path, monkeypatch):
    """A remote engine that cannot be reached: the fault is the proposals' note, the rules still ran."""
    from slipstream.inference.host import open_remote
    from slipstream.inference.remote import RemoteConfig

    ws = workspace(tmp_path / "ws")
    faults: list[str | None] = []
    engine = open_remote(RemoteConfig(f"http://127.0.0.1:{free_port()}", engine="openai"), faults.append)
    proposer = engine_proposer(engine, samples=1, fault=lambda: next((f for f in reversed(faults) if f), None))
    try:
        with pytest.raises(ProposalError) as err:
            proposer(MODULE, "scale", [])
        assert "refused" in str(err.value) or "connect" in str(err.value), err.value
        if isolation().available:
            res = optimize_function(
                str(ws), str(ws / "calc.py"), "scale", Workload("pytest", str(ws)), proposer=proposer, model_rounds=1
            )
            assert any(n.startswith("model proposals failed:") for n in res.notes), res.notes
            assert res.inputs > 0 and not res.variants
    finally:
        engine.close()


# ── over LSP: the configured engine, and a request that arrives while the model loads ──────────────────────


_IDS = itertools.count(1)


def optimize_now(server: RawServer, uri: str) -> str:
    """Send the optimize request without waiting for its answer; its id."""
    rid = f"optimize-{next(_IDS)}"
    params = {"command": "slipstream.optimizeFunction", "arguments": [uri, 0]}
    server.send({"jsonrpc": "2.0", "id": rid, "method": "workspace/executeCommand", "params": params})
    return rid


def progress_messages(server: RawServer) -> list[str]:
    return [
        n["params"]["value"].get("message", "")
        for n in server.notifications
        if n["method"] == "$/progress" and n["params"]["value"].get("kind") == "report"
    ]


def cancel_when(server: RawServer, rid: str, seen, timeout: float = 300) -> dict:
    """Wait until ``seen()`` holds, then press the progress's cancel button; the (cancelled) result."""
    deadline = time.monotonic() + timeout
    while not seen():
        assert time.monotonic() < deadline, progress_messages(server)
        try:
            return server.wait_response(rid, timeout=0.2)  # it ended first (asserted on by the caller)
        except (TimeoutError, queue.Empty):
            pass
    (token,) = {
        n["params"]["token"]
        for n in server.notifications
        if n["method"] == "$/progress" and "Optimizing" in n["params"]["value"].get("title", "")
    }
    server.notify("window/workDoneProgress/cancel", {"token": token})
    return server.wait_response(rid, timeout=120)


@pytest.mark.skipif(not isolation().available, reason="model-written code runs only under OS isolation")
def test_lsp_waits_for_the_loading_model_and_asks_the_configured_engine(llama_server, tmp_path, monkeypatch):
    """Each run is cancelled once it shows what is tested (the judging of candidates is tested above): the
    model's generation under way stops with it."""
    monkeypatch.setenv(KEY_ENV, LLAMA_API_KEY)  # the language server's environment holds the key
    ws = workspace(tmp_path / "ws")
    uri = (ws / "calc.py").as_uri()
    options = {"storagePath": str(tmp_path / "storage"), "optimizer": {"timeLimit": 60}}
    asking = "asking the model for variants (round 1/3)"
    server = RawServer()
    try:
        # The local model: Optimize clicked at once, while the model is still loading.
        server.initialize(options)
        before = completions(llama_server)
        rid = optimize_now(server, uri)
        t0 = time.monotonic()
        result = cancel_when(server, rid, lambda: asking in progress_messages(server))["result"]
        assert time.monotonic() - t0 < 200
        messages = progress_messages(server)
        assert "waiting for the model to load (for model proposals)" in messages
        assert messages.index("waiting for the model to load (for model proposals)") < messages.index(asking)
        assert result["error"] == "cancelled", result
        assert completions(llama_server) == before, "the local engine never reaches the remote server"

        # engine: openai, set while the server runs: the request waits for the connection, then asks it.
        server.notifications.clear()
        remote = {"engine": "openai", "endpoint": llama_server.url, "model": LlamaServer.ALIAS, "apiKeyEnv": KEY_ENV}
        server.notify("workspace/didChangeConfiguration", {"settings": {**options, **remote}})
        rid = optimize_now(server, uri)
        result = cancel_when(server, rid, lambda: completions(llama_server) > before)["result"]
        assert result["error"] == "cancelled", result
        assert asking in progress_messages(server)
        status = server.request("slipstream/getStatus", {})["result"]
        assert status["model"]["engine"] == "openai" and status["state"] == "ready", status
        assert (ws / "calc.py").read_text() == MODULE
    finally:
        assert server.close() == 0


def test_lsp_says_why_there_are_no_proposals_when_the_model_fails(tmp_path):
    ws = workspace(tmp_path / "ws")
    uri = (ws / "calc.py").as_uri()
    server = RawServer()
    try:
        server.initialize({"storagePath": str(tmp_path / "storage"), "modelPath": str(tmp_path / "missing.gguf")})
        rid = optimize_now(server, uri)
        result = server.wait_response(rid, timeout=600)["result"]
        notes = [n for n in result["notes"] if n.startswith("model proposals were not run: no model is ready (error")]
        assert notes, result
        assert "(model proposals off)" not in result["error"]
    finally:
        assert server.close() == 0


def test_the_benchmark_takes_its_proposals_from_a_configured_server(llama_server, tmp_path):
    """``bench/optimize.py --engine openai --endpoint URL``: the real-code part with proposals from an inference
    server (where a strong code model would run), as ``slipstream optimize`` gets them; the server answers."""
    import os
    import subprocess
    import sys

    before = completions(llama_server)
    out = subprocess.run(
        [sys.executable, "bench/optimize.py", "--part", "real", "--only", "psf_posixpath.normpath"]
        + ["--engine", "openai", "--endpoint", llama_server.url, "--remote-model", LlamaServer.ALIAS]
        + ["--api-key-env", KEY_ENV],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, KEY_ENV: LLAMA_API_KEY},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"proposals: rules and {LlamaServer.ALIAS} at {llama_server.url}" in out.stdout, out.stdout
    assert completions(llama_server) > before  # the candidates came from that server
    wrong = subprocess.run(
        [sys.executable, "bench/optimize.py", "--part", "real", "--engine", "openai", "--endpoint", "ftp://x"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong.returncode == 2 and "endpoint" in wrong.stderr, wrong.stderr  # a bad endpoint: a clear error
