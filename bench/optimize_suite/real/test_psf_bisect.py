import operator
import random

from psf_bisect import bisect_right, insort_right


def test_leaderboard():
    rng = random.Random(11)
    board: list[int] = []
    for _ in range(1500):
        insort_right(board, rng.randint(0, 10**5))
    assert board == sorted(board)
    entries: list[tuple[int, str]] = []
    for i in range(300):
        insort_right(entries, (rng.randint(0, 100), f"player{i}"), key=operator.itemgetter(0))
    assert [s for s, _ in entries] == sorted(s for s, _ in entries)
    assert bisect_right(board, board[10]) > 10
