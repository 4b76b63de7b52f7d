"""The attack suite: hostile code against the optimizer's sandbox, verification and measurement."""
