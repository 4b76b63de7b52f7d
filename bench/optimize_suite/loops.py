"""Loops that builtins or comprehensions do faster."""


def squares_of_evens(xs):
    out = []
    for x in xs:
        if x % 2 == 0:
            out.append(x * x)
    return out


def sum_values(xs):
    total = 0
    for x in xs:
        total += x
    return total


def without_excluded(values, excluded):
    """Values not on the exclusion list, in order."""
    return [v for v in values if v not in set(excluded)]


def matching_positions(xs, targets):
    """Indexes of the elements that are one of the targets."""
    out = []
    for i in range(len(xs)):
        if xs[i] in targets:
            out.append(i)
    return out


def moving_average(xs, k):
    """Average of each window of k consecutive values."""
    out = []
    for i in range(len(xs) - k + 1):
        out.append(sum(xs[i : i + k]) / k)
    return out


def weighted_total(items):
    total = 0
    for item in items:
        total += item["price"] * item["qty"]
    return total
