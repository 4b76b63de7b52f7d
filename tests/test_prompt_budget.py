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
    assert LOCAL_BUDGET.max_prefix_lines < PromptBudget().max_prefix_lines
    assert LOCAL_BUDGET.max_prefix_tokens < PromptBudget().max_prefix_tokens


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
    assert len(local.tokens) < 900, "the cold prompt the CPU evaluates (96 lines here were ~910 tokens)"
    # the remote model's window over the same text reaches further up
    assert window_lines(wide.prefix_text) > lines
    assert wide.prefix_text.endswith(local.prefix_text)


def test_a_small_context_shrinks_the_local_window_further(default_model_path):
    small = load_model(ModelConfig(path=default_model_path, n_threads=1, n_ctx=512))
    text = cursor_text()
    prepared = prepare(PrepareRequest(text, len(text)), small)
    room = small.n_ctx - prepared.rules.max_tokens - 16
    assert len(prepared.prompt.tokens) <= room
    assert window_lines(prepared.prompt.prefix_text) < LOCAL_BUDGET.max_prefix_lines - LOCAL_BUDGET.anchor_lines
