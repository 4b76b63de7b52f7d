"""A cancelled request's decode stops inside llama.cpp (inference/interrupt.py): the flag, and the engine with
the real default model (the model's memory stays whole, and an old request's cancel never stops a new one)."""

from __future__ import annotations

import ctypes
import threading
import time

import llama_cpp
import pytest
from slipstream.inference import interrupt
from slipstream.inference.engine import PREFILL_CHUNK, Engine, GenerationRequest, LogitsMemo
from slipstream.inference.model import ModelConfig, load_model
from slipstream.inference.prompt import PromptBudget, build_prompt
from slipstream.inference.stops import StopRules

TEXT = "def mean(values):\n    total = sum(values)\n    count = len(values)\n    return"
RULES = StopRules(max_tokens=6, time_budget_s=60)


# -- the flag ----------------------------------------------------------------------------------------------
def test_the_flag_is_raised_only_while_attached():
    buf = ctypes.create_string_buffer(2)
    flag = interrupt.CancelFlag()
    flag.attach(buf)
    assert buf[0] == b"\x00"
    flag.set()
    assert buf[0] == b"\x01" and flag.is_set()
    flag.detach()
    assert buf[0] == b"\x00"
    flag.set()  # after its request ended: the next request's decode must not stop
    assert buf[0] == b"\x00"
    already = interrupt.CancelFlag()
    already.set()
    already.attach(buf)  # cancelled before its turn came
    assert buf[0] == b"\x01"
    already.clear()  # reused for another try
    assert buf[0] == b"\x00"


@pytest.mark.parametrize(
    "error, cancelled, expected",
    [
        (RuntimeError(interrupt.ABORTED), True, True),
        (RuntimeError(interrupt.ABORTED), False, False),  # not asked for: a real failure
        (RuntimeError("llama_decode returned -3"), True, False),  # a compute failure stays an error
        (ValueError(interrupt.ABORTED), True, False),
    ],
)
def test_only_an_abort_for_a_cancelled_request_is_an_interruption(error, cancelled, expected):
    flag = interrupt.CancelFlag()
    if cancelled:
        flag.set()
    assert interrupt.interrupted(error, flag) is expected


# -- the engine --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gemma(default_model_path: str):
    return load_model(ModelConfig(path=default_model_path, n_threads=2, n_ctx=2048))


@pytest.fixture()
def engine(gemma):
    e = Engine(gemma)
    yield e
    e.close()


def _prompt(gemma):
    return build_prompt(TEXT, "", gemma.tokenize, None, gemma.bos)


def test_a_cancel_stops_the_decode_it_arrives_in(gemma, engine):
    assert engine._abort is not None, "the abort callback could not be installed here"
    reference = engine.submit(GenerationRequest(_prompt(gemma), RULES)).result(120)
    assert reference.n_tokens >= 3, reference
    at_cancel: list[int] = []
    request = GenerationRequest(_prompt(gemma), RULES)

    def cancel_now(text: str) -> None:  # on the engine's thread, between two tokens
        if not at_cancel:
            at_cancel.append(gemma.llama.n_tokens)
            request.cancel.set()

    request.on_text = cancel_now
    result = engine.submit(request).result(120)
    assert result.cancelled
    # The token just written was being evaluated when the cancel came: that decode stopped and left the
    # model's memory as it was (between tokens, the decode would have finished: one position more).
    assert gemma.llama.n_tokens == at_cancel[0]
    # The memory is whole: the same prompt gives the same suggestion as before.
    again = engine.submit(GenerationRequest(_prompt(gemma), RULES)).result(120)
    same = (again.text, again.n_tokens, again.stop_reason)
    assert same == (reference.text, reference.n_tokens, reference.stop_reason)


def test_a_late_cancel_of_an_ended_request_does_not_stop_the_next(gemma, engine):
    first = GenerationRequest(_prompt(gemma), RULES)
    reference = engine.submit(first).result(120)
    assert not reference.cancelled

    def cancel_the_old_one(text: str) -> None:
        first.cancel.set()

    second = GenerationRequest(_prompt(gemma), RULES, cancel_the_old_one)
    result = engine.submit(second).result(120)
    assert (result.text, result.stop_reason) == (reference.text, reference.stop_reason)


def test_a_cancel_from_another_thread_stops_the_suggestion_decode_under_way(gemma, engine, capfd):
    shown = threading.Event()
    request = GenerationRequest(_prompt(gemma), StopRules(max_tokens=200, max_lines=50, time_budget_s=60))
    request.on_text = lambda text: shown.set()
    future = engine.submit(request)
    assert shown.wait(60)
    at_cancel = gemma.llama.n_tokens
    request.cancel.set()  # the next token is being evaluated (~16 ms a token here)
    result = future.result(120)
    assert result.cancelled and result.n_tokens < 200
    assert gemma.llama.n_tokens == at_cancel, "the decode under way when the cancel came was finished"
    # llama.cpp's warning for the stopped decode stayed out of stderr (the server's log).
    assert "removing memory module entries" not in capfd.readouterr().err


def _long_prompt(gemma):
    long_text = "\n".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(100)) + "\ndef g(values):\n    return"
    budget = PromptBudget(max_prefix_lines=400, max_prefix_tokens=1500)
    long_prompt = build_prompt(long_text, "", gemma.tokenize, None, gemma.bos, budget)
    assert len(long_prompt.tokens) > 4 * PREFILL_CHUNK
    return long_prompt


