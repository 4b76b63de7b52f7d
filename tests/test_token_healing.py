"""Token healing (inference/healing.py): what is dropped at the cursor, what the model may write instead, and
that the engine, the completion pipeline and the server honour it (real default model, real tiny FIM model)."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from slipstream.completion.prepare import Options, PrepareRequest, prepare
from slipstream.inference.engine import (
    Engine,
    GenerationRequest,
    _common_prefix,
    heal_text_is_likely_rewritten,
    pick,
)
from slipstream.inference.fim import FimTokens
from slipstream.inference.healing import Constraint, Heal, Vocabulary, plan
from slipstream.inference.model import ModelConfig, load_model
from slipstream.inference.prompt import Prompt, build_prompt
from slipstream.inference.stops import StopRules

from tests.rawlsp import RawServer


@pytest.fixture(scope="module")
def gemma(default_model_path: str):
    return load_model(ModelConfig(path=default_model_path, n_threads=2, n_ctx=1024))


# -- pure: a small vocabulary ------------------------------------------------------------------------------
SMALL = [b"", b"a", b"ab", b"abc", b"b", b"c", b"bcd", b"x", b"\xff", b"\xff\xfe", b"ab"]


@pytest.mark.parametrize(
    "prefix, ids",
    [
        (b"a", [1, 2, 10, 3]),  # itself, both spellings of "ab", "abc"
        (b"ab", [2, 10, 3]),
        (b"b", [4, 6]),
        (b"bc", [6]),
        (b"z", []),
        (b"\xff", [8, 9]),  # no byte above 0xff: the range runs to the end
    ],
)
def test_vocabulary_prefix_queries(prefix: bytes, ids: list[int]):
    v = Vocabulary(SMALL)
    assert sorted(v.starting_with(prefix).tolist()) == sorted(ids)
    assert v.count_starting_with(prefix) == len(ids)


@pytest.mark.parametrize(
    "tokens, start, heal",
    [
        ([7, 1], 0, Heal(1, b"a")),  # "a" starts "ab", "abc": dropped
        ([7, 3], 0, None),  # "abc" starts nothing longer: kept
        ([7, 5], 0, None),  # "c": nothing longer either
        ([7, 1], 2, None),  # the token is before ``start`` (a marker, BOS, project context): never dropped
        ([1, 4], 0, Heal(2, b"ab")),  # "b" starts "bcd"; "ab" is a token too: both dropped
        ([0, 4], 0, Heal(1, b"b")),  # a control token (no bytes) is never dropped
        ([7, 4], 0, Heal(1, b"b")),  # no token starts with "xb": only "b" is dropped
    ],
)
def test_plan_drops_only_tokens_that_end_inside_a_longer_token(tokens, start, heal):
    assert plan(tokens, start, Vocabulary(SMALL)) == heal


def test_constraint_allows_exactly_what_writes_the_healed_text():
    v = Vocabulary(SMALL)
    c = Constraint(v, b"abc")
    # "abc" whole, or "a" / "ab" then the rest ("a" then "bcd" covers "bc" and goes past it).
    assert sorted(c.allowed().tolist()) == [1, 2, 3, 10]
    assert c.feed(1) == b"" and not c.done
    assert sorted(c.allowed().tolist()) == [4, 6]  # "bcd", or "b" (then "c")
    assert c.feed(6) == b"d" and c.done, "the bytes past the healed text are the suggestion's start"
    assert c.allowed().size == 0
    assert c.feed(7) == b"x", "once covered, tokens pass through"


def test_constraint_keeps_every_prefix_token_completable_and_refuses_others():
    v = Vocabulary([b"", b"a", b"ab", b"b", b"abd"])
    c = Constraint(v, b"abd")
    # "a" leaves "bd": no token writes it ("b" leaves "d", which nothing starts with), so "a" is not allowed.
    assert sorted(c.allowed().tolist()) == [4]
    with pytest.raises(ValueError):
        c.feed(1)
    with pytest.raises(ValueError):
        Constraint(v, b"zz")  # nothing writes it: refused up front, never an empty mask


GREEDY = {"top_k": 1, "top_p": 1.0, "min_p": 0.0, "temp": 0.0}
SAMPLED = {"top_k": 2, "top_p": 0.95, "min_p": 0.05, "temp": 0.8}


@pytest.mark.parametrize(
    "logits, allowed, sampling, choices",
    [
        ([5.0, 1.0, 3.0, 2.0], [1, 3], GREEDY, {3}),  # the best allowed, not the best overall (0)
        ([5.0, 1.0, 3.0, 2.0], [0, 1, 2, 3], GREEDY, {0}),
        ([5.0, 1.0, 3.0, 2.0], [2], SAMPLED, {2}),
        ([0.0, 1.0, 1.0, 1.0, 9.0], [1, 2, 3], SAMPLED, {1, 2, 3}),  # top-k 2 of three equals: two of them
        ([0.0, 0.0, 9.0, 0.0, 9.0], [0, 1, 2, 3], SAMPLED, {2}),  # min-p drops the far less likely
    ],
)
def test_pick_chooses_only_allowed_tokens(logits, allowed, sampling, choices):
    rng = np.random.default_rng(0)
    seen = {pick(np.array(logits, dtype=np.float32), np.array(allowed), sampling, rng) for _ in range(50)}
    assert seen <= choices and (len(seen) <= 2 if sampling["top_k"] == 2 else True), seen
    assert seen, "always one token"


# -- pure: the default model's tokenizer, every kind of cursor position -----------------------------------------
# (text before the cursor, the bytes dropped, tokens the model may write first, tokens it may not)
POSITIONS = [
    ("after a space", "    value = max(a, ", b" ", [b" b", b" ", b"  "], [b"b", b"0", b"\n", b","]),
    ("after a space after ==", "    if a == ", b" ", [b" None", b" "], [b"None", b"\n"]),
    ("after an operator", "    return w *", b" *", [b" *", b" **", b" *("], [b" h", b"*", b"\n"]),
    ("after +", "    x = a +", b" +", [b" +", b" +="], [b" b", b"+"]),
    ("after (", "    items.append(", b"(", [b"(", b"()", b'("'], [b"x", b" ", b")"]),
    ("after .", "    return self.items.", b".", [b".", b".."], [b"append", b" "]),
    ("inside an identifier", "import os\npath = os.pa", b"pa", [b"pa", b"path", b"pace"], [b"th", b"pb", b"a"]),
    ("inside a name with _", "    total_pri", b"pri", [b"price", b"prices", b"pri"], [b"ce", b"pb"]),
    ("inside a string", 'print("hel', b"hel", [b"hello", b"help", b"hel"], [b"lo", b'"']),
    ("inside a string, a word", "msg = 'Hello, wor", b" wor", [b" world", b" word"], [b"ld", b"wor", b" wr"]),
    ("an indented empty line", "class Foo:\n    ", b"    ", [b"    ", b"        "], [b"def", b"\n", b"\t"]),
]


@pytest.mark.parametrize("name, before, dropped, allowed, refused", POSITIONS, ids=[p[0] for p in POSITIONS])
@pytest.mark.parametrize("layout", ["prefix", "fim"])
def test_cursor_positions_on_the_default_tokenizer(gemma, layout, name, before, dropped, allowed, refused):
    v = gemma.vocabulary
    # The default model has no FIM markers; control tokens 0/1/2 (no bytes) stand in for them in the FIM layout.
    fim = FimTokens(0, 1, 2) if layout == "fim" else None
    prompt = build_prompt(before, "\n\nprint(value)\n", gemma.tokenize, fim, gemma.bos, vocab=v)
    assert prompt.heal is not None and prompt.heal.text == dropped, name
    # Lossless: what is kept plus what is dropped is the prompt the layout builds.
    plain = build_prompt(before, "\n\nprint(value)\n", gemma.tokenize, fim, gemma.bos)
    assert prompt.tokens == plain.tokens
    kept = prompt.model_tokens()
    assert kept == plain.tokens[: len(plain.tokens) - prompt.heal.n_tokens]
    assert b"".join(v.piece(t) for t in plain.tokens[len(kept) :]) == dropped
    ids = set(Constraint(v, dropped).allowed().tolist())
    for piece in allowed + refused:
        assert v.exactly(piece).size, f"{piece!r} is not a token of this vocabulary"
    for piece in allowed:
        assert set(v.exactly(piece).tolist()) & ids, f"{name}: {piece!r} should be allowed"
    for piece in refused:
        assert not set(v.exactly(piece).tolist()) & ids, f"{name}: {piece!r} should not be allowed"


@pytest.mark.parametrize(
    "before",
    [
        "import numpy",  # " numpy" starts no longer token
        "    raise ValueError",
    ],
)
def test_a_prompt_that_ends_where_a_token_ends_is_not_healed(gemma, before):
    prompt = build_prompt(before, "", gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary)
    assert prompt.heal is None and prompt.model_tokens() == prompt.tokens


def test_fim_layout_never_drops_the_middle_marker(gemma):
    fim = FimTokens(0, 1, 2)
    prompt = build_prompt("def f():\n", "    pass\n", gemma.tokenize, fim, gemma.bos, vocab=gemma.vocabulary)
    assert prompt.tokens[-1] == fim.middle and prompt.heal is None, "an empty cursor line: nothing to heal"


@pytest.mark.parametrize(
    "before, after, heals",
    [
        ("    value = max(a, ", ")\n", True),  # after a space
        ("    return w *", "\n", True),  # after an operator
        ("    items.append(", ")\n", True),
        ("    return self.", "\n", True),
        ("import os\npath = os.pa", "\n", True),  # a name being typed, even where it would parse
        ('print("hel', '")\n', True),  # inside a string
        ("    # compute the to", "\n", True),  # inside a comment
        ("def f():\n    ", "\n", False),  # a blank line: the indentation is the editor's
        ("foo(\n    ", ")\n", False),  # ... also inside brackets
        ("    x = compute(data)", "\n", False),  # a complete statement: the next line comes
        ("    pass", "\n", False),
    ],
)
def test_healing_gate_by_cursor_context(gemma, before, after, heals):
    from slipstream.completion.prepare import heals_at
    from slipstream.heuristics.context import analyze

    assert heals_at(analyze(before, after)) is heals
    prompt = prepare(PrepareRequest(before + after, len(before)), gemma).prompt
    assert (prompt.heal is not None) is heals, prompt.heal


@pytest.mark.parametrize(
    ("before", "lead"),
    [
        ("def save(self, path):\n    data = [vars(x) for x in self.items]", "\n    "),  # the next line's
        ("def save(self, path):\n    if path:", "\n        "),  # the body's
        ("def save(self, path):\n    return data", ""),  # the flow ends: the model decides
        ("def save(self, path):\n    data = [vars(x) for x", ""),  # mid-line
    ],
)
def test_a_finished_line_is_asked_from_the_next_one(gemma, before, lead):
    # The line break and indentation are the policy's (``lead``) and end the prompt: the model's first decode
    # is the next line's text, not a line break. Without a lead the prompt ends at the cursor.
    after = "\n\n\ndef load(path):\n    pass\n"
    prepared = prepare(PrepareRequest(before + after, len(before)), gemma)
    assert prepared.lead == lead
    # What the next keystroke on the same line reuses is the analysis above that line, not the lead's line.
    assert prepared.above is not None and prepared.above.text == before[: before.rfind("\n") + 1]
    prompt = prepared.prompt
    assert prompt.prefix_text.endswith(before.rsplit("\n", 1)[-1] + lead), prompt.prefix_text[-60:]
    if lead:  # the new line's indentation is the cursor line: its tokens end the prompt, none dropped
        indent = gemma.tokenize(lead[1:])
        assert prompt.heal is None and prompt.tokens[len(prompt.tokens) - len(indent) :] == indent


def test_healing_is_off_by_setting_and_for_a_model_without_vocabulary(gemma):
    from slipstream.inference.host import open_remote
    from slipstream.inference.remote import RemoteConfig

    text = "def pick(a, b):\n    value = max(a, "
    on = prepare(PrepareRequest(text, len(text)), gemma).prompt
    off = prepare(PrepareRequest(text, len(text), Options(token_healing=False)), gemma).prompt
    assert on.heal == Heal(1, b" ") and off.heal is None
    assert on.tokens == off.tokens, "the layout itself is the same: only what the local engine evaluates differs"
    remote = open_remote(RemoteConfig())  # nothing is sent before a request
    try:
        healed = prepare(PrepareRequest(text, len(text)), remote.model).prompt
        assert healed.heal is None, "a remote engine's prompts are never healed: it evaluates every token itself"
    finally:
        remote.close()


def test_prompts_of_consecutive_keystrokes_still_share_their_evaluated_prefix(gemma):
    from pathlib import Path

    text = (Path(__file__).parent.parent / "examples" / "inventory.py").read_text()
    cut = text.index("    def cheapest") if "    def cheapest" in text else len(text) // 2
    typed = "    def best(self, limit: int) -> list[Item]:\n        ranked = sorted(self.items, key=lambda i: i.price)"
    prev: list[int] | None = None
    healed = 0
    for i in range(1, len(typed) + 1):
        prompt = build_prompt(
            text[:cut] + typed[:i], text[cut:], gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary
        )
        tokens = prompt.model_tokens()
        healed += prompt.heal is not None
        if prev is not None:
            assert _common_prefix(prev, tokens) >= len(prev) - 3, f"keystroke {i}: the KV cache would be lost"
        prev = tokens
    assert healed > len(typed) // 2, "most keystrokes end inside a token"


# -- the engine --------------------------------------------------------------------------------------------
def test_engine_first_token_starts_with_the_dropped_text_and_the_suggestion_does_not_repeat_it(gemma):
    engine = Engine(gemma)
    try:
        text = "def pick(a, b):\n    value = max(a, "
        prompt = build_prompt(text, "", gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary)
        assert prompt.heal == Heal(1, b" ")
        seen: list[str] = []
        request = GenerationRequest(prompt, StopRules(max_tokens=8, single_line=True, time_budget_s=30), seen.append)
        result = engine.submit(request).result(120)
        assert result.n_tokens >= 2 and result.prompt_tokens == len(prompt.tokens) - 1
        kept = prompt.model_tokens()
        first = int(gemma.llama.input_ids[len(kept)])  # evaluated: a second token was generated after it
        assert gemma.token_bytes(first).startswith(b" "), gemma.token_bytes(first)
        assert result.text.startswith(gemma.token_bytes(first)[1:].decode()), "the first token, less the space"
        assert result.text.strip() and not result.text[0].isspace(), result.text
        assert result.text.startswith("b"), f"the second argument of max(a, …) is b, not {result.text!r}"
        # Streamed partials never show the dropped space and never take text back.
        assert seen and all(not s[0].isspace() and result.text.startswith(s) for s in seen), seen
        # Without healing the prompt ends in a lone space, which the model continues otherwise.
        unhealed = build_prompt(text, "", gemma.tokenize, None, gemma.bos)
        plain = engine.submit(GenerationRequest(unhealed, StopRules(max_tokens=8, single_line=True))).result(120)
        assert plain.prompt_tokens == len(prompt.tokens) and plain.text != result.text
        # The next keystroke's healed prompt reuses the KV cache of the previous one.
        again = build_prompt(text + "b", "", gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary)
        r2 = engine.submit(GenerationRequest(again, StopRules(max_tokens=2))).result(120)
        assert r2.reused_tokens >= len(again.model_tokens()) - 2, (r2.reused_tokens, len(again.model_tokens()))
    finally:
        engine.close()


def _one_token_at_a_time(model, prompt, n: int) -> list[tuple[int, float]]:
    """The reference: healed picks each evaluated on their own before the next pick (greedy), then up to n
    tokens in all; each token with the gap between its logit and the next best allowed one."""
    llama = model.llama
    llama._ctx.kv_cache_seq_rm(-1, 0, -1)
    llama.n_tokens = 0
    llama.eval(prompt.model_tokens())
    constraint = Constraint(model.vocabulary, prompt.heal.text)
    out: list[tuple[int, float]] = []
    while len(out) < n:
        logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).copy()
        if not constraint.done:
            mask = np.full(len(logits), -np.inf)
            mask[constraint.allowed()] = 0.0
            logits += mask
        best = np.sort(logits)[-2:]
        tok = int(np.argmax(logits))
        out.append((tok, float(best[1] - best[0])))
        if model.is_eog(tok):
            break
        if not constraint.done:
            constraint.feed(tok)
        llama.eval([tok])
    return out


def _agrees(written: list[int], reference: list[tuple[int, float]], where: str) -> bool:
    """The engine's tokens are the reference's; where they part, only at a near-tie (False then)."""
    for k, (want, gap) in enumerate(reference[: len(written)]):
        if written[k] != want:
            assert gap < 0.5, (where, k, written, reference)  # only a near-tie may go the other way
            return False
    return True


TYPED = "def total(self, items):\n    return sum(item.price * item.count for item in items if item.active)"


@pytest.mark.parametrize(
    "text, rows",
    [
        (b" ", False),  # whitespace alone: rewritten 5 % of the time
        (b"    ", False),
        (b"dest", False),  # part of a word: 21-25 %, the extra row costs more than it saves
        (b" item", False),
        (b"_", False),
        (b"x1", False),
        (b"(", True),  # punctuation: 74 %
        (b".", True),
        (b", ", True),
        (b" = ", True),
        (b"\xe2\x80", False),  # a character cut in two: nothing to judge by
        (b"", False),
    ],
)
def test_extra_logits_rows_only_after_punctuation(text, rows):
    assert heal_text_is_likely_rewritten(text) is rows


@pytest.fixture
def counting_engine(gemma):
    """An engine over the default model, with every llama_decode call counted (in ``counted``)."""
    counted: list[int] = []
    decode = gemma.llama._ctx.decode

    def counting(batch):
        counted.append(1)
        return decode(batch)

    engine = Engine(gemma)
    gemma.llama._ctx.decode = counting
    try:
        yield engine, counted
    finally:
        gemma.llama._ctx.decode = decode
        engine.close()


def test_engine_evaluates_the_dropped_tokens_with_the_prompt_and_writes_what_one_at_a_time_writes(
    gemma, counting_engine
):
    """Keystroke by keystroke along a line: the engine writes the tokens the one-token-at-a-time reference
    writes at every healed position (up to a near-tie, where a batch's arithmetic may pick the other token),
    and where the model writes a dropped token that ends in punctuation again, the token after it costs no
    decode of its own: one decode fewer than the reference. After part of a word it costs no more decodes than
    the reference (no extra row there: ``heal_text_is_likely_rewritten``)."""
    typed = TYPED
    engine, counted = counting_engine
    on_track = off_track = in_word = agree = ties = 0
    for i in range(24, len(typed) + 1):
        prompt = build_prompt(typed[:i], "", gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary)
        if prompt.heal is None:
            continue
        gemma.llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        gemma.llama.n_tokens = 0  # cold, as the reference: both evaluate the whole prompt
        counted.clear()
        result = engine.submit(GenerationRequest(prompt, StopRules(max_tokens=3, max_lines=50))).result(120)
        engine_decodes = len(counted)
        kept = prompt.model_tokens()
        # The engine's tokens: all but the last are in its KV record (the last was sampled, not evaluated).
        written = gemma.llama.input_ids[len(kept) : gemma.llama.n_tokens].tolist()
        assert len(written) == result.n_tokens - 1, (typed[:i], written, result.n_tokens)
        same = written[: prompt.heal.n_tokens] == prompt.tokens[len(kept) :]
        counted.clear()
        if _agrees(written, _one_token_at_a_time(gemma, prompt, result.n_tokens), typed[:i]):
            agree += 1
        else:
            ties += 1
        if same and result.n_tokens == 3 and heal_text_is_likely_rewritten(prompt.heal.text):
            on_track += 1
            assert engine_decodes < len(counted), (typed[:i], engine_decodes, len(counted))
        elif same and result.n_tokens == 3:
            in_word += 1
            assert engine_decodes <= len(counted), (typed[:i], engine_decodes, len(counted))
        elif result.n_tokens == 3:
            off_track += 1
            assert engine_decodes <= len(counted) + 1, (typed[:i], engine_decodes, len(counted))
    assert on_track >= 5 and off_track >= 5 and in_word >= 3, (on_track, off_track, in_word)
    assert agree >= 4 * ties, (agree, ties)


def test_a_keystroke_that_keeps_the_prompt_before_the_cursor_token_picks_its_first_token_before_any_decode(
    gemma, counting_engine
):
    """Typing along a line: where the tokens before the healed tail are those of an earlier keystroke's prompt
    (or of its prompt plus what it generated), the first token is picked from the remembered logits — the
    first text arrives before any decode — and the engine writes what the reference writes (up to a
    near-tie). With the memo emptied, the same keystroke waits for a decode."""
    from slipstream.inference.engine import LogitsMemo

    typed = TYPED
    engine, counted = counting_engine
    instant = agree = ties = 0
    last: Prompt | None = None
    for i in range(24, len(typed) + 1):
        prompt = build_prompt(typed[:i], "", gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary)
        if prompt.heal is None:
            continue
        counted.clear()
        seen: list[int] = []
        remembered = engine._next_logits.get(prompt.model_tokens()) is not None
        request = GenerationRequest(
            prompt, StopRules(max_tokens=3, max_lines=50), lambda _t, seen=seen: seen.append(len(counted))
        )
        result = engine.submit(request).result(120)
        kept = prompt.model_tokens()
        first = gemma.token_bytes(int(gemma.llama.input_ids[len(kept)]))
        if remembered and result.n_tokens == 3 and len(first) > len(prompt.heal.text):  # it wrote text
            assert seen and seen[0] == 0, (typed[:i], "the first text waited for a decode", seen)
            instant += 1
            written = gemma.llama.input_ids[len(kept) : gemma.llama.n_tokens].tolist()
            reference = _one_token_at_a_time(gemma, prompt, result.n_tokens)  # also empties the KV cache
            if _agrees(written, reference, typed[:i]):
                agree += 1
            else:
                ties += 1
            last = prompt
    assert instant >= 10 and agree >= 4 * ties, (instant, agree, ties)
    # The same keystroke without the memo: its first text comes after a decode.
    assert last is not None
    engine._next_logits = LogitsMemo()
    counted.clear()
    seen = []
    request = GenerationRequest(last, StopRules(max_tokens=3, max_lines=50), lambda _t: seen.append(len(counted)))
    engine.submit(request).result(120)
    assert seen and seen[0] >= 1, seen


def test_engine_sampled_alternatives_are_constrained_too(gemma):
    engine = Engine(gemma)
    try:
        text = "import os\npath = os.pa"
        prompt = build_prompt(text, "", gemma.tokenize, None, gemma.bos, vocab=gemma.vocabulary)
        for seed in (1, 2, 3):
            req = GenerationRequest(prompt, StopRules(max_tokens=3), temperature=0.8, seed=seed)
            result = engine.submit(req).result(120)
            first = gemma.token_bytes(int(gemma.llama.input_ids[len(prompt.model_tokens())]))
            assert first.startswith(b"pa") or b"pa".startswith(first), first
            assert not result.text.startswith("pa"), result.text
    finally:
        engine.close()


def test_fim_engine_with_the_tiny_model_is_constrained(tiny_fim_model: str):
    """A random-weight model writes noise: only the constraint can make its first token "d" or "de"."""
    model = load_model(ModelConfig(path=tiny_fim_model, n_threads=1, n_ctx=256))
    engine = Engine(model)
    try:
        d, de = model.tokenize("d"), model.tokenize("de")
        assert len(d) == 1 and len(de) == 1
        prompt = build_prompt(
            "x = 1\ncod", "\nprint(x)\n", model.tokenize, model.fim, model.bos, vocab=model.vocabulary
        )
        assert prompt.mode == "fim" and prompt.heal == Heal(1, b"d")
        seen: list[str] = []
        result = engine.submit(GenerationRequest(prompt, StopRules(max_tokens=4, max_lines=50), seen.append)).result(30)
        first = int(model.llama.input_ids[len(prompt.model_tokens())])
        assert first in (d[0], de[0])
        assert not result.text.startswith("d") or first == d[0]
        # Unhealed, the same noise picks other tokens first (the constraint above is what made it "d"/"de").
        firsts = set()
        for tail in ("cod", "co", "c", "x"):
            p = build_prompt("x = 1\n" + tail, "\nprint(x)\n", model.tokenize, model.fim, model.bos)
            engine.submit(GenerationRequest(p, StopRules(max_tokens=2))).result(30)
            firsts.add(int(model.llama.input_ids[len(p.tokens)]))
        assert firsts - {d[0], de[0]}, "the tiny model does not write d/de by itself"
    finally:
        engine.close()


# -- the server --------------------------------------------------------------------------------------------
SMALL_FILE = '''"""Scores for a small game."""

from dataclasses import dataclass


@dataclass
class Player:
    name: str
    score: int


def best_score(a: Player, b: Player) -> int:
    """The higher of the two players' scores."""
    value = max(a, '''


def complete(server: RawServer, uri: str, text: str) -> tuple[str, dict]:
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    row = text.count("\n")
    col = len(text) - text.rfind("\n") - 1
    params = {"textDocument": {"uri": uri}, "position": {"line": row, "character": col}, "context": {"triggerKind": 2}}
    items = server.request("textDocument/inlineCompletion", params, timeout=120)["result"]["items"]
    for _ in range(200):
        st = server.request("slipstream/getStatus", {})["result"]
        if not st["busy"]:
            break
    return (items[0]["insertText"] if items else ""), st


@pytest.mark.parametrize("healing", [True, False])
def test_lsp_second_argument_after_comma_space(tmp_path, healing: bool):
    server = RawServer()
    try:
        opts = {"maxLines": 4, "maxTokens": 32, "storagePath": str(tmp_path), "speculate": False}
        server.initialize({**opts, "tokenHealing": healing, "cache": False})
        assert server.wait_ready()["state"] == "ready"
        text, st = complete(server, "file:///work/sample/game.py", SMALL_FILE)
        mine = [r for r in st["recent"] if r["label"].startswith("file:///work/sample/game.py@1")]
        assert mine and mine[-1]["healed"] == (1 if healing else 0), mine
        if healing:
            assert text, "after ', ' the model must suggest the second argument"
            assert not text[0].isspace(), f"whitespace duplicated after ', ': {text!r}"
            line = "value = max(a, " + text.split("\n")[0]
            ast.parse(line)  # the line it completes is valid Python
    finally:
        assert server.close() == 0
