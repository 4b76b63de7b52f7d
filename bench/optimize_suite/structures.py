"""Data-structure choices: lists where sets, deques or indexes belong."""


def unique_in_order(items):
    """Each item once, in first-seen order."""
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def allowed_orders(orders, allowed_ids):
    """Orders whose customer is on the allow list (a list, as it comes from the config file)."""
    return [o for o in orders if o["customer"] in allowed_ids]


def bfs_order(graph, start):
    """Breadth-first visiting order of a graph given as adjacency lists."""
    seen = {start}
    queue = [start]
    order = []
    while queue:
        node = queue.pop(0)
        order.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return order


def join_orders(orders, customers):
    """(order id, customer name) for every order, matched on the customer id."""
    out = []
    for order in orders:
        for customer in customers:
            if order["customer"] == customer["id"]:
                out.append((order["id"], customer["name"]))
    return out


def count_tags(posts):
    """How often each tag occurs over all posts' tag lists (flattened first)."""
    tags = [t for post in posts for t in post["tags"]]
    counts = {}
    for tag in tags:
        if tag in counts:
            counts[tag] += 1
        else:
            counts[tag] = 1
    return counts


def contains_blocked(words, blocked):
    """Does any word appear on the block list?"""
    for word in words:
        if word in blocked:
            return True
    return False


def first_over(values, limit):
    """The first value above the limit, or None."""
    for v in values:
        if v > limit:
            return v
    return None
