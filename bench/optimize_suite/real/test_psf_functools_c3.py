import collections
import io

import real_cases
from psf_functools_c3 import _c3_merge, _c3_mro


def linearize(name, bases, memo):
    """Configuration layers resolved the way Python orders base classes."""
    if name not in memo:
        parents = bases.get(name, [])
        memo[name] = _c3_merge([[name]] + [list(linearize(p, bases, memo)) for p in parents] + [list(parents)])
    return memo[name]


def test_linearize_layers():
    for seed in range(4):
        graph = real_cases.dependency_graph(40, seed, fanin=2)
        memo: dict = {}
        resolved = 0
        for name in graph:
            try:
                order = linearize(name, graph, memo)
            except RuntimeError:  # parents listed in an order their own ancestors contradict
                continue
            resolved += 1
            assert order[0] == name and len(order) == len(set(order))
        assert resolved >= 10
    assert _c3_mro(collections.OrderedDict)[:2] == [collections.OrderedDict, dict]
    assert _c3_mro(io.BytesIO)[0] is io.BytesIO
