"""Entry point of every sandboxed process: ``python -I boot.py JOB`` (or after ``---`` under scalene).

JOB is a pickle the trusted parent wrote (a child may read its parent's pickles; the reverse never
happens): ``{"driver", "payload", "workspace", "seccomp": {"processes", "threads"}, "persistent"}``.
Before any user code runs, the process keeps its protocol channel (a duplicate of stdout, and of stdin
for a persistent driver; the originals go to /dev/null so prints cannot corrupt it), installs seccomp
(see seccomp.py) and the audit hook. A one-shot driver's ``main(payload)`` returns a JSON-able dict,
written after ``RESULT_MARK`` on the channel with what the work directory holds; a persistent driver's
``serve(payload, channel)`` answers requests line by line.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pickle
import stat
import sys

PACKAGE = "_slipstream_sandboxed"
RESULT_MARK = b"\n\x1eslipstream-result\x1e"


def listing(root: str, limit: int = 1000) -> dict[str, str]:
    """What the work directory holds: relative path -> kind and size (links not followed)."""
    found: dict[str, str] = {}
    for top, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "special"
            found[os.path.relpath(path, root)] = f"{kind} {st.st_size if kind == 'file' else ''}".strip()
            if len(found) >= limit:
                return found
    return found


def _load_package() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        PACKAGE, os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)


class Channel:
    """Newline-delimited JSON on a private descriptor pair (the parent's pipes)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._in = os.fdopen(read_fd, "rb", buffering=0)
        self._write_fd = write_fd
        self._buf = b""

    def receive(self) -> dict | None:
        while b"\n" not in self._buf:
            chunk = self._in.read(1 << 16)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, message: dict) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        while data:
            data = data[os.write(self._write_fd, data) :]


def main() -> None:
    args = sys.argv[1:]
    if "---" in args:
        args = args[args.index("---") + 1 :]
    with open(args[0], "rb") as f:
        job = pickle.load(f)
    _load_package()
    guard = importlib.import_module(f"{PACKAGE}.guard")
    driver = importlib.import_module(f"{PACKAGE}.{job['driver']}")
    # The protocol keeps the real stdin/stdout; the user's code gets /dev/null for both.
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    channel = Channel(proto_in, proto_out)
    mode = job["seccomp"]
    importlib.import_module(f"{PACKAGE}.seccomp").install(processes=mode["processes"], threads=mode["threads"])
    work = os.getcwd()
    guard.install(work)
    sys.dont_write_bytecode = True  # -I ignores PYTHONDONTWRITEBYTECODE: no __pycache__ in the user's tree
    if job.get("workspace"):
        sys.path.insert(0, job["workspace"])  # the user's modules import as they do in their project
    if job.get("persistent"):
        driver.serve(job["payload"], channel)
        return
    result = driver.main(job["payload"])
    result["_files"] = listing(work)
    data = RESULT_MARK + json.dumps(result, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    while data:
        data = data[os.write(proto_out, data) :]


if __name__ == "__main__":
    main()
