"""Run user code only in a subprocess with time, memory, file-size and network limits.

The child is a fresh ``python -I`` in a temporary working directory with a fixed hash seed; an audit
hook refuses sockets and subprocesses; rlimits bound address space, CPU time and written file size;
the whole process group is killed at the wall-clock limit. The parent never imports user code.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Runs in the child: installs the guards, then executes the job's code with the job's payload.
_BOOTSTRAP = r"""
import os, pickle, sys
_HOME = os.path.realpath(os.getcwd())
_WRITES = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod", "os.chown",
           "os.link", "os.symlink", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile")
def _inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path))
        return real == _HOME or real.startswith(_HOME + os.sep) or real == os.devnull
    except Exception:
        return False
def _guard(event, args):
    if event.startswith(("socket.", "subprocess.", "os.fork", "os.exec", "os.posix_spawn", "os.system",
                         "pty.", "os.kill")):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1] or "r", args[2] or 0
        writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and not _inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]!r} outside the sandbox is not allowed")
    elif event in _WRITES and args and not _inside(args[0]):
        raise PermissionError(f"sandbox: {event} on {args[0]!r} is not allowed")
with open(sys.argv[1], "rb") as f:
    job = pickle.load(f)
_OUT = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
sys.addaudithook(_guard)
sys.dont_write_bytecode = True  # -I ignores PYTHONDONTWRITEBYTECODE: no __pycache__ in the user's tree
if job["workspace"]:
    sys.path.insert(0, job["workspace"])  # the user's modules import as they do in their project
scope = {"__name__": "__sandbox__", "PAYLOAD": job["payload"]}
exec(compile(job["driver"], "<sandbox-driver>", "exec"), scope)
data = pickle.dumps(scope.get("RESULT"))  # written through a descriptor opened before the guard
while data:
    data = data[os.write(_OUT, data):]
os.close(_OUT)
"""


# What running out of address space looks like on stderr: Python's error, or a library that could not map.
_OUT_OF_MEMORY = ("MemoryError", "Cannot allocate memory", "failed to map segment", "std::bad_alloc")


@dataclass(frozen=True)
class Limits:
    seconds: float = 20.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20  # 0: no limit (scalene's sampling files need room)
    cpu_limit: bool = True  # RLIMIT_CPU as well as the wall clock (scalene's own signals clash with it)
    cancel: threading.Event | None = field(default=None, compare=False)  # set: stop the run now


@dataclass
class SandboxResult:
    ok: bool
    reason: str  # "", "timeout", "memory", "crashed: <signal>", "exit <code>", "error: <text>"
    value: Any = None
    stderr: str = ""
    returncode: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _limit(limits: Limits) -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if limits.cpu_limit:
        cpu = int(limits.seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if limits.file_bytes:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(
    driver: str,
    payload: Any,
    limits: Limits | None = None,
    python: str | None = None,
    runner: list[str] | None = None,
    collect: tuple[str, ...] = (),
    workspace: str | None = None,
) -> SandboxResult:
    """Execute ``driver`` (Python source that reads ``PAYLOAD`` and sets ``RESULT``) in the sandbox.

    ``runner``: run the bootstrap as a script under ``python -I <runner...> boot.py --- job out`` (a
    profiler); ``{work}`` in it is the child's working directory. ``collect``: files the child writes in
    its working directory, returned as bytes in ``extra``. ``workspace``: put first on ``sys.path``."""
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="slipstream-sandbox-") as tmp:
        job, out = Path(tmp) / "job.pkl", Path(tmp) / "out.pkl"
        work = Path(tmp) / "work"
        work.mkdir()
        try:
            job.write_bytes(pickle.dumps({"driver": driver, "payload": payload, "workspace": workspace}))
        except Exception as exc:
            return SandboxResult(False, f"error: inputs cannot be sent to the sandbox ({exc})")
        env = {
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": "/usr/bin:/bin",
            "HOME": str(work),
            "TMPDIR": str(work),  # temp files (pytest's tmp_path too) stay inside the sandbox
            "LANG": "C.UTF-8",
        }
        cmd = [python or sys.executable, "-I", "-c", _BOOTSTRAP, str(job), str(out)]
        if runner is not None:
            boot = Path(tmp) / "boot.py"
            boot.write_text(_BOOTSTRAP)
            args = [a.replace("{work}", str(work)) for a in runner]
            cmd = [python or sys.executable, "-I", *args, str(boot), "---", str(job), str(out)]
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killed whole
            preexec_fn=lambda: _limit(limits),
        )
        try:
            err = _wait(proc, limits)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return SandboxResult(False, f"timeout: still running after {limits.seconds:g} s", returncode=None)
        except _Cancelled:
            _kill_group(proc)
            return SandboxResult(False, "cancelled", returncode=None)
        finally:
            _kill_group(proc)  # anything it left behind in its group
        stderr = err.decode("utf-8", "replace")[-4000:]
        extra = {name: (work / name).read_bytes() for name in collect if (work / name).is_file()}
        if proc.returncode != 0:
            if proc.returncode < 0:
                sig = signal.Signals(-proc.returncode).name
                reason = "timeout: CPU limit" if sig == "SIGXCPU" else f"crashed: {sig}"
                return SandboxResult(False, reason, stderr=stderr, returncode=proc.returncode)
            if any(sign in stderr for sign in _OUT_OF_MEMORY):
                return SandboxResult(False, "memory: over the limit", stderr=stderr, returncode=proc.returncode)
            return SandboxResult(False, f"exit {proc.returncode}", stderr=stderr, returncode=proc.returncode)
        if not out.exists() or out.stat().st_size == 0:
            return SandboxResult(
                False, "exit 0 without a result (the code ended the process)", stderr=stderr, returncode=0
            )
        try:
            value = pickle.loads(out.read_bytes())
        except Exception as exc:
            return SandboxResult(False, f"error: unreadable result ({exc})", stderr=stderr, returncode=0)
        return SandboxResult(True, "", value, stderr, 0, extra)


class _Cancelled(Exception):
    pass


def _wait(proc: subprocess.Popen, limits: Limits) -> bytes:
    """The child's stderr once it exits; TimeoutExpired at the wall-clock limit, _Cancelled when asked."""
    if limits.cancel is None:
        return proc.communicate(timeout=limits.seconds)[1]
    deadline = time.monotonic() + limits.seconds
    while True:
        try:
            return proc.communicate(timeout=max(0.0, min(0.2, deadline - time.monotonic())))[1]
        except subprocess.TimeoutExpired:
            if limits.cancel.is_set():
                raise _Cancelled from None
            if time.monotonic() >= deadline:
                raise


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
