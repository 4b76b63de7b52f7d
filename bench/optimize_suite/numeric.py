"""Numeric helpers."""

import time


def value_range(xs):
    """(smallest, largest)."""
    return sorted(xs)[0], sorted(xs)[-1]


def top_scores(scores):
    """The three best scores, best first."""
    return sorted(scores, reverse=True)[:3]


def squared_distances(points, origin):
    """Squared Euclidean distance of each point from the origin."""
    ox, oy = origin
    out = []
    for p in points:
        dx = p[0] - ox
        dy = p[1] - oy
        out.append(dx**2 + dy**2)
    return out


def in_stock(inventory, names):
    return [n for n in names if n in inventory.keys()]


def dot(a, b):
    total = 0
    for i in range(len(a)):
        total += a[i] * b[i]
    return total


def timed_sum(xs):
    """The sum and when it was computed: depends on the clock, so it must be refused."""
    return sum(xs), time.time()
