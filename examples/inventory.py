"""A small inventory module: the file the Slipstream demo types in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    name: str
    price: float
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    def total_value(self) -> float:
        return self.price * self.quantity

    def is_in_stock(self) -> bool:
        return self.quantity > 0


class Inventory:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        if item.name in self.items:
            self.items[item.name].quantity += item.quantity
        else:
            self.items[item.name] = item

    def remove(self, name: str, quantity: int = 1) -> None:
        item = self.items[name]
        if quantity > item.quantity:
            raise ValueError(f"only {item.quantity} of {name} left")
        item.quantity -= quantity

    def total_value(self) -> float:
        return sum(item.total_value() for item in self.items.values())

    def in_stock(self) -> list[Item]:
        return [item for item in self.items.values() if item.is_in_stock()]

    def with_tag(self, tag: str) -> list[Item]:
        return [item for item in self.items.values() if tag in item.tags]

    def cheapest(self) -> Item | None:
        if not self.items:
            return None
        return min(self.items.values(), key=lambda item: item.price)

    def save(self, path: Path) -> None:
        data = [vars(item) for item in self.items.values()]
        path.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, path: Path) -> Inventory:
        inventory = cls()
        for row in json.loads(path.read_text()):
            inventory.add(Item(**row))
        return inventory


def main() -> None:
    inventory = Inventory()
    inventory.add(Item("apple", 0.5, 100, ["fruit"]))
    inventory.add(Item("pear", 0.75, 0, ["fruit"]))
    inventory.add(Item("hammer", 12.0, 3, ["tools"]))
    print(f"total value: {inventory.total_value():.2f}")
    print("in stock:", ", ".join(item.name for item in inventory.in_stock()))


if __name__ == "__main__":
    main()
