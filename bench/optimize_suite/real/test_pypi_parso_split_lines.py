import real_cases
from pypi_parso_split_lines import split_lines


def test_split_sources():
    for seed in range(6):
        text = real_cases.source_text(150, seed)
        kept = split_lines(text, keepends=True)
        assert "".join(kept) == text
        plain = split_lines(text)
        assert len(plain) == len(kept)
    assert split_lines("") == [""]
    assert split_lines("a\fb\nc", keepends=True) == ["a\fb\n", "c"]
