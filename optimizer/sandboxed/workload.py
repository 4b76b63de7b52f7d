"""Run the user's workload (pytest node ids or paths, a script, or ``-m module``) in this process."""

from __future__ import annotations

import contextlib
import hashlib
import io
import runpy
from typing import Any


def run_workload(p: dict[str, Any]) -> tuple[int, str]:
    """(exit status, digest of what a script or module printed)."""
    status, out = 0, io.StringIO()
    try:
        kind, what = p["kind"], p["target"]
        if kind == "pytest":
            import pytest

            status = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", p["workspace"], what, *p["more"]])
        else:
            with contextlib.redirect_stdout(out):
                if kind == "script":
                    runpy.run_path(what, run_name="__main__")
                else:
                    runpy.run_module(what, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return int(status), hashlib.sha256(out.getvalue().encode("utf-8", "replace")).hexdigest()