def _cancel_in_the_second_chunk(gemma, engine, request: GenerationRequest):
    """Submits ``request`` on an empty KV cache, cancels it (from this thread) once its first chunk is in, while
    the next one is evaluated (~0.4 s a chunk here); the KV cache's length when the cancel came, and the result."""
    llama = gemma.llama
    llama.reset()
    future = engine.submit(request)
    deadline = time.monotonic() + 60
    while llama.n_tokens < PREFILL_CHUNK and time.monotonic() < deadline:  # the first chunk is in
        time.sleep(0.0005)
    at_cancel = llama.n_tokens
    request.cancel.set()
    return at_cancel, future.result(120)


def test_a_cancel_during_the_prompt_lets_the_chunk_under_way_finish(gemma, engine):
    """A long cold prompt is evaluated in chunks; the cancel comes while one is evaluated: that chunk is finished
    and kept (the next keystroke's prompt starts the same way), then the request stops."""
    long_prompt = _long_prompt(gemma)
    fresh = engine.submit(GenerationRequest(_prompt(gemma), RULES)).result(120)
    at_cancel, result = _cancel_in_the_second_chunk(gemma, engine, GenerationRequest(long_prompt, RULES))
    assert result.cancelled and result.prompt_tokens == len(long_prompt.tokens)
    assert PREFILL_CHUNK <= at_cancel < len(long_prompt.tokens) - PREFILL_CHUNK
    assert gemma.llama.n_tokens == at_cancel + PREFILL_CHUNK, "the chunk under way was stopped: its work is lost"
    again = engine.submit(GenerationRequest(_prompt(gemma), RULES)).result(120)
    assert (again.text, again.stop_reason) == (fresh.text, fresh.stop_reason)


def test_background_work_is_stopped_inside_any_decode_and_leaves_a_core_free(gemma, engine):
    """A guess (speculation) is nothing a keystroke needs: a cancel stops even its prompt chunk under way, and
    it decodes on one thread fewer, given back when it ends."""
    llama = gemma.llama
    threads = []

    def note_threads(text: str) -> None:
        threads.append(llama_cpp.llama_n_threads(llama._ctx.ctx))

    guess = GenerationRequest(_prompt(gemma), RULES, note_threads, background=True)
    assert not engine.submit(guess).result(120).cancelled
    assert threads and set(threads) == {1}
    assert llama_cpp.llama_n_threads(llama._ctx.ctx) == 2, "the threads were not given back"
    fresh = engine.submit(GenerationRequest(_prompt(gemma), RULES)).result(120)

    long_prompt = _long_prompt(gemma)
    at_cancel, result = _cancel_in_the_second_chunk(
        gemma, engine, GenerationRequest(long_prompt, RULES, background=True)
    )
    assert result.cancelled
    assert PREFILL_CHUNK <= at_cancel < len(long_prompt.tokens) - PREFILL_CHUNK
    assert llama.n_tokens == at_cancel, "the chunk under way when the cancel came was finished"
    assert llama_cpp.llama_n_threads(llama._ctx.ctx) == 2
    # The model's memory stays whole: the same prompt answers as before.
    again = engine.submit(GenerationRequest(_prompt(gemma), RULES)).result(120)
    assert (again.text, again.stop_reason) == (fresh.text, fresh.stop_reason)


def test_a_guess_a_keystroke_waits_for_gets_every_thread(gemma, engine):
    llama = gemma.llama
    threads = []
    guess = GenerationRequest(_prompt(gemma), StopRules(max_tokens=8, time_budget_s=60), background=True)

    def on_text(text: str) -> None:
        threads.append(llama_cpp.llama_n_threads(llama._ctx.ctx))
        guess.urgent.set()  # a keystroke now follows it (completion/service.py)

    guess.on_text = on_text
    assert not engine.submit(guess).result(120).cancelled
    assert len(threads) >= 3 and threads[0] == 1 and set(threads[1:]) == {2}, threads


def test_a_warm_up_supersedes_a_guess_but_never_a_keystroke(gemma, engine):
    long_rules = StopRules(max_tokens=200, max_lines=50, time_budget_s=60)
    for background, taken in ((True, True), (False, False)):
        started = threading.Event()
        running = GenerationRequest(
            _prompt(gemma), long_rules, lambda text, ev=started: ev.set(), background=background
        )
        future = engine.submit(running)
        assert started.wait(60)
        warm = engine.submit_if_idle(GenerationRequest(_prompt(gemma), StopRules(max_tokens=1)))
        assert (warm is not None) is taken
        if taken:
            assert future.result(120).stop_reason == "superseded" and not warm.result(120).cancelled
        else:
            running.cancel.set()
            future.result(120)


def test_a_guess_remembers_its_logits_without_pushing_out_the_suggestions(gemma, engine):
    """The logits after each of a suggestion's tokens serve the keys typed along it and then off it; those after
    the guess's serve the keys typed along the guess once it is shown: the memo keeps both."""
    many = StopRules(max_tokens=LogitsMemo.PER_GENERATION, max_lines=20, time_budget_s=60)
    engine._next_logits = LogitsMemo()
    assert engine.submit(GenerationRequest(_prompt(gemma), many)).result(120).n_tokens >= 8
    suggestion = set(engine._next_logits._items)
    other = build_prompt(TEXT + " sum(values) /", "", gemma.tokenize, None, gemma.bos)
    guess = engine.submit(GenerationRequest(other, many, background=True)).result(120)
    assert guess.n_tokens >= 8
    items = set(engine._next_logits._items)
    assert suggestion <= items, "the guess pushed the suggestion's logits out"
    assert len(items - suggestion) >= guess.n_tokens, "the guess's logits were not remembered"
