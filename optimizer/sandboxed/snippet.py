"""Driver: execute a piece of code with ``PAYLOAD`` bound and report its ``RESULT`` (JSON data only).

For the sandbox's own tests: it runs whatever it is given, as hostile code would.
"""

from __future__ import annotations

from typing import Any


def main(p: dict[str, Any]) -> dict[str, Any]:
    scope: dict[str, Any] = {"__name__": "__sandbox__", "PAYLOAD": p.get("payload")}
    exec(compile(p["code"], "<snippet>", "exec"), scope)
    return {"value": scope.get("RESULT")}
