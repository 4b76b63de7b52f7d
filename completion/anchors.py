"""Answers without the model: typed-through suggestions.

Typed-through: while a suggestion is on screen (or still being generated), the user often types its
first characters; the rest of that suggestion is still right, so it is answered at once. Backspace
works too, as long as the cursor stays at or after the point the suggestion was made for, and so does
Enter where the suggestion goes on on the next line with the indentation the editor gave it.

Typed ahead: a key typed at the same point while a keystroke's generation has written nothing yet (its
prompt is still being evaluated: a cold prompt, a 30 ms typist) may still be typed along what it writes
first, so that key waits for the generation's first text instead of stopping it (``find_ahead``). Once a
generation writes, or for a guess (its prompt is mostly evaluated already), a fresh generation whose prompt
holds what was typed needs fewer decodes than following it would: there the key stops it, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Anchor:
    """A suggestion and the exact document around the point it was made for."""

    uri: str
    before: str  # the text before the cursor's line
    line_prefix: str  # the cursor line up to the cursor
    suffix: str  # the text after the cursor
    texts: list[str]  # the suggestions (the first is the one on screen); a running one grows
    done: bool = True
    context_class: str = ""
    followers: list[Any] = field(default_factory=list)  # requests waiting on this running generation
    finished: Any = None  # an asyncio.Event set when a running generation ends
    guess: Any = None  # a speculation's GenerationRequest: the anchor is at the end of the suggestion it follows
    request: Any = None  # the GenerationRequest of a running generation (to stop it once the text departs)
    guessed: bool = False  # a guess of what follows this suggestion was planned (``CompletionService._speculate``)

    def typed_in(self, text: str, offset: int) -> str | None:
        """What was typed at this anchor's point to give ``text`` with the cursor at ``offset``; None when the
        document changed elsewhere or the cursor is before the point. It may span lines: Enter, with the
        editor's indentation, along a suggestion that goes on on the next line. The texts around are compared
        as they are (a 110 KB prefix: ~2 µs; a digest of it cost ~130 µs, twice per keystroke)."""
        start = len(self.before) + len(self.line_prefix)
        if offset < start or len(text) - offset != len(self.suffix):
            return None
        if not (
            text.startswith(self.line_prefix, len(self.before))
            and text.startswith(self.before)
            and text.endswith(self.suffix)
        ):
            return None
        return text[start:offset]

    def still_typed_through(self, text: str) -> bool:
        """After an edit: is ``text`` this anchor's document with only part of a suggestion typed in, or, while
        its generation runs, typed ahead of the text so far (it may still write what was typed)?"""
        typed = self.typed_in(text, len(text) - len(self.suffix))
        return typed is not None and any(t.startswith(typed) or self.typed_ahead(typed, t) for t in self.texts)

    def typed_ahead(self, typed: str, text: str) -> bool:
        """Something was typed while this keystroke's generation has written nothing (``text``) yet."""
        return not self.done and self.guess is None and text == "" and typed != ""


def make_anchor(
    uri: str, text: str, offset: int, texts: list[str], done: bool = True, context_class: str = ""
) -> Anchor:
    cut = text.rfind("\n", 0, offset) + 1
    return Anchor(uri, text[:cut], text[cut:offset], text[offset:], texts, done, context_class)


def typed_through(anchor: Anchor, text: str, offset: int) -> tuple[str, list[str]] | None:
    """What was typed since the anchor, and the suggestions' remainders, if the user only typed (or deleted)
    along a suggestion.

    ``None`` when the document elsewhere changed, the cursor moved before the anchor point, or the typed
    text departs from every suggestion. An empty list: a suggestion was typed in full, nothing of it is
    left. For a running generation, ``texts`` holds its text so far.
    """
    typed = anchor.typed_in(text, offset)
    if typed is None:
        return None
    rest = [t[len(typed) :] for t in anchor.texts if t.startswith(typed)]
    if not rest:
        return None
    return typed, [r for r in rest if r]


class AnchorStore:
    """The last few anchors per document, newest first."""

    def __init__(self, per_document: int = 8) -> None:
        self.per_document = per_document
        self._by_uri: dict[str, list[Anchor]] = {}

    def add(self, anchor: Anchor) -> None:
        items = self._by_uri.setdefault(anchor.uri, [])
        items.insert(0, anchor)
        del items[self.per_document :]

    def find(self, uri: str, text: str, offset: int, guesses: bool = True) -> tuple[Anchor, str, list[str]] | None:
        """The newest anchor the user typed along: it, what was typed since, and the suggestions' rest.
        ``guesses`` False: not a speculation's (it was planned for a keystroke, not for an explicit request)."""
        for anchor in self._by_uri.get(uri, []):
            if anchor.guess is not None and not guesses:
                continue
            found = typed_through(anchor, text, offset)
            if found is not None:
                return anchor, found[0], found[1]
        return None

    def find_ahead(self, uri: str, text: str, offset: int) -> tuple[Anchor, str] | None:
        """The newest running keystroke generation the user typed ahead of (``Anchor.typed_ahead``), and what was
        typed since its point; checked after ``find`` found nothing."""
        for anchor in self._by_uri.get(uri, []):
            if anchor.done or anchor.guess is not None:
                continue
            if anchor.request is not None and anchor.request.cancel.is_set():
                continue  # already stopped: it will write nothing more
            typed = anchor.typed_in(text, offset)
            if typed is not None and any(anchor.typed_ahead(typed, t) for t in anchor.texts):
                return anchor, typed
        return None

    def drop(self, uri: str) -> None:
        self._by_uri.pop(uri, None)
