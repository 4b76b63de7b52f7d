import re

import real_cases
from pypi_pygments_regexopt import regex_opt


def test_keyword_regexes():
    for seed in range(4):
        words = real_cases.keywords(150, seed)
        pattern = re.compile(regex_opt(words, prefix=r"\b", suffix=r"\b"))
        assert all(pattern.fullmatch(w) for w in words)
        others = set(real_cases.vocabulary(100, seed + 100)) - set(words)
        assert not any(pattern.fullmatch(w) for w in others)
    assert re.fullmatch(regex_opt(["if", "elif", "else", "in", "is"]), "elif")
