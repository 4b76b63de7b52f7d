import random

import real_cases
from psf_heapq import heappop, heappush, merge


def test_priority_queue():
    rng = random.Random(7)
    tasks = []
    for i in range(800):
        heappush(tasks, (rng.randint(0, 50), i, f"task-{i}"))
    done = [heappop(tasks) for _ in range(len(tasks))]
    assert done == sorted(done)
    numbers = []
    for x in real_cases.vocabulary(300, 8):
        heappush(numbers, x)
    assert [heappop(numbers) for _ in range(300)] == sorted(real_cases.vocabulary(300, 8))


def test_merge_sorted_runs():
    rng = random.Random(9)
    runs = [sorted(rng.randint(0, 10**4) for _ in range(rng.randint(0, 200))) for _ in range(8)]
    assert list(merge(*runs)) == sorted(x for run in runs for x in run)
    desc = [sorted(run, reverse=True) for run in runs]
    assert list(merge(*desc, reverse=True)) == sorted((x for run in runs for x in run), reverse=True)
    words = [sorted(real_cases.vocabulary(50, s), key=len) for s in range(4)]
    assert [len(w) for w in merge(*words, key=len)] == sorted(len(w) for run in words for w in run)
