"""Glue from a document and a cursor to a generation request and back; no LSP types here.

Shared by the LSP handler and the ``slipstream complete`` command so both behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from slipstream.heuristics.cadence import Cadence
from slipstream.heuristics.context import CursorContext, analyze
from slipstream.heuristics.policy import Limits, Plan, plan
from slipstream.heuristics.postprocess import breaks_syntax, clean
from slipstream.inference.engine import GenerationRequest, GenerationResult
from slipstream.inference.model import LoadedModel
from slipstream.inference.prompt import Prompt, PromptBudget, build_prompt
from slipstream.inference.stops import StopRules
from slipstream.server.settings import Settings


@dataclass(frozen=True)
class Prepared:
    prompt: Prompt
    context: CursorContext
    plan: Plan
    rules: StopRules
    prefix: str
    suffix: str


def prepare(
    text: str,
    offset: int,
    model: LoadedModel,
    settings: Settings,
    cadence: Cadence | None = None,
    invoked: bool = False,
    line_factor: Mapping[str, float] | None = None,
    extra: str = "",
    hint: int | None = None,
) -> Prepared:
    prefix, suffix = text[:offset], text[offset:]
    ctx = analyze(prefix, suffix)
    limits = Limits(
        max_lines=settings.max_lines,
        max_tokens_line=min(48, settings.max_tokens),
        max_tokens_block=settings.max_tokens,
        time_budget_s=settings.time_budget_ms / 1000,
    )
    p = plan(ctx, limits, cadence, invoked, settings.mode, line_factor)
    rules = StopRules(
        max_tokens=p.max_tokens,
        max_lines=p.max_lines,
        single_line=p.single_line,
        time_budget_s=p.time_budget_s,
        cutter=p.cutter,
    )
    prompt = build_prompt(prefix, suffix, model.tokenize, model.fim, model.bos, extra=extra, hint=hint)
    room = model.n_ctx - rules.max_tokens - 16
    if len(prompt.tokens) > room:  # a small context size (setting) or a long extra context: shrink to fit
        budget = PromptBudget(
            max_prefix_tokens=room * 6 // 10, max_suffix_tokens=room // 10, max_line_tokens=room // 5, slack_tokens=0
        )
        prompt = build_prompt(prefix, suffix, model.tokenize, model.fim, model.bos, budget)
    return Prepared(prompt, ctx, p, rules, prefix, suffix)


def request_for(
    prepared: Prepared,
    on_partial: Callable[[str], None] | None = None,
    label: str = "",
    temperature: float = 0.0,
    seed: int = 0,
) -> GenerationRequest:
    """A generation request whose streamed text is already post-processed for display."""
    last = [""]

    def on_text(raw: str) -> None:
        shown = clean(raw, prepared.context, final=False)
        if shown != last[0]:
            last[0] = shown
            if on_partial is not None and shown:
                on_partial(shown)

    return GenerationRequest(
        prepared.prompt,
        prepared.rules,
        on_text if on_partial else None,
        label=label,
        temperature=temperature,
        seed=seed,
    )


def finish(prepared: Prepared, result: GenerationResult) -> str:
    """The final suggestion: cleaned, and dropped if it would add a syntax error to its block."""
    text = clean(result.text, prepared.context, final=True)
    if text and breaks_syntax(prepared.prefix, text, prepared.suffix):
        return ""
    return text
