import cases
from structures import allowed_orders, bfs_order, contains_blocked, count_tags, first_over, join_orders, unique_in_order


def test_unique_in_order():
    ws = cases.words(3000, 1)
    out = unique_in_order(ws)
    assert len(out) == len(set(ws)) and out[0] == ws[0]


def test_allowed_orders():
    orders = cases.orders(2000, 300, 2)
    allowed = list(range(0, 300, 2))
    assert all(o["customer"] % 2 == 0 for o in allowed_orders(orders, allowed))


def test_bfs_order():
    g = cases.graph(4000, 3, 3)
    order = bfs_order(g, 0)
    assert order[0] == 0 and len(order) == len(set(order))


def test_join_orders():
    pairs = join_orders(cases.orders(400, 200, 4), cases.customers(200))
    assert all(name == f"customer-{name.split('-')[1]}" for _, name in pairs)


def test_count_tags():
    counts = count_tags(cases.posts(3000, 5))
    assert sum(counts.values()) > 3000


def test_contains_blocked():
    ws = cases.words(3000, 6)
    assert contains_blocked(ws, cases.words(200, 60)) in (True, False)
    assert contains_blocked(ws, ws[-1:]) is True


def test_first_over():
    xs = cases.numbers(5000, 7)
    assert first_over(xs, 995) > 995
    assert first_over(xs, 10**6) is None
