"""The FIM path with a tiny random-weight GGUF whose vocabulary has FIM tokens (output is noise)."""

from __future__ import annotations

from slipstream.inference.engine import Engine, GenerationRequest
from slipstream.inference.model import ModelConfig, load_model
from slipstream.inference.prompt import build_prompt
from slipstream.inference.stops import StopRules


def test_fim_tokens_are_read_from_the_model_and_ordered(tiny_fim_model: str):
    model = load_model(ModelConfig(path=tiny_fim_model, n_threads=1, n_ctx=256))
    assert model.fim is not None
    assert model.fim.as_tuple() == (257, 258, 259)
    prompt = build_prompt("def f(x):\n    return x", "\n\nprint(f(1))\n", model.tokenize, model.fim, model.bos)
    ids = prompt.tokens
    assert prompt.mode == "fim"
    pre, suf, mid = ids.index(257), ids.index(258), ids.index(259)
    assert pre < suf < mid, ids
    assert ids.count(257) == ids.count(258) == ids.count(259) == 1
    assert ids[:pre] in ([], [model.bos]), "only BOS may come before the FIM prefix marker"
    # What lies between the markers is the model's own tokenization of each part.
    assert ids[pre + 1 : suf] == model.tokenize("def f(x):\n")
    assert ids[suf + 1 : mid] == model.tokenize("\n\nprint(f(1))\n")
    assert ids[mid + 1 :] == model.tokenize("    return x")


def test_fim_model_generates_through_the_engine(tiny_fim_model: str):
    model = load_model(ModelConfig(path=tiny_fim_model, n_threads=1, n_ctx=256))
    engine = Engine(model)
    try:
        prompt = build_prompt("x = ", "\n", model.tokenize, model.fim, model.bos)
        seen: list[str] = []
        result = engine.submit(GenerationRequest(prompt, StopRules(max_tokens=8, max_lines=50), seen.append)).result(30)
        assert result.stop_reason in ("max_tokens", "eog", "max_lines")
        assert result.prompt_tokens == len(prompt.tokens)
        assert result.n_tokens >= 1 or result.stop_reason == "eog"
        # A second, longer prompt that extends the first reuses the evaluated prefix.
        prompt2 = build_prompt("x = ", "\nprint(x)\n", model.tokenize, model.fim, model.bos)
        result2 = engine.submit(GenerationRequest(prompt2, StopRules(max_tokens=2))).result(30)
        assert result2.reused_tokens > 0
    finally:
        engine.close()


def test_tiny_model_is_not_the_default(default_model_path: str):
    model = load_model(ModelConfig(path=default_model_path, n_ctx=512))
    assert model.fim is None, "Gemma 3 270M has no FIM tokens: prefix-driven prompts"
    assert model.bos is not None


def test_cancel_stops_within_one_token_and_stale_work_never_runs(default_model_path: str):
    """With the real default model: the cancel flag is checked between tokens."""
    model = load_model(ModelConfig(path=default_model_path, n_ctx=1024))
    engine = Engine(model)
    try:
        prompt = build_prompt(
            "# Count from one to one hundred\nnumbers = [1, 2, 3, 4,", "", model.tokenize, None, model.bos
        )
        request = GenerationRequest(prompt, StopRules(max_tokens=100, single_line=True, time_budget_s=30))
        seen: list[str] = []

        def on_text(text: str) -> None:
            seen.append(text)
            if len(seen) == 3:
                request.cancel.set()

        request.on_text = on_text
        result = engine.submit(request).result(60)
        assert result.stop_reason == "cancelled"
        assert result.n_tokens == 3, "stopped at the very next token"
        # Newest wins: a queued request is superseded without touching the model.
        slow = GenerationRequest(prompt, StopRules(max_tokens=30, single_line=True))
        queued = GenerationRequest(prompt, StopRules(max_tokens=30, single_line=True))
        newest = GenerationRequest(prompt, StopRules(max_tokens=5, single_line=True))
        f1, f2, f3 = engine.submit(slow), engine.submit(queued), engine.submit(newest)
        r1, r2, r3 = f1.result(60), f2.result(60), f3.result(60)
        assert r1.stop_reason == "superseded"
        assert r2.stop_reason == "superseded" and r2.n_tokens == 0 and r2.prompt_tokens == 0
        assert r3.stop_reason in ("max_tokens", "newline", "eog") and r3.n_tokens >= 1
        assert r3.reused_tokens >= len(prompt.tokens) - 1, "the same prompt again is served from the KV cache"
    finally:
        engine.close()


def test_prompts_of_consecutive_keystrokes_share_their_token_prefix(default_model_path: str):
    """The KV cache is reused only for a common token prefix: typing must change only the prompt's tail."""
    from pathlib import Path

    from slipstream.inference.engine import _common_prefix

    model = load_model(ModelConfig(path=default_model_path, n_ctx=512))
    text = (Path(__file__).parent.parent / "examples" / "inventory.py").read_text() * 3  # ~200 lines
    cut = text.index("    def cheapest", len(text) // 2)
    typed = "    def cheapest(self) -> Item | None:\n        if not self.items:\n            return None"
    base = text[:cut]
    prev = None
    for i in range(1, len(typed) + 1):
        prompt = build_prompt(base + typed[:i], text[cut + len(typed) :], model.tokenize, model.fim, model.bos).tokens
        if prev is not None:
            shared = _common_prefix(prev, prompt)
            assert shared >= len(prev) - 3, f"keystroke {i}: only {shared} of {len(prev)} tokens shared"
        prev = prompt
