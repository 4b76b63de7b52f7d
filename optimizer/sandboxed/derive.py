"""Neighbours of captured values by their types and shapes: the inputs derived for verification.

Runs only in the sandbox (the generate driver): the captured pickles are loaded here, never in the
trusted process. For each kind of value, the neighbours a project's tests rarely try, the small
changes first:

- ints: n + 1, n - 1, 0, -n, n // 2, 2n + 1 (only for small n); floats: x + 1, x - 0.5, -x, 1.5x, 0.0, x / 3
  (0.0 and 1.0 for inf and nan); complex numbers likewise; bools flipped;
- strings and bytes: one character fewer at the end, one more (the last again), empty, one fewer at the
  start, reversed, one character changed, case swapped, doubled;
- lists (their subclasses and deques too): one element fewer at the end, one more (a neighbour of the
  last, copied so nothing is shared), empty, reversed, one fewer at the start, one element replaced by
  its own neighbour (first, middle, last; recursively), rotated, halved, doubled (a copy), every
  element moved to its first neighbour;
- tuples: one element replaced by its neighbour (a tuple's length is usually its meaning); tuples of
  three or more items of one type also grow and shrink like lists; namedtuples keep their type;
- dicts (their subclasses keep their type, default factory and order): one value replaced by its
  neighbour; an argument that is a dict also loses its last or first key, gains one (neighbours of the
  last item) or is emptied, but a dict inside another value is a record and keeps its keys (orders
  without their "customer" key made a correct index-join rule raise where the original, given no
  customers, never looked);
- sets and frozensets: an element removed, one added (a neighbour of one), empty;
- other objects, a captured ``self`` included: a shallow copy with one attribute (of the first
  ``MAX_ATTRS``) replaced by its neighbour, interleaved over the attributes; dataclasses through
  ``dataclasses.replace``, so their own ``__post_init__`` checks run. Classes, functions and modules are
  left as they are.

Nested values are varied recursively down to ``MAX_DEPTH``. ``halved`` makes a miniature of a large
input (every container cut to its first half, recursively, records keeping their keys) for cheap
neighbours. Everything here is deterministic (no
randomness, no hash-order dependence beyond the sandbox's fixed hash seed): the same captured inputs give
the same derived ones in every run. ``argument_sets`` varies one argument at a time (a method's ``self``
last), interleaving arguments and captured inputs, so the first few derived inputs vary every argument of
several captured ones.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import itertools
import math
import re
import types
from collections.abc import Iterable, Iterator
from typing import Any

MAX_DEPTH = 3  # nesting levels varied: a list of lists of tuples, an object's list attribute
MAX_ATTRS = 6  # attributes of one object varied
PER_ELEMENT = 2  # neighbours of one element (or attribute) tried in its container
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def variants(x: Any, depth: int = 0) -> Iterator[Any]:
    """The neighbours of ``x``: same type, other values and sizes; finite, in a fixed order."""
    if depth > MAX_DEPTH or x is None or isinstance(x, _OPAQUE):
        return iter(())
    t = type(x)
    if t is bool:
        return iter((not x,))
    if t is int:
        return _ints(x)
    if t is float:
        return _floats(x)
    if t is complex:
        return iter((x + 1, x * 1j, 0j) if x else (1 + 0j, 1j))
    if t is str:
        return _texts(x, "a", lambda c: _next_char(c))
    if t is bytes or t is bytearray:
        return (t(v) for v in _texts(bytes(x), b"a", lambda c: bytes([(c[0] + 1) % 256])))
    if isinstance(x, dict):
        return _dicts(x, depth)
    if isinstance(x, (set, frozenset)):
        return _sets(x, depth)
    if isinstance(x, tuple):
        return _tuples(x, depth)
    if isinstance(x, list) or _is_deque(x):
        return _rebuilt(x, _sequences(list(x), depth))
    if isinstance(x, (str, bytes, int, float, complex)):  # subclasses of value types: left alone
        return iter(())
    return _objects(x, depth)


def halved(x: Any, depth: int = 0) -> Any:
    """``x`` with every container (and string) cut to its first half, recursively: a miniature of a large
    input whose neighbours cost little to run, compare and send (rows of one length stay of one length)."""
    if depth > MAX_DEPTH or x is None or isinstance(x, _OPAQUE) or type(x) in (bool, int, float, complex):
        return x
    t = type(x)
    if t is str or t is bytes or t is bytearray:
        return x[: len(x) // 2]
    if isinstance(x, dict):  # a dict inside another value is a record: all its keys stay
        items = list(x.items())[: len(x) // 2] if not depth else list(x.items())
        return next(_dict_like(x, [(k, halved(v, depth + 1)) for k, v in items]), x)
    if isinstance(x, (set, frozenset)):
        return type(x)(sorted(x, key=_shown)[: len(x) // 2]) if type(x) in (set, frozenset) else x
    if isinstance(x, tuple):
        make = tuple if t is tuple else getattr(t, "_make", None)
        try:
            return make([halved(e, depth + 1) for e in x]) if make else x
        except Exception:
            return x
    if isinstance(x, list) or _is_deque(x):
        return next(_rebuilt(x, [[halved(e, depth + 1) for e in list(x)[: len(x) // 2]]]), x)
    if isinstance(x, (str, bytes, int, float, complex)):
        return x
    if dataclasses.is_dataclass(x):
        try:
            fields = [f.name for f in dataclasses.fields(x) if f.init]
            return dataclasses.replace(x, **{n: halved(getattr(x, n), depth + 1) for n in fields})
        except Exception:
            return x
    try:
        y = copy.copy(x)
        for name, value in _attributes(x):
            if not isinstance(value, _OPAQUE):
                setattr(y, name, halved(value, depth + 1))
    except Exception:
        return x
    return y


def argument_sets(captured: list[tuple[tuple, dict]], method: bool) -> Iterator[tuple[tuple, dict]]:
    """Derived (args, kwargs): one argument replaced by a neighbour, interleaved over arguments and inputs."""
    return _round_robin([_one_input(args, kwargs, method) for args, kwargs in captured])


def _one_input(args: tuple, kwargs: dict, method: bool) -> Iterator[tuple[tuple, dict]]:
    slots: list[tuple[str, Any]] = [("a", i) for i in range(1 if method else 0, len(args))]
    slots += [("k", k) for k in kwargs]
    if method and args:
        slots.append(("a", 0))  # the captured instance: its state varied last
    return _round_robin([_at(args, kwargs, kind, key) for kind, key in slots])


def _at(args: tuple, kwargs: dict, kind: str, key: Any) -> Iterator[tuple[tuple, dict]]:
    """The argument set with the argument at ``key`` (a position, or a keyword) replaced by each neighbour."""
    if kind == "a":
        for v in variants(args[key]):
            yield (*args[:key], v, *args[key + 1 :]), kwargs
    else:
        for v in variants(kwargs[key]):
            yield args, {**kwargs, key: v}


def _round_robin(streams: list[Iterator[Any]]) -> Iterator[Any]:
    live = list(streams)
    while live:
        nxt = []
        for s in live:
            try:
                yield next(s)
            except StopIteration:
                continue
            nxt.append(s)
        live = nxt


def _ints(x: int) -> Iterator[int]:
    yield x + 1
    yield x - 1
    if x:
        yield 0
        yield -x
    if abs(x) > 2:
        yield x // 2
    if abs(x) < 1 << 16:  # a doubled size may be a doubled cost: only for small numbers
        yield 2 * x + 1


def _floats(x: float) -> Iterator[float]:
    if not math.isfinite(x):
        yield 0.0
        yield 1.0
        return
    yield x + 1.0
    yield x - 0.5
    if x:
        yield -x
        yield x * 1.5
        yield 0.0
        yield x / 3
    else:
        yield 1.0


def _next_char(c: str) -> str:
    code = ord(c) + 1
    return "a" if code > 0x10FFFF or 0xD800 <= code < 0xE000 else chr(code)


def _texts(x: Any, filler: Any, bump: Any) -> Iterator[Any]:
    """Strings and bytes alike (``filler``: one character of the kind; ``bump``: the next character)."""
    n = len(x)
    if not n:
        yield filler
        yield filler * 3
        return
    yield x[:-1]
    yield x + x[-1:]
    yield x[:0]
    if n > 1:
        yield x[1:]
        if x[::-1] != x:
            yield x[::-1]
    mid = n // 2
    yield x[:mid] + bump(x[mid : mid + 1]) + x[mid + 1 :]
    swapped = x.swapcase()
    if swapped != x:
        yield swapped
    yield x + x


def _sequences(items: list, depth: int) -> Iterator[list]:
    n = len(items)
    if not n:
        return
    yield items[:-1]
    yield [*items, _copy_of_neighbour(items[-1], depth)]
    yield []
    if n > 1:
        if _differs(items[::-1], items):
            yield items[::-1]
        yield items[1:]
    yield from _elementwise(items, depth)
    if n > 2:
        yield items[1:] + items[:1]
        yield items[: n // 2]
    yield items + copy.deepcopy(items)
    moved = [next(variants(e, depth + 1), e) for e in items]
    if _differs(moved, items):
        yield moved


def _elementwise(items: list, depth: int) -> Iterator[list]:
    n = len(items)
    for i in sorted({0, n // 2, n - 1}):
        for v in itertools.islice(variants(items[i], depth + 1), PER_ELEMENT):
            yield [*items[:i], v, *items[i + 1 :]]


def _copy_of_neighbour(x: Any, depth: int) -> Any:
    """A neighbour of ``x`` (``x`` itself when it has none) that shares nothing with it."""
    return copy.deepcopy(next(variants(x, depth + 1), x))


def _is_deque(x: Any) -> bool:
    return isinstance(x, collections.deque)


def _rebuilt(x: Any, item_lists: Iterable[list]) -> Iterator[Any]:
    """Each item list as a container of ``x``'s own type (a list subclass, a deque with its maxlen)."""
    for items in item_lists:
        if type(x) is list:
            yield items
            continue
        try:
            y = copy.copy(x)
            if isinstance(y, list):
                y[:] = items
            else:
                y.clear()
                y.extend(items)
        except Exception:
            return
        yield y


