"""Table-driven context + policy cases on real snippets ('|' marks the cursor)."""

from __future__ import annotations

import pytest
from slipstream.heuristics.cadence import Cadence
from slipstream.heuristics.context import analyze
from slipstream.heuristics.policy import Limits, header_line_break, plan, statement_line_break

FAST = Cadence(interval_ms=120, idle_ms=150)
PAUSE = Cadence(interval_ms=300, idle_ms=2000)
LIMITS = Limits(max_lines=8)


def at(doc: str):
    i = doc.index("|")
    return analyze(doc[:i], doc[i + 1 :])


# (snippet, cadence, invoked, expected kind, expected mode, single line?)
CASES = [
    ("result = compute(a, |)\n", FAST, False, "mid_line", "acceleration", True),
    ("f(a, |)", None, False, "mid_line", "acceleration", True),
    ("import o|\n", FAST, False, "mid_line", "acceleration", True),
    ("    return x + 1|\n", FAST, False, "mid_line", "acceleration", True),
    ("if a and |:\n    pass\n", FAST, False, "mid_line", "acceleration", True),
    ("print(|)\n", None, False, "mid_line", "acceleration", True),
    ("class A:\n    def method(self, |):\n", FAST, False, "mid_line", "acceleration", True),
    ("key = lambda x: |\n", FAST, False, "mid_line", "acceleration", True),
    ("value = d[|]\n", FAST, False, "mid_line", "acceleration", True),
    ("x = [1, 2,\n     |\n", FAST, False, "mid_line", "acceleration", True),
    ("x = foo(\n    a,\n    |\n)\n", None, False, "mid_line", "acceleration", True),
    ("def f():\n    return foo()|\n", FAST, False, "end_of_statement", "acceleration", False),  # the next line
    ("for x in y:\n    pass|\n", FAST, False, "end_of_statement", "acceleration", False),
    ("def f():\n    return foo()|\n", PAUSE, False, "end_of_statement", "exploration", False),
    ("def f(x):\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("def f(x):\n|", None, False, "after_block_opener", "exploration", False),
    ("class A:\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("for i in range(10):\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("with open(p) as f:\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("try:\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("while True:\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("if x:\n    pass\nelif x > 0:\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("if x:\n    pass\nelse:\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ('match cmd:\n    case "go":\n        |\n', FAST, False, "after_block_opener", "exploration", False),
    ("async def f():\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("\tif x:\n\t\t|\n", FAST, False, "after_block_opener", "exploration", False),
    ("def f(a,\n      b):\n    |\n", FAST, False, "after_block_opener", "exploration", False),
    ("if x:\n    y = 1\n    |\nelse:\n    y = 2\n", FAST, False, "if_body", "acceleration", True),
    ("if x:\n    y = 1\n    |\n", PAUSE, False, "if_body", "exploration", False),
    ("def f():\n    if x:\n        return 1\n        |\n", FAST, False, "if_body", "acceleration", True),
    ("def f():\n    if x:\n        return 1\n    |\n", FAST, False, "block_body", "acceleration", True),
    ("try:\n    x = 1\n    |\nexcept E:\n    pass\n", FAST, False, "block_body", "acceleration", True),
    ("class A:\n    x = 1\n    |\n", FAST, False, "class_body", "acceleration", True),
    ("x = 1\n|", FAST, False, "module", "acceleration", True),
    ("x = 1\n|", PAUSE, False, "module", "exploration", False),
    ("x = 1\n|", FAST, True, "module", "exploration", False),
    ("# compute the mean of the values\n|", FAST, False, "module", "exploration", False),
    ("def f(xs):\n    # sum the prices of the items\n    |\n", FAST, False, "block_body", "exploration", False),
    ('def f(xs):\n    """Sum the prices."""\n    |\n', FAST, False, "block_body", "exploration", False),
    ('class A:\n    """\n    A thing.\n    """\n    |\n', FAST, False, "class_body", "exploration", False),
    ("x = 1  # a com|\n", FAST, False, "comment", "acceleration", True),
    ("# TODO: handle the |\n", PAUSE, False, "comment", "acceleration", True),
    ('s = "hello wor|"\n', FAST, False, "string", "acceleration", True),
    ('x = f"{na|}"\n', FAST, False, "string", "acceleration", True),
    ('def f():\n    """Return the |\n', FAST, False, "docstring", "exploration", False),
    ('def f():\n    """Return the |"""\n', FAST, False, "docstring", "exploration", True),
    ('"""Module doc|\n', None, False, "docstring", "exploration", False),
    ('x = """not a doc|\n', None, False, "string", "acceleration", True),
    ("@app.ro|\ndef f(): pass\n", FAST, False, "decorator", "acceleration", True),
    ("def f():\n    s = 'it''s'  # quote|\n", FAST, False, "comment", "acceleration", True),
]


@pytest.mark.parametrize(("doc", "cadence", "invoked", "kind", "mode", "single"), CASES)
def test_context_and_policy(doc, cadence, invoked, kind, mode, single):
    ctx = at(doc)
    assert ctx.kind == kind
    p = plan(ctx, LIMITS, cadence, invoked)
    assert (p.mode, p.single_line) == (mode, single)
    assert p.context_class == kind
    if p.single_line:
        assert p.max_tokens <= LIMITS.max_tokens_line


def test_at_least_forty_cases():
    assert len(CASES) >= 40


def test_if_body_facts():
    ctx = at("def f(x):\n    if x:\n        y = |\n    else:\n        y = 2\n")
    assert ctx.in_if_body and not ctx.in_try_body
    assert [h.keyword for h in ctx.headers] == ["if", "def"]
    assert at("try:\n    x = |\nexcept E:\n    pass\n").in_try_body


def test_alternatives_only_when_exploring_on_request_or_pause():
    assert plan(at("x = 1\n|"), LIMITS, FAST, invoked=True).alternatives == 3
    assert plan(at("x = 1\n|"), LIMITS, PAUSE).alternatives == 3
    assert plan(at("def f():\n    |\n"), LIMITS, FAST).alternatives == 1
    assert plan(at("x = fo|\n"), LIMITS, PAUSE, invoked=True).alternatives == 1


def test_mode_setting_forces_either_mode():
    assert plan(at("def f():\n    |\n"), LIMITS, FAST, mode="acceleration").mode == "acceleration"
    p = plan(at("x = fo|\n"), LIMITS, FAST, mode="exploration")
    assert p.mode == "exploration" and not p.single_line
    p = plan(at("print(|)\n"), LIMITS, FAST, mode="exploration")
    assert p.single_line, "text after the cursor on the line: never more than the line"


def test_telemetry_shrinks_rejected_multi_line_classes():
    ctx = at("def f():\n    |\n")
    assert plan(ctx, LIMITS, FAST, line_factor={"after_block_opener": 0.25}).max_lines == 2
    assert plan(ctx, LIMITS, FAST, line_factor={"module": 0.25}).max_lines == 8


# (snippet, cadence, what the model wrote, what is kept: the stop is enforced while streaming)
STOPS = [
    # The end of an if-body line followed by else: the next line is never the else.
    ("if x:\n    y = compute()|\nelse:\n    y = 2\n", FAST, "\nelse:\n    y = 3", ""),
    ("if x:\n    y = 1\n    |\n", PAUSE, "y = 2\nelse:\n    z = 3", "y = 2"),
    ("if x:\n    |\n", FAST, "y = 2\n    z = 3\nelif w:\n    q", "y = 2\n    z = 3"),
    ("try:\n    |\n", FAST, "x = load()\nexcept OSError:\n    x = None", "x = load()"),
    ("def f(x):\n    |\n", FAST, "y = x * 2\n    return y\n\nprint(f(2))", "y = x * 2\n    return y\n"),
    (
        "# add two numbers\n|",
        FAST,
        "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):",
        "def add(a, b):\n    return a + b\n\n",
    ),
    ('def f():\n    """Return the |\n', FAST, 'sum of xs.\n    """\n    return sum(xs)', "sum of xs.\n"),
    ("class A:\n    def f(self):\n        |\n", FAST, "return 1\n\n    def g(self):\n        pass", "return 1\n"),
]


@pytest.mark.parametrize(("doc", "cadence", "raw", "kept"), STOPS)
def test_block_stops(doc, cadence, raw, kept):
    p = plan(at(doc), LIMITS, cadence)
    assert p.cutter is not None
    cut = p.cutter(raw)
    assert cut is not None and raw[:cut] == kept
    # Streaming-safe: every prefix of the text that stops also stops at the same place or later.
    for n in range(len(raw) + 1):
        c = p.cutter(raw[:n])
        assert c is None or raw[:c] == kept or kept.startswith(raw[:c])


def test_mid_call_does_not_reclose_the_paren():
    from slipstream.heuristics.postprocess import clean

    ctx = at("result = f(a, |)\n")
    p = plan(ctx, LIMITS, FAST)
    assert p.single_line
    assert clean("b)", ctx) == "b"
    assert clean("g(b))", ctx) == "g(b)"


@pytest.mark.parametrize(
    ("doc", "lead"),
    [
        ("if dest is None:|", "\n    "),
        ("def f(x):\n    for y in x:|\n", "\n        "),
        ("class A(B):|", "\n    "),
        ("async def f():|", "\n    "),
        ("    else:|", "\n        "),
        ("\tif x:|", "\n\t\t"),
        ("    try:|\n        pass\n", "\n        "),  # a body below already: the new first line
        ("if x:|  # why\n", ""),  # text after the cursor
        ("if x: |", ""),  # not right after the colon
        ("key = lambda x:|", ""),  # not a block
        ("d = {'a':|", ""),  # inside brackets
        ("x = y[1:|]", ""),
        ("# if x:|", ""),  # a comment
        ("s = 'if x:|'", ""),  # a string
        ("if_x = {1:|", ""),
        ("if x:\n    |", ""),  # already on the body's line
    ],
)
def test_a_header_ending_at_the_cursor_gets_a_line_break_lead(doc, lead):
    assert header_line_break(at(doc)) == lead


@pytest.mark.parametrize(
    ("doc", "lead"),
    [
        ("def f():\n    x = g(a)|\n", "\n    "),
        ("x = f(1)|", "\n"),
        ("\tif x:\n\t\ty = [1, 2]|\n", "\n\t\t"),
        ("def f():\n    returned = g()|\n", "\n    "),  # a name, not the keyword
        ("s = 'a'|", "\n"),
        ("def f():\n    return x|\n    y = 1\n", ""),  # the block's flow ends: the model decides
        ("    raise ValueError(x)|", ""),
        ("    pass|", ""),
        ("    continue|", ""),
        ("    break|", ""),
        ("x = f(a|)", ""),  # mid-line
        ("x = f(a)|  # why", ""),  # text after the cursor
        ("x = [1,|", ""),  # inside brackets
        ("x = valu|", ""),  # a word (or number) being typed
        ("x = 1|", ""),
        ("if x:|", ""),  # a header: header_line_break's
        ("# x = 1|", ""),
        ("x = f(1)\n|", ""),  # already on the next line
    ],
)
def test_a_statement_ending_at_the_cursor_gets_a_line_break_lead(doc, lead):
    assert statement_line_break(at(doc)) == lead
