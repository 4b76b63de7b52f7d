import cases
from numeric import dot, in_stock, squared_distances, timed_sum, top_scores, value_range


def test_value_range():
    xs = cases.numbers(20000, 1)
    assert value_range(xs) == (min(xs), max(xs))


def test_top_scores():
    assert len(top_scores(cases.numbers(20000, 2))) == 3


def test_squared_distances():
    pts = list(zip(cases.floats(20000, 3), cases.floats(20000, 4), strict=True))
    assert min(squared_distances(pts, (0.5, 0.5))) >= 0


def test_in_stock():
    inventory = {w: 1 for w in cases.words(2000, 5)}
    assert len(in_stock(inventory, cases.words(20000, 6))) > 0


def test_dot():
    assert isinstance(dot(cases.floats(20000, 7), cases.floats(20000, 8)), float)


def test_timed_sum():
    assert timed_sum([1, 2])[0] == 3
