"""Project context from jedi: what the code around the cursor refers to, as comment lines for the prompt.

The signature (and first docstring line) of the call being typed, and the members of the object before
a dot. jedi takes 0.5-1.6 s on a cold file here, so the server computes this in the background per
cursor line and uses it only once it is ready (off by default: see bench/fim_eval.py --context).
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

_ATTRIBUTE = re.compile(r"([A-Za-z_][\w.]*)\.(\w*)$")


def _first_line(doc: str) -> str:
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()[:100]
    return ""


def project_context(text: str, path: str | None, line: int, column: int, max_chars: int = 800) -> str:
    """Comment lines describing the names at the cursor (0-based line and column); "" if none or on error."""
    try:
        import jedi

        script = jedi.Script(code=text, path=path)
        out: list[str] = []
        for sig in script.get_signatures(line + 1, column)[:2]:
            doc = _first_line(sig.docstring(raw=True))
            out.append(f"# {sig.to_string()}" + (f"  -- {doc}" if doc else ""))
        line_text = text.split("\n")[line] if line < text.count("\n") + 1 else ""
        m = _ATTRIBUTE.search(line_text[:column])
        if m:
            names = [c.name for c in script.complete(line + 1, column - len(m.group(2)))]
            public = [n for n in names if not n.startswith("_")][:24]
            if public:
                out.append(f"# {m.group(1)} has: {', '.join(public)}")
        block = "\n".join(out)
        return block[:max_chars]
    except Exception:  # jedi on broken code: no context rather than no completion
        log.debug("project context failed", exc_info=True)
        return ""


class ProjectContext:
    """The jedi context per cursor line, computed on its own thread and used only once ready (the
    completion never waits for it); the last 64 lines are kept."""

    def __init__(self, keep: int = 64) -> None:
        self._done: dict[tuple[str, int], str] = {}
        self._pending: set[tuple[str, int]] = set()
        self._keep = keep
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slipstream-jedi")

    def get(self, uri: str, text: str, offset: int, row: int) -> str:
        """The context for this cursor line if it is ready; else start computing it and return ""."""
        key = (uri, row)
        if key in self._done:
            return self._done[key]
        if key not in self._pending:
            self._pending.add(key)
            path = uri[7:] if uri.startswith("file://") else None
            column = offset - (text.rfind("\n", 0, offset) + 1)

            def done(f: Any) -> None:
                self._pending.discard(key)
                if not f.cancelled() and f.exception() is None:
                    self._done[key] = f.result()
                    while len(self._done) > self._keep:
                        self._done.pop(next(iter(self._done)))

            self._pool.submit(project_context, text, path, row, column).add_done_callback(done)
        return ""

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
