from recursion import edit_distance, fib, grid_paths, partitions


def test_fib():
    assert fib(22) == 17711


def test_grid_paths():
    assert grid_paths(9, 8) == 24310


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("sunday", "saturday") == 3


def test_partitions():
    assert partitions(30, 30) == 5604
