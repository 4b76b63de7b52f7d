"""Glue from a document and a cursor to a generation request and back; no LSP types here.

Shared by the LSP handler and the ``slipstream complete`` command so both behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from heuristics.context import CursorContext, analyze
from heuristics.policy import Limits, Plan, plan
from heuristics.postprocess import clean
from inference.engine import GenerationRequest, GenerationResult
from inference.model import LoadedModel
from inference.prompt import Prompt, build_prompt
from inference.stops import StopRules
from server.settings import Settings


@dataclass(frozen=True)
class Prepared:
    prompt: Prompt
    context: CursorContext
    plan: Plan
    rules: StopRules


def prepare(text: str, offset: int, model: LoadedModel, settings: Settings) -> Prepared:
    prefix, suffix = text[:offset], text[offset:]
    ctx = analyze(prefix, suffix)
    limits = Limits(
        max_lines=settings.max_lines,
        max_tokens_line=min(48, settings.max_tokens),
        max_tokens_block=settings.max_tokens,
        time_budget_s=settings.time_budget_ms / 1000,
    )
    p = plan(ctx, limits)
    if settings.mode == "acceleration" and not p.single_line:
        p = Plan("acceleration", True, 1, limits.max_tokens_line, limits.time_budget_s)
    elif settings.mode == "exploration" and p.single_line:
        p = Plan("exploration", False, limits.max_lines, limits.max_tokens_block, limits.time_budget_s, p.cutter)
    rules = StopRules(
        max_tokens=p.max_tokens,
        max_lines=p.max_lines,
        single_line=p.single_line,
        time_budget_s=p.time_budget_s,
        cutter=p.cutter,
    )
    prompt = build_prompt(prefix, suffix, model.tokenize, model.fim, model.bos)
    return Prepared(prompt, ctx, p, rules)


def request_for(
    prepared: Prepared, on_partial: Callable[[str], None] | None = None, label: str = ""
) -> GenerationRequest:
    """A generation request whose streamed text is already post-processed for display."""
    last = [""]

    def on_text(raw: str) -> None:
        shown = clean(raw, prepared.context, final=False)
        if shown != last[0]:
            last[0] = shown
            if on_partial is not None and shown:
                on_partial(shown)

    return GenerationRequest(prepared.prompt, prepared.rules, on_text if on_partial else None, label=label)


def finish(prepared: Prepared, result: GenerationResult) -> str:
    return clean(result.text, prepared.context, final=True)
