"""Recursive definitions that recompute the same subproblems."""


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def grid_paths(rows, cols):
    """Monotone lattice paths from the top-left to the bottom-right corner."""
    if rows == 0 or cols == 0:
        return 1
    return grid_paths(rows - 1, cols) + grid_paths(rows, cols - 1)


def edit_distance(a, b):
    """Levenshtein distance between two strings."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    cost = 0 if a[0] == b[0] else 1
    return min(edit_distance(a[1:], b) + 1, edit_distance(a, b[1:]) + 1, edit_distance(a[1:], b[1:]) + cost)


def partitions(n, largest):
    """Ways to write n as a sum of parts no larger than ``largest``."""
    if n == 0:
        return 1
    if n < 0 or largest == 0:
        return 0
    return partitions(n - largest, largest) + partitions(n, largest - 1)
