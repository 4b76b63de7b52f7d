"""Where the cursor is, from the text around it.

Tolerant of broken code (code being typed is broken most of the time): it reads lines, indentation
and a lexical scan (heuristics/scan.py), never a full parse.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from slipstream.heuristics.scan import ScanState, scan

COMPOUND = ("if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class", "match", "case")
CONTEXT_CLASSES = (
    "mid_line",
    "end_of_statement",
    "after_block_opener",
    "if_body",
    "block_body",
    "class_body",
    "module",
    "docstring",
    "string",
    "comment",
    "decorator",
)
SCAN_WINDOW_LINES = 400
_WORD = re.compile(r"[A-Za-z_]+")
_SIMPLE_STATEMENTS = {"pass", "break", "continue", "return", "raise", "yield"}


@dataclass(frozen=True)
class Header:
    """An enclosing compound statement: its keyword (``async`` dropped) and indentation column."""

    keyword: str
    column: int
    line: str


@dataclass(frozen=True)
class Above:
    """What ``analyze`` reads from the text above the cursor line alone. It is the same at every keystroke on a
    line, so a caller keeps it between keystrokes (``analyze(..., kept=)``) and a keystroke scans its line
    only, not the block around it: in bench/latency.py's 113 KB file (a cursor 400 lines into a class) that
    scan and the walk up to the headers cost ~0.3 of analyze's ~0.35 ms per keystroke; 1 KB file: 0.03 ms."""

    text: str  # the text above the cursor line (empty, or ending in a line break)
    lines: tuple[str, ...]  # its last SCAN_WINDOW_LINES lines
    previous: str  # the nearest non-blank one
    window: str  # the scan's start (a likely top-level statement) to the end of ``text``
    state: ScanState  # the lexical state at the end of ``window``
    newlines: int  # how many \n ``text`` holds (the cursor line's index, for the prompt window)
    _headers: dict[int, tuple[Header, ...]] = field(default_factory=dict, compare=False, repr=False)

    def fits(self, prefix: str, cut: int) -> bool:
        """Is this the text above the line that starts at ``cut`` of ``prefix``? (~2 µs for 110 KB)"""
        return len(self.text) == cut and prefix.startswith(self.text)

    def headers(self, column: int) -> tuple[Header, ...]:
        """``enclosing_headers`` of these lines at ``column``, computed once per column."""
        found = self._headers.get(column)
        if found is None:
            found = self._headers[column] = enclosing_headers(self.lines, column)
        return found


def above(text: str) -> Above:
    """The ``Above`` of the text above a cursor line (``text``: empty, or ending in a line break)."""
    # Only the last lines: splitting a 100 KB prefix whole cost ~0.1 ms per keystroke for nothing.
    lines = tuple(text.rsplit("\n", SCAN_WINDOW_LINES + 1)[:-1][-SCAN_WINDOW_LINES:])
    previous = next((ln for ln in reversed(lines) if ln.strip()), "")
    # The lexical state is scanned from a likely top-level statement start.
    start = 0
    for i in range(len(lines) - 1, -1, -1):
        ln = lines[i]
        if ln[:1].isalpha() or ln[:1] == "@":
            start = i
            break
    window = "\n".join(lines[start:]) + ("\n" if lines[start:] else "")
    return Above(text, lines, previous, window, scan(window), text.count("\n"))


@dataclass(frozen=True)
class CursorContext:
    line_prefix: str  # text of the cursor line before the cursor
    line_suffix: str  # text of the cursor line after the cursor
    next_lines: tuple[str, ...]  # a few lines after the cursor line
    previous_line: str  # the nearest non-blank line above the cursor line
    indent: str  # indentation the completion's new lines must not dedent below (the floor)
    kind: str  # one of CONTEXT_CLASSES
    headers: tuple[Header, ...] = ()  # enclosing blocks, innermost first
    bracket_depth: int = 0
    in_string: bool = False
    in_docstring: bool = False
    in_comment: bool = False
    string_quote: str = ""
    after_comment: bool = False  # the line above is a comment (a "wish" for the code below it)
    after_docstring: bool = False  # the line above closes a def's or class's docstring: a body is wanted
    above: Above | None = field(default=None, compare=False, repr=False)  # keep it for the next keystroke

    @property
    def mid_line(self) -> bool:
        return bool(self.line_prefix.strip())

    @property
    def after_block_opener(self) -> bool:
        return not self.mid_line and _is_header(self.previous_line)

    @property
    def block(self) -> str | None:
        return self.headers[0].keyword if self.headers else None

    @property
    def in_if_body(self) -> bool:
        return self.block in ("if", "elif")

    @property
    def in_try_body(self) -> bool:
        return self.block == "try"


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def width(ws: str) -> int:
    return len(ws.expandtabs(4))


