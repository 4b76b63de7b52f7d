"""Project context from jedi: what the code around the cursor refers to, as comment lines for the prompt.

The signature (and first docstring line) of the call being typed, and the members of the object before
a dot. jedi takes 0.5-1.6 s on a cold file here, so the server computes this in the background per
cursor line and uses it only once it is ready (off by default: see bench/fim_eval.py --context).
"""

from __future__ import annotations

import logging
import re

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
