"""A tolerant lexical scan of Python source: strings, comments and open brackets at the end of a text.

``tokenize`` stops at the first error and changed its error behaviour in Python 3.12; code being typed
is broken most of the time, so this small scanner never fails and reports the state it ends in.
"""

from __future__ import annotations

from dataclasses import dataclass

_PREFIX_CHARS = set("rRbBuUfFtT")
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class ScanState:
    brackets: tuple[str, ...]  # open brackets, innermost last
    quote: str  # the open string's quote ('', "'", '"', "'''" or '\"\"\"')
    string_start: int  # offset of the open string's first quote (-1 if none)
    in_comment: bool
    comment_start: int = -1  # offset of the open comment's '#'

    @property
    def in_string(self) -> bool:
        return bool(self.quote)


def scan(text: str) -> ScanState:
    brackets: list[str] = []
    quote = ""
    start = -1
    i, n = 0, len(text)
    in_comment = False
    comment_at = -1
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote, start = "", -1
                continue
            if c == "\n" and len(quote) == 1:
                quote, start = "", -1  # an unterminated one-line string ends at the line break
            i += 1
            continue
        if in_comment:
            if c == "\n":
                in_comment = False
                comment_at = -1
            i += 1
            continue
        if c == "#":
            in_comment = True
            comment_at = i
        elif c in "'\"":
            triple = text[i : i + 3]
            quote = triple if triple in ("'''", '"""') else c
            start = i
            # Walk back over a string prefix (f, rb, ...) so the start is the literal's start.
            j = i
            while j > 0 and text[j - 1] in _PREFIX_CHARS and i - j < 2:
                j -= 1
            if j < i and (j == 0 or not (text[j - 1].isalnum() or text[j - 1] == "_")):
                start = j
            i += len(quote)
            continue
        elif c in OPENERS:
            brackets.append(c)
        elif c in CLOSERS:
            if brackets and brackets[-1] == CLOSERS[c]:
                brackets.pop()
        i += 1
    return ScanState(tuple(brackets), quote, start, in_comment, comment_at)
