import cases
from loops import matching_positions, moving_average, squares_of_evens, sum_values, weighted_total, without_excluded


def test_squares_of_evens():
    assert all(v % 4 == 0 for v in squares_of_evens(cases.numbers(20000, 1)))


def test_sum_values():
    xs = cases.numbers(50000, 2)
    assert sum_values(xs) == sum(xs)


def test_without_excluded():
    out = without_excluded(cases.numbers(3000, 3), cases.numbers(300, 4))
    assert len(out) < 3000


def test_matching_positions():
    xs = cases.numbers(3000, 5)
    targets = cases.numbers(300, 6)
    assert all(xs[i] in targets for i in matching_positions(xs, targets))


def test_moving_average():
    out = moving_average(cases.floats(3000, 7), 20)
    assert len(out) == 2981


def test_weighted_total():
    items = [
        {"price": p, "qty": q}
        for p, q in zip(cases.numbers(20000, 8, 1, 100), cases.numbers(20000, 9, 1, 5), strict=True)
    ]
    assert weighted_total(items) > 0