def _tuples(x: tuple, depth: int) -> Iterator[tuple]:
    make = getattr(type(x), "_make", None) if type(x) is not tuple else tuple
    if make is None:  # another tuple subclass: how to build one is its own business
        return
    items = list(x)
    shapes: Iterable[list] = _elementwise(items, depth) if items else ()
    if len(items) >= 3 and type(x) is tuple and len({type(e) for e in items}) == 1:
        shapes = itertools.chain(shapes, _sequences(items, depth))
    for new in shapes:
        try:
            yield make(new)
        except Exception:
            continue


def _dicts(x: dict, depth: int) -> Iterator[dict]:
    items = list(x.items())
    n = len(items)
    for i in sorted({0, n // 2, n - 1}) if n else ():
        key, value = items[i]
        for v in itertools.islice(variants(value, depth + 1), PER_ELEMENT):
            yield from _dict_like(x, [*items[:i], (key, v), *items[i + 1 :]])
    if n and not depth:  # a dict inside another value is a record: its keys stay as they are
        yield from _dict_like(x, items[:-1])
        key, value = items[-1]
        new_key = next((k for k in variants(key, depth + 1) if _absent(k, x)), None)
        if new_key is not None:
            yield from _dict_like(x, [*items, (new_key, _copy_of_neighbour(value, depth))])
        yield from _dict_like(x, [])
        if n > 1:
            yield from _dict_like(x, items[1:])


def _dict_like(x: dict, items: list[tuple[Any, Any]]) -> Iterator[dict]:
    if type(x) is dict:
        yield dict(items)
        return
    try:
        y = copy.copy(x)  # keeps a defaultdict's factory, an OrderedDict's type
        y.clear()
        y.update(items)
    except Exception:
        return
    yield y


def _absent(key: Any, container: Any) -> bool:
    """``key`` can be added to ``container`` as a new key (user ``__hash__``/``__eq__`` may raise)."""
    try:
        return key not in container
    except Exception:
        return False


def _differs(a: list, b: list) -> bool:
    try:
        return bool(a != b)
    except Exception:
        return True


def _sets(x: set | frozenset, depth: int) -> Iterator[Any]:
    if type(x) not in (set, frozenset):
        return
    items = sorted(x, key=_shown)  # a fixed order whatever the hashes
    if not items:
        return
    yield type(x)(items[:-1])
    grown = next((v for e in items for v in variants(e, depth + 1) if _absent(v, x)), None)
    if grown is not None:
        yield type(x)([*items, grown])
    yield type(x)()
    if len(items) > 1:
        yield type(x)(items[1:])


def _shown(x: Any) -> str:
    try:
        return _ADDRESS.sub("0x?", repr(x))
    except Exception:
        return ""


def _attributes(x: Any) -> list[tuple[str, Any]]:
    found: dict[str, Any] = {}
    d = getattr(x, "__dict__", None)
    if isinstance(d, dict):
        found.update((k, v) for k, v in d.items() if isinstance(k, str))
    for klass in type(x).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and slot not in found:
                try:
                    found[slot] = object.__getattribute__(x, slot)
                except AttributeError:
                    continue
    return [(k, v) for k, v in found.items() if not k.startswith("__")][:MAX_ATTRS]


def _objects(x: Any, depth: int) -> Iterator[Any]:
    """Copies with one attribute replaced, interleaved over the attributes (a ``self`` at the top level gets
    every neighbour of each attribute; nested objects ``PER_ELEMENT`` each)."""
    if depth >= MAX_DEPTH:
        return iter(())
    per = None if depth == 0 else PER_ELEMENT
    if dataclasses.is_dataclass(x):
        names = [f.name for f in dataclasses.fields(x) if f.init][:MAX_ATTRS]
        return _round_robin([_replaced(x, name, getattr(x, name), depth, per, True) for name in names])
    attrs = [(k, v) for k, v in _attributes(x) if not isinstance(v, _OPAQUE)]
    return _round_robin([_replaced(x, name, value, depth, per, False) for name, value in attrs])


def _replaced(x: Any, name: str, value: Any, depth: int, per: int | None, data: bool) -> Iterator[Any]:
    for v in itertools.islice(variants(value, depth + 1), per):
        try:
            if data:
                y = dataclasses.replace(x, **{name: v})
            else:
                y = copy.copy(x)
                setattr(y, name, v)
        except Exception:
            return
        yield y
