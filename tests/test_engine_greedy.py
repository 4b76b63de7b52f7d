"""The engine's greedy decoding (``inference.engine._greedy``) gives the tokens llama-cpp-python's ``generate``
gives with the same settings, from every state the model's memory can be in (real default model)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from slipstream.inference.engine import _forget_after, _greedy
from slipstream.inference.model import ModelConfig, load_model

PROMPTS = [
    "def mean(values):\n    total = sum(values)\n    return ",
    "import os\n\n\ndef list_files(path):\n    for name in os.listdir(",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.",
    # longer than a batch (64 tokens): evaluated in several decodes
    "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(12)) + "def f12(x):\n    return",
]
N = 12  # tokens compared per generation


@pytest.fixture(scope="module")
def gemma(default_model_path: str):
    return load_model(ModelConfig(path=default_model_path, n_threads=2, n_ctx=1024))


def _cold(llama, prompt: list[int]) -> None:
    llama.reset()


def _prefix(llama, prompt: list[int]) -> None:
    """An earlier prompt that shares all but the last tokens (the next keystroke's usual state)."""
    llama.reset()
    llama.eval(prompt[:-3] + llama.tokenize(b" other", add_bos=False))


def _exact_live(llama, prompt: list[int]) -> None:
    """The whole prompt evaluated last: its logits are live, nothing to evaluate again."""
    llama.reset()
    llama.eval(prompt)


def _exact_stale(llama, prompt: list[int]) -> None:
    """The prompt is in the memory but the live logits are those after two more tokens, since forgotten."""
    llama.reset()
    llama.eval(prompt + llama.tokenize(b" x = 1", add_bos=False)[:2])
    _forget_after(llama, len(prompt))


def _after_generation(llama, prompt: list[int]) -> None:
    """The prompt and a suggestion after it (the state an answered keystroke leaves)."""
    llama.reset()
    llama.eval(prompt + llama.tokenize(b" x + 1\n", add_bos=False))


STATES: dict[str, Callable] = {
    "cold": _cold,
    "prefix": _prefix,
    "exact-live": _exact_live,
    "exact-stale": _exact_stale,
    "after-generation": _after_generation,
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("text", PROMPTS)
def test_greedy_gives_the_tokens_generate_gives(gemma, text: str, state: str):
    llama = gemma.llama
    prompt = llama.tokenize(text.encode(), add_bos=True)
    assert len(prompt) < 1024 - N
    STATES[state](llama, prompt)
    expected = list(
        itertools.islice(
            llama.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True), N
        )
    )
    STATES[state](llama, prompt)
    got = list(itertools.islice(_greedy(llama, prompt), N))
    assert got == expected
    assert llama.input_ids[: len(prompt)].tolist() == prompt  # the memory holds the prompt for the next request


def test_the_stale_state_needs_its_evaluation(gemma):
    """The exact-stale state is one where sampling from the live logits would be wrong: without the
    evaluation ``_greedy`` does there, the first token would be another one (so the test above can fail)."""
    import numpy as np

    llama = gemma.llama
    prompt = llama.tokenize(PROMPTS[0].encode(), add_bos=True)
    _exact_stale(llama, prompt)
    live = int(np.argmax(np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))))
    _exact_stale(llama, prompt)
    right = next(_greedy(llama, prompt))
    assert live != right
