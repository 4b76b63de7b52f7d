"""Values as canonical, data-only trees: what the parent compares, so no ``__eq__`` of anyone's is trusted.

``encode(value)`` returns JSON-able nested lists, tagged by kind:
``["N"]`` None, ``["b", bool]``, ``["i", "123"]``, ``["f", "1.5"]`` (``repr``, exact), ``["c", "(1+2j)"]``,
``["s", str]``, ``["y", hex]``, ``["l"|"t", type, [items]]`` lists and tuples (namedtuples and other
subclasses keep their type), ``["d", type, [[k, v], ...]]`` dicts with items sorted by their encoding
(``==`` ignores order), ``["S", type, [items]]`` sets, likewise sorted, ``["g", type, [items], more]``
generators and iterators (consumed up to a bound), ``["o", type, [[attr, v], ...]]`` other objects by
their ``__dict__`` and ``__slots__`` (or their ``__reduce_ex__`` state when they have neither),
``["ref", qualname]`` functions, classes and modules, ``["cycle", depth]`` a reference back to an
enclosing container, ``["h", sha256]`` a subtree past the size budget (compared exactly), ``["r", text]``
a last-resort ``repr`` with addresses blanked. Types are ``module.qualname``.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import re
import sys
import types
from typing import Any

MAX_NODES = 100_000  # past this, subtrees are hashed: still compared exactly, but not shown
MAX_ITEMS = 10_000  # items of a generator or iterator compared one by one
MAX_REST = 1_000_000  # past those, items hashed (compared exactly, not shown); past these, "more"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_SIMPLE = (int, str, float, bool, type(None), bytes)


_NAMES: dict[type, str] = {}


def type_name(t: type) -> str:
    """``module.qualname``, and ``#unresolved`` when that name does not lead back to ``t`` itself (a class
    made on the fly, or one that claims another's name, such as a fake ``builtins.IndexError``)."""
    name = _NAMES.get(t)
    if name is None:
        module, qualname = str(getattr(t, "__module__", "?")), str(getattr(t, "__qualname__", "?"))
        obj: Any = sys.modules.get(module)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        name = f"{module}.{qualname}" + ("" if obj is t else "#unresolved")
        _NAMES[t] = name
    return name


class _Encoder:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.path: dict[int, int] = {}  # id of each container on the way down -> its depth

    def encode(self, x: Any) -> Any:
        self.budget -= 1
        t = type(x)
        if x is None:
            return ["N"]
        if t is bool:
            return ["b", x]
        if t is int:
            return ["i", str(x)]
        if t is float:
            return ["f", repr(x)]
        if t is str:
            return ["s", x]
        if self.budget < 0:
            return ["h", _digest(x)]
        if t is bytes or t is bytearray:
            return ["y", type_name(t), x.hex()]
        if t is complex:
            return ["c", repr(x)]
        if isinstance(x, (types.FunctionType, types.BuiltinFunctionType, type, types.ModuleType)):
            return ["ref", getattr(x, "__module__", None) or "", getattr(x, "__qualname__", getattr(x, "__name__", ""))]
        key = id(x)
        if key in self.path:
            return ["cycle", len(self.path) - self.path[key]]
        self.path[key] = len(self.path)
        try:
            return self._container(x, t)
        finally:
            del self.path[key]

    def _container(self, x: Any, t: type) -> Any:
        name = type_name(t)
        if isinstance(x, (list, tuple)) and not hasattr(x, "__dict__"):
            return ["l" if isinstance(x, list) else "t", name, [self.encode(e) for e in x]]
        if isinstance(x, tuple):  # namedtuple
            return ["t", name, [self.encode(e) for e in x]]
        if isinstance(x, dict):
            items = [[self.encode(k), self.encode(v)] for k, v in x.items()]
            if isinstance(x, collections.OrderedDict):  # its == and its iteration depend on the order
                return ["D", name, items]
            factory = [self.encode(x.default_factory)] if isinstance(x, collections.defaultdict) else []
            return ["d", name, sorted(items, key=_order), *factory]
        if isinstance(x, collections.deque):
            return ["q", name, [self.encode(e) for e in x], x.maxlen]
        if isinstance(x, (set, frozenset)):
            return ["S", name, sorted((self.encode(e) for e in x), key=_order)]
        if isinstance(x, BaseException):
            return ["e", name, [self.encode(a) for a in x.args]]
        if isinstance(x, (types.GeneratorType, types.CoroutineType)) or (
            hasattr(t, "__next__") and hasattr(t, "__iter__")
        ):
            items: list[Any] = []
            rest = hashlib.sha256()  # past MAX_ITEMS: the rest, hashed, up to MAX_REST items
            n = 0
            try:
                for e in x:
                    n += 1
                    if n <= MAX_ITEMS:
                        items.append(self.encode(e))
                    elif n <= MAX_ITEMS + MAX_REST:
                        rest.update(_order(_Encoder(64).encode(e)).encode("utf-8", "surrogatepass"))
                    else:
                        return ["g", name, items, rest.hexdigest(), "more"]
            except Exception as exc:
                items.append(["raise", type_name(type(exc))])
            return ["g", name, items, rest.hexdigest() if n > MAX_ITEMS else ""]
        attrs = self._attributes(x, t)
        if attrs is not None:
            return ["o", name, attrs]
        return ["r", name, _ADDRESS.sub("0x?", repr(x))[:2000]]

    def _attributes(self, x: Any, t: type) -> list | None:
        found: dict[str, Any] = {}
        has = False
        d = getattr(x, "__dict__", None)
        if isinstance(d, dict):
            has = True
            found.update(d)
        for klass in t.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot in ("__dict__", "__weakref__"):
                    continue
                has = True
                try:
                    found[slot] = object.__getattribute__(x, slot)
                except AttributeError:  # an empty slot is an attribute not set, as a key missing from a
                    if slot in found:  # __dict__ is; where the dict has that key, reading it still raises
                        found[f"{slot} (empty slot)"] = None
                    continue
        if not has:
            try:
                reduced = x.__reduce_ex__(4)
            except Exception:
                return None
            if isinstance(reduced, tuple) and len(reduced) >= 2:
                # Arguments and state, and the list and dict items some types keep there (bounded).
                parts = [
                    list(itertools.islice(p, MAX_ITEMS)) if i >= 3 and p is not None else p
                    for i, p in enumerate(reduced[1:5], start=1)
                ]
                return [["__reduce__", self.encode(tuple(parts))]]
            return None
        return sorted(([k, self.encode(v)] for k, v in found.items()), key=lambda kv: kv[0])


def _order(tree: Any) -> str:
    return json.dumps(tree, separators=(",", ":"))


def _digest(x: Any) -> str:
    try:
        text = repr(x)
    except Exception as exc:
        text = f"<unrepresentable {type(exc).__name__}>"
    return hashlib.sha256(_ADDRESS.sub("0x?", text).encode("utf-8", "replace")).hexdigest()


def encode(value: Any, budget: int = MAX_NODES) -> Any:
    return _Encoder(budget).encode(value)


def digest(tree: Any) -> str:
    return hashlib.sha256(_order(tree).encode("utf-8", "surrogatepass")).hexdigest()
