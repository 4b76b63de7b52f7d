"""Token healing: the prompt never ends in a token the model would not have produced at the cursor.

A prompt cut at the cursor often ends in a token that is only the start of the token the text will have
once typed on: ``max(a, `` ends in ``" "`` where the model writes ``" b"``, ``self.fo`` in ``"fo"`` where it
writes ``"format"``. A model never saw ``" "`` followed by ``"b"``, so it writes something else (measured
with the default model: ``0`` instead of `` b``, or a newline and no suggestion at all). Healing drops such
tokens from the prompt and lets the model write them again, constrained so its text starts with exactly the
dropped bytes; those bytes are then stripped from what it wrote.

Guarantees:

- ``plan`` drops only tokens at or after ``start`` (the text that ends at the cursor; never BOS, FIM markers or
  project context), at most ``max_tokens`` of them, and only when the last token's bytes are a proper prefix
  of some other token's (otherwise the constraint would allow nothing the prompt did not already say). The
  kept tokens' bytes followed by ``Heal.text`` are exactly the original tokens' bytes: nothing is lost.
- ``Constraint.allowed`` is never empty until the healed text is covered, and every token it allows keeps the
  text coverable to its end: either the token's bytes start with the rest of the healed text, or they are a
  proper prefix of it from which the rest can still be written (checked once, from the vocabulary).
- ``Constraint.feed`` returns only the bytes past the healed text, so a suggestion never repeats it; it
  refuses a token that ``allowed`` did not allow.
- ``Vocabulary`` is built once per model from its token byte strings (a sort: ~0.1 s for Gemma 3's 262,144
  tokens on this machine); each query is a binary search, and the allowed ids are a view into its array.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_TOKENS = 2  # how many tokens at the cursor healing may drop (see bench/fim_eval.py for what it buys)


@dataclass(frozen=True)
class Heal:
    """The prompt's last ``n_tokens`` tokens are dropped; the generated text must start with ``text``."""

    n_tokens: int
    text: bytes


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class Vocabulary:
    """A model's tokens as byte strings, sorted so prefix queries are binary searches.

    Tokens whose bytes are empty (control tokens: BOS, end of generation, FIM markers) are left out: they
    can never write healed text.
    """

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces: list[bytes] = list(pieces)
        order = sorted((i for i, p in enumerate(self.pieces) if p), key=self.pieces.__getitem__)
        self._keys = [self.pieces[i] for i in order]
        self._ids = np.asarray(order, dtype=np.intc)

    def __len__(self) -> int:
        return len(self.pieces)

    def piece(self, token: int) -> bytes:
        return self.pieces[token] if 0 <= token < len(self.pieces) else b""

    def _range(self, prefix: bytes) -> tuple[int, int]:
        lo = bisect_left(self._keys, prefix)
        upper = _successor(prefix)
        hi = len(self._keys) if upper is None else bisect_left(self._keys, upper, lo)
        return lo, hi

    def starting_with(self, prefix: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes start with ``prefix`` (``prefix`` itself included)."""
        lo, hi = self._range(prefix)
        return self._ids[lo:hi]

    def count_starting_with(self, prefix: bytes) -> int:
        lo, hi = self._range(prefix)
        return hi - lo

    def exactly(self, piece: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes are ``piece`` (a vocabulary may spell one piece twice)."""
        lo = bisect_left(self._keys, piece)
        return self._ids[lo : bisect_right(self._keys, piece, lo)]


def plan(tokens: Sequence[int], start: int, vocab: Vocabulary, max_tokens: int = MAX_TOKENS) -> Heal | None:
    """Which of the prompt's last tokens to drop; ``tokens[start:]`` is the text that ends at the cursor.

    The last token is dropped when some longer token starts with its bytes; each token before it is dropped
    too (up to ``max_tokens``) while some token still starts with all the dropped bytes, so the model may
    write them back as it would have tokenized them.
    """
    text = b""
    k = 0
    while k < max_tokens and len(tokens) - k - 1 >= max(start, 0):
        piece = vocab.piece(tokens[len(tokens) - k - 1])
        if not piece:
            break
        candidate = piece + text
        n = vocab.count_starting_with(candidate)
        if k == 0 and n <= len(vocab.exactly(candidate)):
            break  # nothing longer starts with the last token: the prompt already ends where a token ends
        if n == 0:
            break
        text, k = candidate, k + 1
    return Heal(k, text) if k else None


class Constraint:
    """What the model may write next while the healed text is not covered yet; ``feed`` it every token."""

    def __init__(self, vocab: Vocabulary, text: bytes) -> None:
        if not text:
            raise ValueError("nothing to heal")
        self.vocab = vocab
        self.text = text
        self.pos = 0
        # coverable[i]: the text from byte i on can be written by some token sequence (from the end back).
        n = len(text)
        coverable = [False] * (n + 1)
        coverable[n] = True
        for i in range(n - 1, -1, -1):
            rest = text[i:]
            coverable[i] = vocab.count_starting_with(rest) > 0 or any(
                coverable[i + j] and len(vocab.exactly(rest[:j])) for j in range(1, len(rest))
            )
        if not coverable[0]:
            raise ValueError(f"no token sequence writes {text!r}")
        self._coverable = coverable

    @property
    def done(self) -> bool:
        return self.pos >= len(self.text)

    def allowed(self) -> np.ndarray:
        """Ids of the tokens that may come next (empty once the healed text is covered: anything may)."""
        rest = self.text[self.pos :]
        if not rest:
            return np.empty(0, dtype=np.intc)
        parts = [self.vocab.starting_with(rest)]
        for j in range(1, len(rest)):
            if self._coverable[self.pos + j]:
                parts.append(self.vocab.exactly(rest[:j]))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def feed(self, token: int) -> bytes:
        """Advance past ``token``; returns its bytes beyond the healed text (what the suggestion shows)."""
        piece = self.vocab.piece(token)
        if self.done:
            return piece
        rest = self.text[self.pos :]
        if piece.startswith(rest):
            self.pos = len(self.text)
            return piece[len(rest) :]
        if piece and rest.startswith(piece) and self._coverable[self.pos + len(piece)]:
            self.pos += len(piece)
            return b""
        raise ValueError(f"token {token} ({piece!r}) does not continue the healed text {rest!r}")
