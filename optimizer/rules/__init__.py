"""Behaviour-preserving rewrites with libcst: minimal changes first, by family, over one engine.

- ``expressions``: one expression replaced by a cheaper equal one;
- ``loops``: a loop replaced by a comprehension or builtin;
- ``hoisting``: repeated work moved out of a loop;
- ``datastructures``: a container that does the same work faster;
- ``caching``: a pure recursive function remembers its results;
- ``inlining``: a small pure helper's expression in place of its calls in a loop;
- ``stdlib``: a hand-written loop replaced by the ``bisect``/``itertools``/``operator`` function doing the same
  steps (binary search, index pairs, dot products, prefix sums);
- ``engine``: parse → find → apply → imports → compile, the same for ``candidates`` and ``compose``;
- ``helpers``: the same rules applied to the module-level functions the target calls;
- ``slots``: ``__slots__`` on a small class the target creates (the one rewrite outside the target and its
  helpers).

Each rule has a precise precondition and changes only the target function. ``RULES`` is the registry, in
the order candidates are offered and composed. A rewrite is a candidate, never an answer: it is offered
only after verification on real inputs and measurement.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from slipstream.optimizer.rules import (
    caching,
    datastructures,
    engine,
    expressions,
    helpers,
    hoisting,
    inlining,
    listconcat,
    loops,
    minmax,
    slots,
    stdlib,
    tables,
)
from slipstream.optimizer.rules.engine import ReplaceFunction, Rewrite, Rule

__all__ = [
    "RULES",
    "ReplaceFunction",
    "Rewrite",
    "Rule",
    "candidates",
    "compose",
    "helper_candidates",
    "offered",
    "slots_candidates",
]

RULES: tuple[Rule, ...] = (
    Rule("keys-membership", "`k in d.keys()` → `k in d`", expressions.keys_membership),
    Rule("format-fstring", '`"{}".format(x)` → `f"{x}"`', expressions.format_fstring),
    Rule("sorted-index", "`sorted(x)[0]`/`[-1]` → `min`/`max`", expressions.sorted_index),
    Rule(
        "sum-products",
        "sum of pairwise products → `sum(map(operator.mul, a, b))`",
        stdlib.sum_products,
        ("operator",),
        reads_module=True,
    ),
    Rule(
        "consumer-list",
        "`sum(... for ...)` → `sum([... for ...])` where the callee reads it all",
        expressions.consumer_list,
        follow_up=True,
    ),
    Rule("literal-set-membership", "membership in a literal list → set", datastructures.literal_set_membership),
    Rule("append-loop-comprehension", "append loop → list comprehension", loops.append_comprehension),
    Rule("string-concat-join", 'string `+=` loop → `"".join`', loops.concat_join),
    Rule(
        "cache-pure-recursion",
        "pure recursive function → `functools.cache`",
        caching.cache_recursion,
        ("functools",),
        reads_module=True,
    ),
    Rule(
        "small-int-table",
        "pure function of one small integer → results kept in a table",
        tables.small_int_table,
        reads_module=True,
    ),
    Rule(
        "memo-per-call",
        "recursion passing some arguments through → a memo for one outermost call",
        caching.memo_per_call,
    ),
    Rule("membership-set", "membership in a parameter inside a loop → a set built once", datastructures.membership_set),
    Rule("search-loop-builtin", "search loop → `any`/`next`", loops.search_loop),
    Rule(
        "deque-queue",
        "`list.pop(0)`/`insert(0, x)` queue → `collections.deque`",
        datastructures.deque_queue,
        ("collections",),
    ),
    Rule(
        "index-pairs-combinations",
        "`for i ... for j in range(i + 1, len(xs))` → `itertools.combinations`",
        stdlib.index_pairs_combinations,
        ("itertools",),
        reads_module=True,
    ),
    Rule(
        "hoist-invariant-call",
        "loop-invariant `len`/`set(...)` hoisted out of the loop",
        hoisting.hoist_invariant_calls,
    ),
    Rule(
        "hoist-method-lookup",
        "method/attribute lookups hoisted out of the loop",
        hoisting.hoist_method_lookups,
        until=(3, 11),
    ),
    Rule(
        "compile-regex",
        "`re` calls with a literal pattern → one pattern compiled at import",
        hoisting.compile_regex,
        ("re",),
        reads_module=True,
    ),
    Rule(
        "list-concat-append",
        "`acc = acc + [x]` in a loop → `acc.append(x)`",
        listconcat.append_not_concat,
        reads_module=True,
    ),
    Rule("counter-loop", "manual counting → `collections.Counter`", loops.count_loop, ("collections",)),
    Rule("sum-loop", "`+=` accumulation loop → `sum`", loops.sum_loop),
    Rule("pairwise-index", "nested-loop equality match → a dict index", datastructures.pairwise_index),
    Rule("range-len-index", "`for i in range(len(xs))` → direct iteration", loops.range_len_index),
    Rule("square-multiply", "`x ** 2` → `x * x`", expressions.square_multiply),
    Rule(
        "minmax-compare",
        "`t = max(t, e)` in a loop → `if e > t: t = e`",
        minmax.compare_in_loop,
        reads_module=True,
    ),
    Rule("seen-set-dedupe", "`not in` a growing list → a companion set", datastructures.seen_set),
    Rule(
        "sorted-slice-heapq",
        "`sorted(xs)[:k]` → `heapq.nsmallest`/`nlargest`",
        expressions.sorted_slice_heapq,
        ("heapq",),
    ),
    Rule(
        "inline-helper",
        "small pure module-level helper called in a loop → its expression",
        inlining.inline_helpers,
        reads_module=True,
    ),
    Rule(
        "running-accumulate",
        "running total appended in a loop → `itertools.accumulate`",
        stdlib.running_accumulate,
        ("itertools",),
        reads_module=True,
    ),
    Rule(
        "bisect-search",
        "hand-written binary search → `bisect`",
        stdlib.bisect_search,
        ("bisect",),
        reads_module=True,
    ),
    Rule(
        "bisect-search-item",
        "hand-written binary search on a field → `bisect` with an `operator` key",
        stdlib.bisect_search_item,
        ("bisect", "operator"),
        reads_module=True,
    ),
)


def offered(python: tuple[int, int] | None = None) -> tuple[Rule, ...]:
    """The rules worth trying on ``python`` (default: this interpreter, the one variants are measured on)."""
    version = python or (sys.version_info.major, sys.version_info.minor)
    return tuple(rule for rule in RULES if rule.offered_on(version))


def candidates(source: str, qualname: str, python: tuple[int, int] | None = None) -> list[Rewrite]:
    """Every rule offered on ``python`` that applies to ``qualname`` (``func`` or ``Class.method``), each as
    a whole module."""
    return engine.candidates(source, qualname, offered(python))


def helper_candidates(source: str, qualname: str, python: tuple[int, int] | None = None) -> list[Rewrite]:
    """The same rules applied to each module-level function ``qualname`` calls (rules/helpers.py)."""
    return helpers.helper_candidates(source, qualname, offered(python))


def slots_candidates(source: str, qualname: str, others: Iterable[str | None] = ()) -> list[Rewrite]:
    """``__slots__`` on each small class ``qualname`` creates (rules/slots.py); ``others``: the workspace's
    other Python sources, read only if a class qualifies."""
    return slots.slots_candidates(source, qualname, others)


def compose(source: str, qualname: str, names: Sequence[str], python: tuple[int, int] | None = None) -> Rewrite | None:
    """The named rules applied one after another (in the registry's order): several small wins at once."""
    return engine.compose(source, qualname, names, offered(python))
