import cases
from strings import count_vowels, extract_numbers, parse_kv, render_rows, slugify_all


def test_render_rows():
    assert render_rows(cases.rows(3000, 1)).count("\n") == 3000


def test_count_vowels():
    assert count_vowels(cases.text(50000, 2)) > 0


def test_extract_numbers():
    assert len(extract_numbers(cases.lines(5000, 3))) >= 10000


def test_slugify_all():
    assert all(" " not in s for s in slugify_all(cases.titles(2000, 4)))


def test_parse_kv():
    assert len(parse_kv(cases.config(5000, 5))) > 3000
