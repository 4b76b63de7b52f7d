"""Where the cursor is, from the text around it; tolerant of broken code because it only reads lines."""

from __future__ import annotations

from dataclasses import dataclass

BLOCK_OPENERS = (
    "def",
    "async",
    "class",
    "if",
    "elif",
    "else",
    "for",
    "while",
    "with",
    "try",
    "except",
    "finally",
    "match",
    "case",
)


@dataclass(frozen=True)
class CursorContext:
    line_prefix: str  # text of the cursor line before the cursor
    line_suffix: str  # text of the cursor line after the cursor
    next_lines: tuple[str, ...]  # a few lines after the cursor line
    previous_line: str  # the nearest non-blank line above the cursor line
    indent: str  # indentation the completion's new lines must stay within

    @property
    def mid_line(self) -> bool:
        """Typing inside a line: finish it (acceleration)."""
        return bool(self.line_prefix.strip())

    @property
    def after_block_opener(self) -> bool:
        return not self.mid_line and self.previous_line.rstrip().endswith(":")


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def analyze(prefix: str, suffix: str, n_next: int = 8) -> CursorContext:
    cut = prefix.rfind("\n") + 1
    line_prefix = prefix[cut:]
    nl = suffix.find("\n")
    line_suffix = suffix if nl < 0 else suffix[:nl]
    rest = "" if nl < 0 else suffix[nl + 1 :]
    next_lines = tuple(rest.split("\n", n_next)[:n_next]) if rest else ()
    previous = ""
    for line in reversed(prefix[:cut].split("\n")):
        if line.strip():
            previous = line
            break
    if line_prefix.strip():
        indent = leading_ws(line_prefix)
    elif previous.rstrip().endswith(":"):
        indent = leading_ws(previous) + (line_prefix if len(line_prefix) > len(leading_ws(previous)) else "    ")
    else:
        indent = line_prefix
    return CursorContext(line_prefix, line_suffix, next_lines, previous, indent)
