"""Each engine's prompt window: the local model's is bounded for its CPU, a remote server's is wider.

The real default model and a remote model (nothing is sent: prompts are only laid out) prepare the same cursor
position at the end of a long real file (the standard library's argparse.py).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
from slipstream.completion.prepare import PrepareRequest, prepare
from slipstream.inference.model import ModelConfig, load_model
from slipstream.inference.prompt import LOCAL_BUDGET, PromptBudget

SOURCE = Path(sysconfig.get_paths()["stdlib"], "argparse.py").read_text()


@pytest.fixture(scope="module")
def gemma(default_model_path: str):
    return load_model(ModelConfig(path=default_model_path, n_threads=2, n_ctx=2048))


@pytest.fixture(scope="module")
def remote():
    from slipstream.inference.host import open_remote
    from slipstream.inference.remote import RemoteConfig

    engine = open_remote(RemoteConfig())  # nothing is sent before a request
    yield engine
    engine.close()


def cursor_text() -> str:
    """The first 1,500 lines of argparse.py and the start of a line: a cursor far below the file's start."""
    return "".join(SOURCE.splitlines(keepends=True)[:1500]) + "        retu"


def window_lines(prompt_text: str) -> int:
    return prompt_text.count("\n")


def test_the_local_model_gets_the_local_budget_and_a_remote_one_the_wider_default(gemma, remote):
    assert gemma.budget == LOCAL_BUDGET and remote.model.budget == PromptBudget()


def test_a_cold_local_prompt_holds_at_most_the_local_window(gemma, remote):
    text = cursor_text()
    local = prepare(PrepareRequest(text, len(text)), gemma).prompt
    wide = prepare(PrepareRequest(text, len(text)), remote.model).prompt
    assert local.mode == "prefix" and local.prefix_text.endswith("        retu")
    lines = window_lines(local.prefix_text)
    # anchored: the window starts on a multiple of 16 lines at most 64 lines up, so it holds 49-64 of them
    assert LOCAL_BUDGET.max_prefix_lines - LOCAL_BUDGET.anchor_lines < lines <= LOCAL_BUDGET.max_prefix_lines
    above = local.prefix_text[: local.prefix_text.rfind("\n") + 1]
    assert len(gemma.tokenize(above)) <= LOCAL_BUDGET.max_prefix_tokens
    assert len(local.tokens) < 700, "the cold prompt the CPU evaluates (574 tokens; 877 with the 96-line window)"
    # the remote model's window over the same text reaches further up
    assert window_lines(wide.prefix_text) > lines
    assert wide.prefix_text.endswith(local.prefix_text)


def test_a_prompt_shrunk_to_fit_the_context_keeps_within_the_local_window(default_model_path):
    """A long project context overflows the context: the prompt is laid out again within a budget cut to the
    room left, and that budget is never wider than the model's own (it was 96 lines / 60 % of the room)."""
    model = load_model(ModelConfig(path=default_model_path, n_threads=1, n_ctx=4096))
    extra = "".join(f"# project note {i}: helper_{i}(value) returns value * {i}\n" for i in range(400))
    assert len(model.tokenize(extra)) > model.n_ctx
    text = cursor_text()
    prepared = prepare(PrepareRequest(text, len(text), extra=extra), model)
    assert len(prepared.prompt.tokens) <= model.n_ctx - prepared.rules.max_tokens - 16
    assert window_lines(prepared.prompt.prefix_text) <= LOCAL_BUDGET.max_prefix_lines


def test_a_window_start_is_kept_only_for_the_model_it_was_laid_out_for(gemma, remote):
    """The warm-up's window start is the document's hint for the local model only: after a switch to a remote
    server (or from one to the local fallback) the other model's budget lays out its own window."""
    from slipstream.completion.service import CompletionService
    from slipstream.inference.engine import Engine

    service = CompletionService(lambda partial: None, lambda uri: 1)
    local = Engine(gemma)
    try:
        service.engine = local
        text = cursor_text()
        service.warm_up("file:///a.py", text)
        start = prepare(PrepareRequest(text, len(text), leads=False), gemma).prompt.start_line
        assert service._hint("file:///a.py", local) == start
        assert service._hint("file:///a.py", remote) is None, "a remote model does not inherit the local window"
    finally:
        local.close()
