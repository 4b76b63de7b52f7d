"""Model proposals from the completion engine: a few samples per round, each parsed as the same function.

The prompt and the parsing are pure (optimizer/proposals.py); this runs them through an engine
(inference/engine.py), so the language server and ``bench/optimize.py --model`` propose the same way.
A proposal is only a candidate: the pipeline checks it (optimizer/reach.py), runs it in the sandbox and
judges it like any other.
"""

from __future__ import annotations

from typing import Any

from slipstream.inference.engine import GenerationRequest
from slipstream.inference.prompt import Prompt
from slipstream.inference.stops import StopRules
from slipstream.optimizer.pipeline import Proposer
from slipstream.optimizer.proposals import build_prompt, parse_proposal
from slipstream.optimizer.rules import Rewrite


def engine_proposer(engine: Any, samples: int = 3, max_tokens: int = 256) -> Proposer:
    """Candidates from the completion model: a few samples per round, each parsed as the same function."""
    model = engine.model

    def propose(source: str, qualname: str, feedback: list[str]) -> list[Rewrite]:
        text = build_prompt(source, qualname, feedback)
        if text is None:
            return []
        head = [model.bos] if model.bos is not None else []
        prompt = Prompt(head + model.tokenize(text), "prefix", text, "")
        out: list[Rewrite] = []
        for k in range(samples):
            rules = StopRules(max_tokens=max_tokens, max_lines=60, time_budget_s=20.0)
            req = GenerationRequest(prompt, rules, temperature=0.0 if k == 0 else 0.8, seed=k + len(feedback))
            res = engine.submit(req).result(timeout=120)
            if res.cancelled:
                break  # the editor needs the model: proposals wait for another run
            cand = parse_proposal(source, qualname, res.text)
            if cand is not None and all(c.source != cand.source for c in out):
                out.append(cand)
        return out

    return propose