def _strip_comment(line: str) -> str:
    if "#" not in line:
        return line.rstrip()
    st = scan(line)
    return (line[: st.comment_start] if st.in_comment else line).rstrip()


def keyword(line: str) -> str:
    words = _WORD.findall(line.strip()[:40])
    if not words:
        return ""
    if words[0] == "async" and len(words) > 1:
        return words[1]
    return words[0]


def _is_header(line: str) -> bool:
    """A line that opens a block; also the last line of a multi-line header (``      b):``)."""
    s = _strip_comment(line).strip()
    if not s.endswith(":") or s.startswith("#"):
        return False
    if keyword(s) in COMPOUND:
        return True
    closes_more = sum(s.count(c) for c in ")]}") > sum(s.count(c) for c in "([{")
    return closes_more and s[:-1].rstrip().endswith((")", "]"))


def enclosing_headers(lines_before: Sequence[str], column: int) -> tuple[Header, ...]:
    """Walk up from the cursor: each less-indented line that opens a block encloses the cursor."""
    out: list[Header] = []
    col = column
    for line in reversed(lines_before):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        c = width(leading_ws(line))
        if c >= col:
            continue
        kw = keyword(s)
        if kw in COMPOUND:
            out.append(Header(kw, c, line))
            col = c
        else:
            col = c  # a less-indented plain statement: the blocks above it do not enclose the cursor
        if col == 0:
            break
    return tuple(out)


def statement_complete(line_prefix: str, line_suffix: str, depth: int) -> bool:
    """The cursor ends a statement that could stand as it is (``return x``), not a word being typed."""
    s = line_prefix.strip()
    if depth or line_suffix.strip() or not s or s.endswith((":", ",", "\\", ".", "=", "(", "[", "{")):
        return False
    if (s[-1].isalnum() or s[-1] == "_") and s not in _SIMPLE_STATEMENTS:
        return False
    try:
        ast.parse(s)
    except SyntaxError:
        return False
    return True


def analyze(prefix: str, suffix: str, n_next: int = 8, kept: Above | None = None) -> CursorContext:
    """The cursor's context. ``kept``: the ``above`` of an earlier context (the previous keystroke's), used
    when it is still the text above the cursor line; the result carries the one it used."""
    cut = prefix.rfind("\n") + 1
    line_prefix = prefix[cut:]
    nl = suffix.find("\n")
    line_suffix = suffix if nl < 0 else suffix[:nl]
    rest = "" if nl < 0 else suffix[nl + 1 :]
    next_lines = tuple(rest.split("\n", n_next)[:n_next]) if rest else ()
    top = kept if kept is not None and kept.fits(prefix, cut) else above(prefix[:cut])
    previous = top.previous

    # Lexical state at the cursor: the cursor line's text scanned on from the state above it.
    state = scan(line_prefix, top.state, len(top.window))
    in_docstring = False
    if state.in_string and len(state.quote) == 3:
        window = top.window + line_prefix
        before = window[: state.string_start]
        line_start = before.rfind("\n") + 1
        if not before[line_start:].strip():
            above_lines = [ln for ln in before[:line_start].split("\n") if ln.strip()]
            in_docstring = not above_lines or _is_header(above_lines[-1])

    # The floor: new lines may not dedent below the cursor's block.
    if line_prefix.strip():
        indent = leading_ws(line_prefix)
    elif _is_header(previous):
        base = leading_ws(previous)
        indent = line_prefix if width(line_prefix) > width(base) else base + ("\t" if base.startswith("\t") else "    ")
    else:
        indent = line_prefix
    headers = top.headers(width(indent))

    depth = len(state.brackets)
    after_comment = previous.strip().startswith("#") and not line_prefix.strip()
    after_docstring = (
        not line_prefix.strip()
        and previous.strip().endswith(('"""', "'''"))
        and bool(headers)
        and headers[0].keyword in ("def", "class")
        and not state.in_string
    )
    if state.in_comment:
        kind = "comment"
    elif in_docstring:
        kind = "docstring"
    elif state.in_string:
        kind = "string"
    elif line_prefix.strip().startswith("@"):
        kind = "decorator"
    elif line_prefix.strip():
        kind = "end_of_statement" if statement_complete(line_prefix, line_suffix, depth) else "mid_line"
    elif depth:
        kind = "mid_line"  # an empty continuation line inside open brackets: the expression goes on
    elif _is_header(previous):
        kind = "after_block_opener"
    elif headers and headers[0].keyword in ("if", "elif"):
        kind = "if_body"
    elif headers and headers[0].keyword == "class":
        kind = "class_body"
    elif headers:
        kind = "block_body"
    else:
        kind = "module"
    return CursorContext(
        line_prefix,
        line_suffix,
        next_lines,
        previous,
        indent,
        kind,
        headers,
        depth,
        state.in_string,
        in_docstring,
        state.in_comment,
        state.quote,
        after_comment,
        after_docstring,
        top,
    )
