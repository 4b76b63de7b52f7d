from __future__ import annotations

from slipstream.completion.project_context import project_context

SRC = '''class Cart:
    """A shopping cart."""

    def add(self, name: str, qty: int = 1) -> None:
        """Add qty of name to the cart."""

    def total(self) -> float:
        return 0.0


def checkout(cart: Cart, coupon: str | None = None) -> float:
    """Pay for everything in the cart."""
    return cart.total()


cart = Cart()
checkout(
cart.
'''


def at(marker_line: str) -> tuple[int, int]:
    lines = SRC.split("\n")
    row = next(i for i, ln in enumerate(lines) if ln == marker_line)
    return row, len(lines[row])


def test_signature_of_the_call_being_typed():
    row, col = at("checkout(")
    ctx = project_context(SRC, None, row, col)
    assert "checkout(cart: Cart, coupon: str | None=None)" in ctx.replace(" = ", "=")
    assert "Pay for everything in the cart." in ctx


def test_members_of_the_object_before_a_dot():
    row, col = at("cart.")
    ctx = project_context(SRC, None, row, col)
    assert "cart has: add, total" in ctx


def test_nothing_for_broken_code_or_plain_positions():
    assert project_context("def (:\n", None, 0, 3) == ""
    assert project_context(SRC, None, 0, 0) == ""
