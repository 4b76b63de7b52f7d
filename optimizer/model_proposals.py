"""Model proposals from the completion engine: a few samples per round, each parsed as the same function.

The prompt and the parsing are pure (optimizer/proposals.py); this runs them through an engine
(inference/engine.py), so the language server, ``slipstream optimize`` and ``bench/optimize.py --model``
propose the same way. The engine is whichever the user configured: the local model, or a remote one (a
team's llama-server, vLLM, Ollama: inference/remote.py), whose model counts *pseudo-tokens* and has no BOS
token, so the prompt is the model's own tokens of the text, behind its BOS where it has one
(``proposal_prompt``); a remote engine sends that text as a plain completion prompt.

The prompt carries the profile's hot lines in the function (when there is a profile of this text) and
what became of the previous attempts (the pipeline's feedback: rules and proposals rejected, and why).

A proposal is only a candidate: the pipeline checks it (optimizer/reach.py), runs it in the sandbox and
judges it like any other. A generation that fails (a remote engine's fault) ends the round with that
fault as the reason; one superseded by a keystroke ends it quietly (the editor needed the model).
"""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any

from slipstream.inference.api import FAILED
from slipstream.inference.engine import GenerationRequest
from slipstream.inference.prompt import Prompt
from slipstream.inference.stops import StopRules
from slipstream.optimizer.functions import find_function, first_line
from slipstream.optimizer.pipeline import Proposer
from slipstream.optimizer.profile import LineStat
from slipstream.optimizer.proposals import build_prompt, parse_proposal
from slipstream.optimizer.rules import Rewrite

HOT_LINES = 3  # in the prompt: the hottest lines of the function, at most this many
HOT_PERCENT = 1.0  # ... at or above this share of the run's time (or 1 MB of memory)


# Where the model's function ends: the first line back at module level (optimizer/proposals.py reads no
# further), so the engine stops there instead of writing on to max_tokens.
_MODULE_LEVEL = re.compile(r"(?:^|\n)(?=\S)")


def function_end(text: str) -> int | None:
    m = _MODULE_LEVEL.search(text)
    return m.start() if m else None


class ProposalError(Exception):
    """The engine could not answer (a remote engine's fault): the pipeline notes it and goes on without."""


def proposal_prompt(model: Any, text: str) -> Prompt:
    """The prompt an engine is given: the model's tokens of ``text`` after its BOS, where it has one. For a
    remote model those are pseudo-tokens that decode back to ``text`` exactly (inference/remote.py)."""
    head = [model.bos] if getattr(model, "bos", None) is not None else []
    return Prompt(head + model.tokenize(text), "prefix", text, "")


def hot_hints(source: str, qualname: str, lines: Sequence[LineStat]) -> list[str]:
    """The profile's hottest lines inside the function, as prompt notes (lines counted from its ``def``)."""
    try:
        node = find_function(ast.parse(source), qualname)
    except SyntaxError:
        return []
    if node is None:
        return []
    first, last = first_line(node), node.end_lineno or node.lineno
    text = source.splitlines()
    inside = [ln for ln in lines if first <= ln.line <= last and ln.line <= len(text)]
    inside = [ln for ln in inside if ln.cpu_percent >= HOT_PERCENT or ln.peak_mb >= 1.0]
    inside.sort(key=lambda ln: (-ln.cpu_percent, -ln.peak_mb))
    hints = []
    for ln in inside[:HOT_LINES]:
        cost = [f"{ln.cpu_percent:.0f} % of the run's time"] if ln.cpu_percent >= HOT_PERCENT else []
        if ln.peak_mb >= 1.0:
            cost.append(f"{ln.peak_mb:.0f} MB")
        hints.append(f"the profile says `{text[ln.line - 1].strip()[:80]}` takes {' and '.join(cost)}")
    return hints


def _wait(future: Future, req: GenerationRequest, cancel: threading.Event | None, timeout: float) -> Any:
    """The generation's result; the run's cancel flag, when set, cancels the request."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return future.result(timeout=0.1)
        except FutureTimeout:
            if cancel is not None and cancel.is_set():
                req.cancel.set()
            if time.monotonic() > deadline:
                req.cancel.set()
                raise ProposalError("the model took too long to answer") from None


def engine_proposer(
    engine: Any,
    samples: int = 3,
    max_tokens: int | None = None,
    hot_lines: Sequence[LineStat] = (),
    fault: Callable[[], str | None] | None = None,
    cancel: threading.Event | None = None,
) -> Proposer:
    """Candidates from the completion engine: a few samples per round, each parsed as the same function.

    ``max_tokens``: per sample; by default 256 for the local model, 768 for a remote one (a larger model
    writes whole bodies, and the server's time is not the editor's). ``hot_lines``: the profile's lines of
    the function's file, for the prompt. ``fault``: the engine's last fault message, for the error when a
    generation fails. ``cancel``: the run's cancel flag; setting it stops a generation under way (each
    request has its own flag: the engine sets that one when a keystroke supersedes it, which must not
    cancel the run)."""
    model = engine.model
    remote = getattr(model, "endpoint", None) is not None
    tokens = max_tokens if max_tokens is not None else (768 if remote else 256)
    seconds = 90.0 if remote else 20.0

    def propose(source: str, qualname: str, feedback: list[str]) -> list[Rewrite]:
        text = build_prompt(source, qualname, feedback, hot_hints(source, qualname, hot_lines))
        if text is None:
            return []
        prompt = proposal_prompt(model, text)
        out: list[Rewrite] = []
        for k in range(samples):
            rules = StopRules(max_tokens=tokens, max_lines=80, time_budget_s=seconds, cutter=function_end)
            req = GenerationRequest(prompt, rules, temperature=0.0 if k == 0 else 0.8, seed=k + len(feedback))
            res = _wait(engine.submit(req), req, cancel, seconds + 60)
            if res.cancelled:
                break  # the editor needs the model: proposals wait for another run
            if res.stop_reason == FAILED:
                why = fault() if fault is not None else None
                raise ProposalError(why or f"{model.name} did not answer")
            cand = parse_proposal(source, qualname, res.text)
            if cand is not None and all(c.source != cand.source for c in out):
                out.append(replace(cand, title=f"proposal from {model.name}"))
        return out

    return propose
