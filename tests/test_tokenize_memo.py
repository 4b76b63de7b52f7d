"""LoadedModel.tokenize's memory of long texts (inference/model.py): a remembered window plus new lines has only
its new lines tokenized, with the ids the tokenizer gives the whole text (real default model)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
from slipstream.inference.model import ModelConfig, _extends_by_lines, load_model


@pytest.fixture(scope="module")
def gemma(default_model_path: str):
    return load_model(ModelConfig(path=default_model_path, n_threads=2, n_ctx=1024))


@pytest.mark.parametrize(
    ("text", "known", "extends"),
    [
        ("a\nb\nc\n", "a\nb\n", True),
        ("a\nb\n    if x:\n", "a\nb\n", True),
        ("a\nb\n\nc\n", "a\nb\n", False),  # a blank line: its break may join the one before
        ("a\nb\nc\n", "a\nb", False),  # not whole lines
        ("a\nb\n", "a\nb\n", False),  # the same text: a plain hit
        ("x\nb\nc\n", "a\nb\n", False),
    ],
)
def test_which_texts_extend_a_remembered_one(text, known, extends):
    assert _extends_by_lines(text, known) is extends


def test_a_window_grown_line_by_line_tokenizes_only_the_new_lines_and_as_a_whole(gemma):
    lines = Path(sysconfig.get_paths()["stdlib"], "argparse.py").read_text().splitlines(keepends=True)[1400:1520]
    real = gemma.llama.tokenize
    asked: list[int] = []

    def counting(data: bytes, *args, **kwargs):
        asked.append(len(data))
        return real(data, *args, **kwargs)

    gemma.llama.tokenize = counting
    try:
        incremental = 0
        for n in range(40, len(lines)):
            text = "".join(lines[:n])
            asked.clear()
            ids = gemma.tokenize(text)
            assert ids == real(text.encode(), add_bos=False, special=False), f"differs after {n} lines"
            incremental += asked == [len(lines[n - 1].encode())]
            if n == 40:
                assert asked == [len(text.encode())], "nothing remembered: the whole text"
            elif lines[n - 1] == "\n":  # a blank line is tokenized with the line before it
                assert asked == [len((lines[n - 2] + lines[n - 1]).encode())], n
        blank = sum(line == "\n" for line in lines[40:])
        assert incremental == len(lines) - 41 - blank, (incremental, blank)
    finally:
        del gemma.llama.tokenize
