"""Entry point of every sandboxed process: ``python -I boot.py JOB`` (or after ``---`` under scalene).

JOB is a pickle the trusted parent wrote (a child may read its parent's pickles; the reverse never
happens): ``{"driver", "payload", "workspace", "result", "seccomp", "persistent"}``. Before any user code
runs, the process keeps its protocol channel (a duplicate of stdout; stdout itself goes to /dev/null so
prints cannot corrupt it), installs seccomp (no new processes, no exec, no inet sockets, no ptrace) and
the audit hook. A one-shot driver's ``main(payload)`` returns a JSON-able dict written to the result
file; a persistent driver's ``serve(payload, channel)`` answers requests line by line.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pickle
import sys

PACKAGE = "_slipstream_sandboxed"


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
    channel = None
    if job.get("persistent"):
        # The protocol keeps the real stdin/stdout; the user's code gets /dev/null for both.
        proto_in, proto_out = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        channel = Channel(proto_in, proto_out)
    result_fd = None
    if job.get("result"):
        result_fd = os.open(job["result"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if job.get("seccomp"):
        from importlib import import_module

        import_module(f"{PACKAGE}.seccomp").install(deny_processes=job["seccomp"] == "strict")
    guard.install(os.getcwd())
    sys.dont_write_bytecode = True  # -I ignores PYTHONDONTWRITEBYTECODE: no __pycache__ in the user's tree
    if job.get("workspace"):
        sys.path.insert(0, job["workspace"])  # the user's modules import as they do in their project
    if channel is not None:
        driver.serve(job["payload"], channel)
        return
    result = driver.main(job["payload"])
    data = json.dumps(result, separators=(",", ":"), allow_nan=False).encode()
    assert result_fd is not None
    while data:
        data = data[os.write(result_fd, data) :]
    os.close(result_fd)


if __name__ == "__main__":
    main()
