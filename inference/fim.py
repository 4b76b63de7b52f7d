"""Fill-in-the-middle capability, read from the model's own vocabulary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FimTokens:
    """Token ids of the FIM markers; llama.cpp reads them from GGUF metadata or known token texts."""

    prefix: int
    suffix: int
    middle: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.prefix, self.suffix, self.middle)


def fim_from_ids(prefix: int, suffix: int, middle: int) -> FimTokens | None:
    """A model supports FIM only if it has all three markers (llama.cpp reports a missing one as -1)."""
    if min(prefix, suffix, middle) < 0:
        return None
    return FimTokens(prefix, suffix, middle)
