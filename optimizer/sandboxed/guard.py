"""The audit hook: friendly, early errors for code that tries to leave the sandbox.

PEP 578 hooks are not a security boundary (code in the same interpreter can get around them); the
boundary is the OS (bubblewrap's namespaces, seccomp). The hook only turns the common cases into clear
reasons ("os.fork is not allowed") instead of an EPERM or EROFS deep inside a library.
"""

from __future__ import annotations

import os
import sys

_PROCESS = ("socket.", "subprocess.", "os.fork", "os.exec", "os.posix_spawn", "os.system", "pty.", "os.kill")
_WRITES = (
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.utime",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
)


def install(home: str) -> None:
    home = os.path.realpath(home)

    def inside(path: object) -> bool:
        try:
            real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
        except Exception:
            return False
        return real == home or real.startswith(home + os.sep) or real == os.devnull

    def hook(event: str, args: tuple) -> None:
        if event.startswith(_PROCESS):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1] or "r", args[2] or 0
            writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if writing and not inside(args[0]):
                raise PermissionError(f"sandbox: writing {args[0]!r} outside the sandbox is not allowed")
        elif event in _WRITES and args and not inside(args[0]):
            raise PermissionError(f"sandbox: {event} on {args[0]!r} is not allowed")

    sys.addaudithook(hook)
