import real_cases
from pypi_idna_intranges import intranges_contain, intranges_from_list


def test_codepoint_ranges():
    for seed in range(2):
        for points in real_cases.codepoint_sets(seed):
            ranges = intranges_from_list(points)
            members = set(points)
            lo, hi = min(points, default=0), max(points, default=0)
            assert all(intranges_contain(c, ranges) == (c in members) for c in range(lo - 3, hi + 3, 7))
