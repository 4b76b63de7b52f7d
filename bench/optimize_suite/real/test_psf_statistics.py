import math

import real_cases
from psf_statistics import StatisticsError, correlation


def test_correlations():
    for seed in range(10):
        xs, ys = real_cases.series(300, seed, noise=seed / 3)
        r = correlation(xs, ys)
        assert -1.0 <= r <= 1.0
    ramp = list(range(100))
    assert math.isclose(correlation(ramp, ramp), 1.0)
    assert math.isclose(correlation(ramp, ramp[::-1]), -1.0)
    try:
        correlation([1, 1, 1], [1, 2, 3])
    except StatisticsError:
        pass
    else:
        raise AssertionError("a constant input must be refused")
