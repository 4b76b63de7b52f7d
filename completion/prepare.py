"""From a document and a cursor to a generation request, and from its result to the suggestion.

Shared by the completion service, the ``slipstream complete`` command and the benchmarks, so all behave
the same. ``prepare`` takes one ``PrepareRequest``; the settings it reads are ``Options``.
Token healing (inference/healing.py) applies when ``Options.token_healing`` is on, the model has a
``vocabulary`` (the local engine's ``LoadedModel``; a remote model has none, so its prompts are never healed)
and ``heals_at`` says the cursor is inside a line being written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from slipstream.heuristics.cadence import Cadence
from slipstream.heuristics.context import Above, CursorContext, analyze
from slipstream.heuristics.policy import Limits, Plan, header_line_break, plan, statement_line_break
from slipstream.heuristics.postprocess import breaks_syntax, clean
from slipstream.inference.api import PromptModel
from slipstream.inference.engine import GenerationRequest, GenerationResult
from slipstream.inference.prompt import Prompt, build_prompt
from slipstream.inference.stops import StopRules


@dataclass(frozen=True)
class Prepared:
    prompt: Prompt
    context: CursorContext
    plan: Plan
    rules: StopRules
    prefix: str  # what the prompt was built from: the document's text before the cursor, then ``lead``
    suffix: str
    lead: str = ""  # text every suggestion starts with, written by the policy, not the model
    # The analysis of the text above the cursor's own line (``context``'s is the lead's line after a lead): what
    # the next keystroke on that line can reuse.
    above: Above | None = None


@dataclass(frozen=True)
class Options:
    """The settings completion reads (the server's Settings has these fields too)."""

    max_lines: int = 8
    max_tokens: int = 128
    time_budget_ms: int = 2000
    mode: str = "auto"
    token_healing: bool = True

    @classmethod
    def from_settings(cls, settings: object) -> Options:
        names = ("max_lines", "max_tokens", "time_budget_ms", "mode", "token_healing")
        return cls(**{f: getattr(settings, f) for f in names})


@dataclass(frozen=True)
class PrepareRequest:
    text: str
    offset: int  # the cursor, as an index into ``text``
    options: Options = field(default_factory=Options)
    cadence: Cadence | None = None  # typing speed (None: no edits seen yet)
    invoked: bool = False  # explicitly asked for, not as-you-type
    line_factor: Mapping[str, float] | None = None  # per context class, from acceptance telemetry
    extra: str = ""  # project context lines to put ahead of the prompt
    hint: int | None = None  # the document's previous prompt window start (keeps the KV cache warm)
    leads: bool = True  # the policy may write a suggestion's start (False: the prompt a plain client sends)
    above: Above | None = None  # the previous keystroke's ``context.above`` (used if the lines above are the same)


def heals_at(ctx: CursorContext) -> bool:
    """Token healing where the cursor is inside a line being written: after a space, an operator, a bracket or
    a dot, inside a name, a string or a comment. Not on a blank line (the indentation is the editor's, and a
    healed indentation let the model pick a deeper one: 3 of 30 block positions of bench/fim_eval.py lost their
    exact match) nor after a complete statement (the policy writes the next line; healed, the model rewrote
    the finished last token, e.g. ``)`` into ``), None``: edit similarity 0.157 → 0.111 on 15 positions)."""
    return bool(ctx.line_prefix.strip()) and ctx.kind != "end_of_statement"


def prepare(req: PrepareRequest, model: PromptModel) -> Prepared:
    text, offset, settings = req.text, req.offset, req.options
    cadence, invoked, line_factor, extra, hint = req.cadence, req.invoked, req.line_factor, req.extra, req.hint
    prefix, suffix = text[:offset], text[offset:]
    ctx = analyze(prefix, suffix, kept=req.above)
    kept = ctx.above
    lead = (header_line_break(ctx) or statement_line_break(ctx)) if req.leads else ""
    if lead:  # ask from the body's (or the next statement's) first line, as after Enter
        prefix += lead
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
    vocab = getattr(model, "vocabulary", None) if settings.token_healing and heals_at(ctx) else None
    lines = ctx.above.newlines if ctx.above is not None else None
    budget = model.budget
    prompt = build_prompt(
        prefix, suffix, model.tokenize, model.fim, model.bos, budget, extra, hint, vocab=vocab, newlines=lines
    )
    room = model.n_ctx - rules.max_tokens - 16
    if len(prompt.tokens) > room:  # a small context size (setting) or a long extra context: shrink to fit
        budget = replace(
            budget,
            max_prefix_tokens=min(budget.max_prefix_tokens, room * 6 // 10),
            max_suffix_tokens=min(budget.max_suffix_tokens, room // 10),
            max_line_tokens=min(budget.max_line_tokens, room // 5),
            slack_tokens=0,
        )
        prompt = build_prompt(prefix, suffix, model.tokenize, model.fim, model.bos, budget, vocab=vocab, newlines=lines)
    return Prepared(prompt, ctx, p, rules, prefix, suffix, lead, kept)


def request_for(
    prepared: Prepared,
    on_partial: Callable[[str], None] | None = None,
    label: str = "",
    temperature: float = 0.0,
    seed: int = 0,
    background: bool = False,
) -> GenerationRequest:
    """A generation request whose streamed text is already post-processed for display."""
    last = [""]

    def on_text(raw: str) -> None:
        shown = clean(raw, prepared.context, final=False)
        if shown != last[0]:
            last[0] = shown
            if on_partial is not None and shown:
                on_partial(prepared.lead + shown)

    return GenerationRequest(
        prepared.prompt,
        prepared.rules,
        on_text if on_partial else None,
        label=label,
        temperature=temperature,
        seed=seed,
        background=background,
    )


def finish(prepared: Prepared, result: GenerationResult) -> str:
    """The final suggestion: cleaned, dropped if it would add a syntax error to its block, after the lead."""
    text = clean(result.text, prepared.context, final=True)
    if text and breaks_syntax(prepared.prefix, text, prepared.suffix):
        return ""
    return prepared.lead + text if text else ""
