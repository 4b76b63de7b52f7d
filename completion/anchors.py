"""Answers without the model: typed-through suggestions.

Typed-through: while a suggestion is on screen (or still being generated), the user often types its
first characters; the rest of that suggestion is still right, so it is answered at once. Backspace
works too, as long as the cursor stays at or after the point the suggestion was made for.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class Anchor:
    """A suggestion and the exact document around the point it was made for."""

    uri: str
    before: str  # digest of the text before the cursor's line
    line_prefix: str  # the cursor line up to the cursor
    suffix: str  # digest of the text after the cursor
    texts: list[str]  # the suggestions (the first is the one on screen); a running one grows
    done: bool = True
    before_len: int = 0  # lengths of the text before the line and after the cursor (to re-check edits)
    suffix_len: int = 0
    context_class: str = ""
    followers: list[Any] = field(default_factory=list)  # requests waiting on this running generation
    finished: Any = None  # an asyncio.Event set when a running generation ends

    def still_typed_through(self, text: str) -> bool:
        """After an edit: is ``text`` this anchor's document with only part of a suggestion typed in?"""
        if len(text) < self.before_len + len(self.line_prefix) + self.suffix_len:
            return False
        end = len(text) - self.suffix_len
        middle = text[self.before_len : end]
        if not middle.startswith(self.line_prefix):
            return False
        typed = middle[len(self.line_prefix) :]
        if "\n" in typed or not any(t.startswith(typed) for t in self.texts):
            return False
        return digest(text[: self.before_len]) == self.before and digest(text[end:]) == self.suffix


def make_anchor(
    uri: str, text: str, offset: int, texts: list[str], done: bool = True, context_class: str = ""
) -> Anchor:
    before, line_prefix, suffix = split_point(text, offset)
    cut = text.rfind("\n", 0, offset) + 1
    return Anchor(uri, before, line_prefix, suffix, texts, done, cut, len(text) - offset, context_class)


def typed_through(anchor: Anchor, before: str, line_prefix: str, suffix: str) -> list[str] | None:
    """The suggestions' remainders if the user only typed (or deleted) along a suggestion.

    ``None`` when the document elsewhere changed, the cursor left the anchor's line or moved before the
    anchor point, or the typed text departs from every suggestion. An empty list: a suggestion was
    typed in full, nothing of it is left. For a running generation, ``texts`` holds its text so far.
    """
    if before != anchor.before or suffix != anchor.suffix or not line_prefix.startswith(anchor.line_prefix):
        return None
    typed = line_prefix[len(anchor.line_prefix) :]
    rest = [t[len(typed) :] for t in anchor.texts if t.startswith(typed)]
    if not rest:
        return None
    return [r for r in rest if r]


def split_point(text: str, offset: int) -> tuple[str, str, str]:
    """(digest of the text before the cursor line, the cursor line's prefix, digest of the suffix)."""
    cut = text.rfind("\n", 0, offset) + 1
    return digest(text[:cut]), text[cut:offset], digest(text[offset:])


class AnchorStore:
    """The last few anchors per document, newest first."""

    def __init__(self, per_document: int = 8) -> None:
        self.per_document = per_document
        self._by_uri: dict[str, list[Anchor]] = {}

    def add(self, anchor: Anchor) -> None:
        items = self._by_uri.setdefault(anchor.uri, [])
        items.insert(0, anchor)
        del items[self.per_document :]

    def find(self, uri: str, before: str, line_prefix: str, suffix: str) -> tuple[Anchor, list[str]] | None:
        for anchor in self._by_uri.get(uri, []):
            rest = typed_through(anchor, before, line_prefix, suffix)
            if rest is not None:
                return anchor, rest
        return None

    def drop(self, uri: str) -> None:
        self._by_uri.pop(uri, None)
