"""Inputs grown k-fold from captured ones, in the sandbox, for measuring at sizes the tests do not reach.

``grow(args, kwargs, k)`` grows each top-level argument at its outer level only, so the data is k times
as large (a list of rows gets k times the rows, not k² the cells):

- a ``list`` becomes k copies of itself; in a list of plain ints copy ``i`` is shifted by ``i`` times the
  list's span (max - min + 1), so distinct values stay distinct and a sorted list stays sorted (a
  membership or de-duplication test must see new values, or the work would not grow); other items are
  deep copies, so no two copies share a mutable object;
- a ``str`` or ``bytes`` is repeated k times;
- a ``dict`` or ``set`` gets k - 1 more copies of its keys (elements): ints shifted like a list's, strs
  with a suffix (``"a"`` → ``"a~1"``); values are deep copies; one with keys of any other type is left as
  it is (no new key can be made safely);
- a ``dict`` that is a graph (adjacency collections, most of whose items are its own keys:
  ``{node: [neighbour, ...]}``) gets k copies with its nodes renamed as keys are, and each node of the
  original gains an edge to itself in every copy: a search from any node of the original reaches k times
  the nodes (copies nobody can reach would leave a breadth-first search's work as it was), a DAG stays
  acyclic (links only leave the original), and the copies stay side by side (linked in a chain, Kahn's
  algorithm over ``{task: deps}`` kept its queue as short as at the captured size: 1.04× at 10× where
  disjoint copies had shown the deque's win);
- everything else (ints, floats, tuples, instances, ``self``) is left as it is. Ints are never scaled:
  an int may be an index, a key, an exponent or a recursion depth, and ``fib(20)`` → ``fib(200)`` never
  ends. Tuples are often fixed-shape records that a function unpacks.

Deterministic: the same captured input and k give the same grown input in every process (the sandbox
fixes the hash seed), so the original and the variant are timed, and compared, on equal inputs. Whether a
grown input is meaningful is the original's to say: the caller keeps only those on which it returns.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any


def _copy(x: Any) -> Any:
    """A deep copy (a pickle round trip: several times faster than ``copy.deepcopy`` on plain data)."""
    try:
        return pickle.loads(pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return copy.deepcopy(x)


def _span(xs: Any) -> int:
    return max(xs) - min(xs) + 1


def _plain_ints(xs: Any) -> bool:
    return bool(xs) and all(type(x) is int for x in xs)


def _new_key(key: Any, i: int, span: int) -> Any:
    return key + i * span if type(key) is int else f"{key}~{i}"


def grow_value(x: Any, k: int) -> Any:
    """One argument grown ``k``-fold at its outer level (see the module's docstring); ``x`` is not changed."""
    t = type(x)
    if t is str or t is bytes:
        return x * k
    if t is list:
        if _plain_ints(x):
            span = _span(x)
            return [v + i * span for i in range(k) for v in x]
        return [item for _ in range(k) for item in _copy(x)]
    if t is set:
        if _plain_ints(x):
            span = _span(x)
            return {v + i * span for i in range(k) for v in x}
        if x and all(type(v) is str for v in x):
            return set(x) | {_new_key(v, i, 0) for i in range(1, k) for v in x}
        return x
    if t is dict:
        if _is_graph(x):
            return _grow_graph(x, k)
        keys = list(x)
        if _plain_ints(keys):
            span = _span(keys)
        elif keys and all(type(key) is str for key in keys):
            span = 0
        else:
            return x
        out = dict(x)
        for i in range(1, k):
            for key, value in _copy(x).items():
                out[_new_key(key, i, span)] = value
        return out
    return x


_COLLECTIONS = (list, tuple, set, frozenset)


def _is_graph(x: dict) -> bool:
    """Adjacency collections of plain-int or str nodes, at least half of whose items are keys of ``x``."""
    if not x or not all(type(v) in _COLLECTIONS for v in x.values()):
        return False
    node = int if _plain_ints(list(x)) else str if all(type(key) is str for key in x) else None
    items = [item for v in x.values() for item in v]
    if node is None or not items or not all(type(item) is node for item in items):
        return False
    return 2 * sum(item in x for item in items) >= len(items)


def _grow_graph(x: dict, k: int) -> dict:
    labels = [*x, *(item for v in x.values() for item in v)]
    span = _span(labels) if type(labels[0]) is int else 0

    def name(node: Any, i: int) -> Any:
        return node if i == 0 else _new_key(node, i, span)

    out: dict = {}
    for i in range(k):
        for node, v in x.items():
            items = [name(item, i) for item in v]
            if i == 0:  # the ways into the copies, side by side: a chain would keep a queue as short as before
                items.extend(name(node, j) for j in range(1, k))
            out[name(node, i)] = type(v)(items)
    return out


def grow(args: tuple, kwargs: dict, k: int) -> tuple[tuple, dict] | None:
    """The input grown ``k``-fold, or None when none of its arguments can grow."""
    new_args = tuple(grow_value(a, k) for a in args)
    new_kwargs = {key: grow_value(v, k) for key, v in kwargs.items()}
    before = [*args, *kwargs.values()]
    after = [*new_args, *new_kwargs.values()]
    grew = any(n is not a and len(n) > len(a) for n, a in zip(after, before, strict=True))
    return (new_args, new_kwargs) if grew else None
