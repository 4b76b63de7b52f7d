"""Deterministic data for the suite's workloads (tests) and held-out inputs for the benchmark's wrong-variant check.

The held-out inputs are never seen by the optimizer: different seeds and sizes, plus edge cases (empty,
duplicates, equal-but-different values like 1/1.0/True, negative numbers, unicode).
"""

from __future__ import annotations

import random
import string


def words(n, seed, vocab=400):
    rng = random.Random(seed)
    pool = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8))) for _ in range(vocab)]
    return [rng.choice(pool) for _ in range(n)]


def orders(n, customers, seed):
    rng = random.Random(seed)
    return [{"id": i, "customer": rng.randrange(customers + 5), "total": rng.randint(1, 500)} for i in range(n)]


def customers(n):
    return [{"id": i, "name": f"customer-{i}"} for i in range(n)]


def graph(n, degree, seed):
    rng = random.Random(seed)
    return {i: [rng.randrange(n) for _ in range(degree)] for i in range(n)}


def posts(n, seed):
    rng = random.Random(seed)
    tags = words(60, seed + 1, vocab=60)
    return [{"id": i, "tags": rng.sample(tags, rng.randint(1, 5))} for i in range(n)]


def numbers(n, seed, lo=-1000, hi=1000):
    rng = random.Random(seed)
    return [rng.randint(lo, hi) for _ in range(n)]


def floats(n, seed):
    rng = random.Random(seed)
    return [rng.uniform(-100, 100) for _ in range(n)]


def text(n, seed):
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + "     .,") for _ in range(n))


def lines(n, seed):
    rng = random.Random(seed)
    return [
        f"item {rng.randint(-50, 5000)} costs {rng.randint(1, 99)} at {rng.choice(['A', 'B'])}{i}" for i in range(n)
    ]


def rows(n, seed):
    rng = random.Random(seed)
    names = words(20, seed)
    return [(i, rng.choice(names), rng.uniform(0, 10)) for i in range(n)]


def titles(n, seed):
    rng = random.Random(seed)
    pool = words(200, seed)
    return [" ".join(rng.choices(pool, k=4)).title() + "!" for _ in range(n)]


def config(n, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        out.append("# comment" if r < 0.1 else "" if r < 0.2 else f"key{i} = value {rng.randint(0, 9)}")
    return out


def heldout(name):
    """Inputs the optimizer never saw, per function: (args, kwargs) pairs."""
    c = customers(30)
    g = graph(200, 3, 99)
    table = {
        "unique_in_order": [(words(300, 7),), ([],), ([1, 1.0, True, 2, 2],), (["é", "e", "é"],)],
        "allowed_orders": [(orders(200, 30, 8), list(range(0, 30, 3))), ([], []), (orders(5, 3, 1), ())],
        "bfs_order": [(g, 0), (g, 150), ({}, 1), ({1: [1, 1]}, 1)],
        "join_orders": [(orders(100, 30, 9), c), ([], c), (orders(10, 3, 2), [])],
        "count_tags": [(posts(50, 11),), ([],), ([{"tags": ["a", "a"]}],)],
        "contains_blocked": [(words(100, 12), words(10, 13)), ([], ["a"]), (["a"], [])],
        "first_over": [(numbers(100, 14), 900), ([], 0), ([1.5, 2], 1)],
        "squares_of_evens": [(numbers(300, 15),), ([],), ([0, -2, 3],)],
        "sum_values": [(numbers(300, 16),), ([],), (floats(100, 17),), ([True, 2, 0.5],)],
        "without_excluded": [(numbers(300, 18), numbers(30, 19)), ([], []), ([1, 2], [1.0])],
        "matching_positions": [(numbers(300, 20), numbers(20, 21)), ([], [1]), ([1, 1], (1,))],
        "moving_average": [(floats(50, 22), 5), ([1, 2, 3], 3), ([], 1)],
        "weighted_total": [([{"price": p, "qty": 2} for p in numbers(40, 23)],), ([],)],
        "render_rows": [(rows(40, 24),), ([],), ([("ü", 1)],)],
        "count_vowels": [(text(500, 25),), ("",), ("AEIOUaeiouxyz",)],
        "extract_numbers": [(lines(50, 26),), ([],), (["--5 and 3-4"],)],
        "slugify_all": [(titles(20, 27),), ([],), (["  Hello, World!!  ", "---"],)],
        "parse_kv": [(config(80, 28),), ([],), (["a=1", "a = 2", " = x", "#x=1"],)],
        "fib": [(n,) for n in (0, 1, 2, 15, 19)],
        "grid_paths": [(0, 5), (4, 4), (7, 3)],
        "edit_distance": [("kitten", "sitting"), ("", "abc"), ("flaw", "lawn"), ("same", "same")],
        "partitions": [(10, 10), (0, 3), (12, 5), (-1, 2)],
        "value_range": [(numbers(300, 29),), ([5],), ([2.5, 1, True],)],
        "top_scores": [(numbers(300, 30),), ([1],), ([3, 3.0, 1],)],
        "squared_distances": [
            ([(x, y) for x, y in zip(floats(50, 31), floats(50, 32), strict=True)], (1.5, -2.0)),
            ([], (0, 0)),
        ],
        "in_stock": [({w: 1 for w in words(50, 33)}, words(100, 34)), ({}, ["a"])],
        "dot": [(floats(100, 35), floats(100, 36)), ([], []), ([1, 2], [3, 4])],
        "timed_sum": [([1, 2],)],
    }
    return [(args, {}) for args in table[name]]
