import real_cases
from psf_graphlib import CycleError, TopologicalSorter


def test_build_order():
    for seed, n in [(13, 150), (14, 60)]:
        graph = real_cases.dependency_graph(n, seed)
        order = list(TopologicalSorter(graph).static_order())
        position = {node: i for i, node in enumerate(order)}
        assert len(order) == n
        assert all(position[dep] < position[node] for node, deps in graph.items() for dep in deps)
    try:
        list(TopologicalSorter({"a": ["b"], "b": ["a"]}).static_order())
    except CycleError:
        pass
    else:
        raise AssertionError("a cycle must be reported")
