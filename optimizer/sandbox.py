"""Run code in a sandboxed child process; read back only bounded, schema-checked JSON.

Every child is ``python -I optimizer/sandboxed/boot.py JOB`` in a fresh temporary directory, with a fixed
hash seed, a minimal environment (numeric libraries at one thread) and rlimits (address space, CPU time,
written file size, 256 descriptors, no core dumps). Where bubblewrap works (Linux with user namespaces)
the child also runs in its own user, mount, PID, IPC, UTS and network namespaces: no network at all (not
even loopback to the host's listeners); a read-only view of only ``/usr``, ``/etc``, the Python
installation, the harness and the workspace (``$HOME``, ``/run`` and everything else are not there);
writable only its work directory (a size-capped tmpfs) and a small ``/tmp`` of its own; ``/dev``
read-only. The sandboxed python is PID 1 of its namespace and is killed by pidfd when the run ends, which
ends everything inside; bubblewrap dies with this process. In the child, before any user code, seccomp
refuses new processes, exec, sockets, shared memory, ptrace and more (``optimizer/sandboxed/seccomp.py``);
code a model wrote gets no threads.

Nothing a child writes is ever unpickled here: a one-shot child's result is JSON on a pipe after a
marker, read in linear time with a cap; a persistent child answers JSON lines. ``isolation()`` says
whether the OS part is available; without it, the optimizer still runs the user's own code (rule
variants, the workload) under rlimits and seccomp, but no model-written code (see optimizer/pipeline.py).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import platform
import select
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).resolve().parent / "sandboxed"
BOOT = HARNESS / "boot.py"
RESULT_MARK = b"\n\x1eslipstream-result\x1e"  # = optimizer/sandboxed/boot.py's: the result follows it
MAX_RESULT_BYTES = 64 << 20  # a result file or reply line past this is refused
MAX_STDERR = 8000  # the tail of the child's stderr kept for reasons

# What running out of address space looks like on stderr: Python's error, or a library that could not map.
_OUT_OF_MEMORY = ("MemoryError", "Cannot allocate memory", "failed to map segment", "std::bad_alloc")


@dataclass(frozen=True)
class Limits:
    seconds: float = 20.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20  # 0: no limit (scalene's sampling files need room)
    cpu_limit: bool = True  # RLIMIT_CPU as well as the wall clock (scalene's own signals clash with it)
    cancel: threading.Event | None = field(default=None, compare=False)  # set: stop the run now
    threads: bool = False  # may start threads: the user's own code; never code a model wrote
    cpu: int | None = None  # run on this CPU alone (optimizer/measure.py: both sides of a timing on one CPU)


@dataclass
class SandboxResult:
    ok: bool
    reason: str  # "", "timeout", "memory", "crashed: <signal>", "exit <code>", "error: <text>"
    value: Any = None  # the driver's JSON result
    stderr: str = ""
    returncode: int | None = None
    extra: dict[str, bytes] = field(default_factory=dict)  # collected regular files of the work directory
    files: dict[str, str] = field(default_factory=dict)  # what the work directory held at the end: path -> kind


# -- isolation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Isolation:
    kind: str  # "bubblewrap" or "none"
    bwrap: str = ""
    reason: str = ""  # why there is none

    @property
    def available(self) -> bool:
        return self.kind == "bubblewrap"

    def describe(self) -> str:
        return f"bubblewrap ({self.bwrap})" if self.available else f"none: {self.reason}"


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Whether untrusted code can run under OS isolation here; probed once per process.

    ``SLIPSTREAM_ISOLATION=none`` turns it off (to see what users on other platforms get)."""
    if os.environ.get("SLIPSTREAM_ISOLATION", "").lower() == "none":
        return Isolation("none", reason="turned off by SLIPSTREAM_ISOLATION=none")
    if platform.system() != "Linux":
        return Isolation("none", reason=f"OS isolation needs Linux namespaces; this is {platform.system()}")
    bwrap = os.environ.get("SLIPSTREAM_BWRAP") or shutil.which("bwrap") or ""
    if not bwrap:
        return Isolation("none", reason="bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    with tempfile.TemporaryDirectory(prefix="slipstream-probe-") as tmp:
        for name in ("work", "out"):
            (Path(tmp) / name).mkdir()
        cmd = [*_bwrap_argv(bwrap, Path(tmp), None), "--", _python(), "-I", "-c", "pass"]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=20, env=_env(Path(tmp)))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Isolation("none", reason=f"bubblewrap did not start ({exc})")
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return Isolation("none", reason=f"bubblewrap cannot run here ({why[-1] if why else proc.returncode})")
    return Isolation("bubblewrap", bwrap)


def _python() -> str:
    # Not the resolved path: a venv's python is a link to the base interpreter, and only the link's own
    # path makes Python find the venv's pyvenv.cfg (and with it the venv's packages).
    return sys.executable


def _visible_paths(workspace: str | None) -> list[str]:
    """What the child must see, read-only, besides /usr and /etc: the interpreter, its libraries, the
    harness and the workspace. Paths inside another listed path are left out."""
    want = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(_python())), str(HARNESS)}
    want.update(p for p in sys.path if p)
    want.update(sysconfig.get_paths().values())
    if workspace:
        workspace = os.path.realpath(workspace)
        want.add(workspace)
    home = os.path.realpath(os.path.expanduser("~"))
    real = sorted({os.path.realpath(p) for p in want if p and os.path.isdir(p)})
    out: list[str] = []
    for p in real:
        if p in ("/", "/usr", "/etc") or p.startswith(("/usr/", "/etc/", "/proc/", "/dev/")):
            continue
        if p != workspace and (home == p or home.startswith(p + os.sep)):
            continue  # never the home directory itself, or a folder holding it
        if not any(p == q or p.startswith(q + os.sep) for q in out):
            out.append(p)
    return out


def _bwrap_argv(
    bwrap: str,
    tmp: Path,
    workspace: str | None,
    host_work: bool = False,
    info_fd: int | None = None,
    work_bytes: int = 64 << 20,
) -> list[str]:
    """bubblewrap's arguments. The sandboxed python is PID 1 of its namespace (``--as-pid-1``: no other
    process inside to inject into), this process kills it by its host PID (``--info-fd``), and the root
    is read-only but for the work directory: a size-capped tmpfs (``host_work``: the run's folder on the
    host instead, for a profiler's output the parent collects)."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL"]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    argv += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    # A small /tmp of its own: scalene's sampler writes there whatever TMPDIR says.
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(16 << 20), "--tmpfs", "/tmp"]
    argv += ["--remount-ro", "/dev"]  # --dev is a tmpfs of its own: device nodes work, files cannot pile up
    for p in _visible_paths(workspace):
        argv += ["--ro-bind", p, p]
    # The run's own directory last: it may lie under a path bound above.
    argv += ["--ro-bind", str(tmp), str(tmp)]
    work = str(tmp / "work")
    argv += ["--bind", work, work] if host_work else ["--size", str(work_bytes), "--tmpfs", work]
    argv += ["--remount-ro", "/", "--chdir", work]
    return argv


# The numeric libraries' thread pools, one thread each. Timing runs on one CPU (optimizer/measure.py), where
# OpenBLAS starts one thread; elsewhere it started one per CPU, and a reduction split over two threads ends in
# other bits (numpy's dot of 2M floats: ...6293 with two, ...6297 with one), so the original's timed calls
# disagreed with what verification saw and the function was refused. And code a model wrote may not start
# threads: OpenBLAS's pool failed at ``import numpy`` there, so every variant of a module using numpy crashed.
ONE_THREAD = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _env(work: Path) -> dict[str, str]:
    return {
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),  # temp files (pytest's tmp_path too) stay inside the sandbox
        "LANG": "C.UTF-8",
        **{name: "1" for name in ONE_THREAD},
    }


def _limit(limits: Limits) -> None:  # runs in the child before exec
    import ctypes
    import resource

    # If this process dies, bubblewrap dies with it, and takes the sandbox along (--die-with-parent).
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if limits.cpu_limit:
        cpu = int(limits.seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if limits.file_bytes:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))  # bounds what pipes and socket pairs can buffer
    if limits.cpu is not None:  # inherited by bubblewrap's children; the seccomp filter keeps it fixed
        os.sched_setaffinity(0, {limits.cpu})


# -- one run --------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    cmd: list[str]
    env: dict[str, str]
    work: Path
    isolated: bool
    info: tuple[int, int] | None  # the pipe bubblewrap writes its child's PID to (read end, write end)


@contextmanager
def _prepared(
    driver: str,
    payload: Any,
    workspace: str | None,
    limits: Limits,
    runner: list[str] | None = None,
    processes: bool = False,
    persistent: bool = False,
    host_work: bool = False,
) -> Iterator[_Prepared]:
    with tempfile.TemporaryDirectory(prefix="slipstream-sandbox-", ignore_cleanup_errors=True) as name:
        tmp = Path(name)
        work = tmp / "work"
        work.mkdir()
        job = {
            "driver": driver,
            "payload": payload,
            "workspace": workspace,
            "seccomp": {"processes": processes, "threads": limits.threads or processes},
            "persistent": persistent,
        }
        (tmp / "job.pkl").write_bytes(pickle.dumps(job))
        python = _python()
        cmd = [python, "-I", str(BOOT), str(tmp / "job.pkl")]
        if runner is not None:
            args = [a.replace("{work}", str(work)) for a in runner]
            cmd = [python, "-I", *args, str(BOOT), "---", str(tmp / "job.pkl")]
        iso = isolation()
        info = None
        if iso.available:
            info = os.pipe()
            size = max(64 << 20, 4 * limits.file_bytes)
            argv = _bwrap_argv(iso.bwrap, tmp, workspace, host_work or runner is not None, info[1], size)
            cmd = [*argv, "--", *cmd]
        prep = _Prepared(cmd, _env(work), work, iso.available, info)
        try:
            yield prep
        finally:
            for fd in prep.info or ():  # what is still open (the write end is closed once the child has it)
                if fd >= 0:
                    os.close(fd)


class StartError(Exception):
    """The child could not be started (its folder or limits could not be set up, or it could not be run)."""


def _enter(ctx: Any) -> _Prepared:
    """Set up a child's folder, job and pipe (``_prepared``'s context)."""
    try:
        return ctx.__enter__()
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise StartError(f"error: inputs cannot be sent to the sandbox ({exc})") from None
    except OSError as exc:  # no descriptors or disk space left for its folder and pipe
        raise StartError(f"error: the sandbox could not start ({exc})") from None


def _popen(prep: _Prepared, limits: Limits, stdin: bool) -> subprocess.Popen:
    if limits.cpu is not None and limits.cpu not in os.sched_getaffinity(0):  # the child could say only "preexec"
        raise StartError(f"error: the sandbox could not start (CPU {limits.cpu} is not available to this process)")
    try:
        proc = subprocess.Popen(
            prep.cmd,
            cwd=prep.work,
            env=prep.env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killed whole (and bwrap takes its namespace along)
            preexec_fn=lambda: _limit(limits),
            pass_fds=(prep.info[1],) if prep.info else (),
        )
    except (OSError, subprocess.SubprocessError) as exc:  # _limit raised (an rlimit refused), or exec failed
        raise StartError(f"error: the sandbox could not start ({exc})") from None
    if prep.info is not None:
        os.close(prep.info[1])
        prep.info = (prep.info[0], -1)
    return proc


class _Sandboxed:
    """The PID 1 of a run's namespace, by a pidfd: killing it ends every process in the namespace."""

    def __init__(self, prep: _Prepared) -> None:
        self.pidfd: int | None = None
        if prep.info is None:
            return
        fd = prep.info[0]
        ready, _, _ = select.select([fd], [], [], 10)
        data = os.read(fd, 4096) if ready else b""
        try:
            pid = int(json.loads(data.decode())["child-pid"])
            self.pidfd = os.pidfd_open(pid)
        except (ValueError, KeyError, TypeError, OSError):
            self.pidfd = None

    def kill(self) -> None:
        if self.pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass
        os.close(self.pidfd)
        self.pidfd = None


class _Capped:
    """Reads a child's stream on a thread, keeping at most ``cap`` bytes (the head, or the tail);
    ``over`` is set once a head-keeping reader sees more than ``cap``."""

    def __init__(self, stream: Any, cap: int, tail: bool) -> None:
        self.buf, self.over = bytearray(), threading.Event()
        self._cap, self._tail = cap, tail
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        while chunk := stream.read1(1 << 16):  # what is there, without waiting for a full chunk
            if self.over.is_set():
                continue  # drained, not kept
            self.buf += chunk
            if self._tail:
                del self.buf[: max(0, len(self.buf) - self._cap)]
            elif len(self.buf) > self._cap:
                self.over.set()
                self.buf.clear()

    def result(self) -> bytes:
        self._thread.join(timeout=5)
        return bytes(self.buf)


class _Cancelled(Exception):
    pass


class _TooLarge(Exception):
    pass


def _wait(proc: subprocess.Popen, limits: Limits, out: _Capped | None = None) -> None:
    """Until the child exits; TimeoutExpired at the wall-clock limit, _Cancelled when asked, _TooLarge
    as soon as its output passes the cap."""
    deadline = time.monotonic() + limits.seconds
    while True:
        try:
            proc.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            if limits.cancel is not None and limits.cancel.is_set():
                raise _Cancelled from None
            if out is not None and out.over.is_set():
                raise _TooLarge from None
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


def _failure(returncode: int, stderr: str, isolated: bool) -> str:
    sig = -returncode if returncode < 0 else (returncode - 128 if isolated and 128 < returncode < 160 else 0)
    if sig:
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        return "timeout: CPU limit" if name == "SIGXCPU" else f"crashed: {name}"
    if any(sign in stderr for sign in _OUT_OF_MEMORY):
        return "memory: over the limit"
    return f"exit {returncode}"


def read_regular(path: Path, cap: int = MAX_RESULT_BYTES) -> bytes | None:
    """A regular file's bytes, at most ``cap``; None for anything else (a link, a FIFO, a device, too big)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > cap:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(cap + 1)
        return data if len(data) <= cap else None
    finally:
        os.close(fd)


def run(
    driver: str,
    payload: Any,
    limits: Limits | None = None,
    runner: list[str] | None = None,
    collect: tuple[str, ...] = (),
    workspace: str | None = None,
    processes: bool = False,
) -> SandboxResult:
    """Run ``driver`` (a module of optimizer/sandboxed/) on ``payload`` in the sandbox; its JSON result.

    ``runner``: run the bootstrap under ``python -I <runner...> boot.py --- job`` (a profiler); ``{work}``
    in it is the child's working directory. ``collect``: regular files the child writes in its working
    directory, returned as bytes in ``extra`` (the work directory is then the host's, not a tmpfs).
    ``workspace``: visible read-only and first on ``sys.path``. ``processes``: allow the child to start
    processes (scalene re-executes itself); never for code a model wrote."""
    limits = limits or Limits()
    ctx = _prepared(driver, payload, workspace, limits, runner, processes, False, bool(collect))
    try:
        prep = _enter(ctx)
    except StartError as exc:
        return SandboxResult(False, str(exc))
    try:
        try:
            proc = _popen(prep, limits, stdin=False)
        except StartError as exc:
            return SandboxResult(False, str(exc))
        sandboxed = _Sandboxed(prep)
        out = _Capped(proc.stdout, MAX_RESULT_BYTES, tail=False)
        err = _Capped(proc.stderr, MAX_STDERR, tail=True)
        stopped = ""
        try:
            _wait(proc, limits, out)
        except subprocess.TimeoutExpired:
            stopped = f"timeout: still running after {limits.seconds:g} s"
        except _Cancelled:
            stopped = "cancelled"
        except _TooLarge:
            stopped = "error: the result is too large"
        finally:
            sandboxed.kill()  # the namespace's PID 1: everything inside it ends
            _kill_group(proc)
        stderr = _text(err)[-4000:]  # after the kill: its stderr is closed, the reader is done
        if stopped:
            return SandboxResult(False, stopped, stderr=stderr if stopped != "cancelled" else "")
        extra = {n: data for n in collect if (data := read_regular(prep.work / n)) is not None}
        if proc.returncode != 0:
            return SandboxResult(
                False, _failure(proc.returncode, stderr, prep.isolated), stderr=stderr, returncode=proc.returncode
            )
        raw = out.result()
        if out.over.is_set():
            return SandboxResult(False, "error: the result is too large", stderr=stderr, returncode=0)
        cut = raw.rfind(RESULT_MARK)
        if cut < 0:
            return SandboxResult(
                False, "exit 0 without a result (the code ended the process)", stderr=stderr, returncode=0
            )
        try:
            value = json.loads(raw[cut + len(RESULT_MARK) :].split(b"\n", 1)[0])
        except ValueError as exc:
            return SandboxResult(False, f"error: unreadable result ({exc})", stderr=stderr, returncode=0)
        if not isinstance(value, dict):
            return SandboxResult(False, "error: the result is not an object", stderr=stderr, returncode=0)
        files = value.pop("_files", {})
        if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            return SandboxResult(False, "error: the result is malformed", stderr=stderr, returncode=0)
        return SandboxResult(True, "", value, stderr, 0, extra, files)
    finally:
        ctx.__exit__(None, None, None)


def _text(capped: _Capped) -> str:
    return capped.result().decode("utf-8", "replace")


# -- a persistent child, timed from here ----------------------------------------------------------


class SessionError(Exception):
    """The child stopped answering, answered nonsense, ran out of time, or the run was cancelled."""


class Session:
    """A sandboxed child that answers JSON requests line by line; ``request`` times each answer with this
    process's clock, which the child cannot touch."""

    def __init__(self, driver: str, payload: Any, limits: Limits, workspace: str | None = None) -> None:
        self.limits = limits
        self._ctx = _prepared(driver, payload, workspace, limits, persistent=True)
        try:
            self._prep = _enter(self._ctx)
            self._deadline = time.monotonic() + limits.seconds
            try:
                self.proc = _popen(self._prep, limits, stdin=True)
            except StartError:
                self._ctx.__exit__(None, None, None)
                raise
        except StartError as exc:
            raise SessionError(str(exc)) from None
        self._sandboxed = _Sandboxed(self._prep)
        self._tail = _Capped(self.proc.stderr, MAX_STDERR, tail=True)
        self._buf = bytearray()
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            self.hello = self._reply()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sandboxed.kill()
        _kill_group(self.proc)
        self._sel.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._ctx.__exit__(None, None, None)

    def request(self, message: dict[str, Any], check: Callable[[dict[str, Any]], bool]) -> tuple[dict, float]:
        """Send one request; (the reply, seconds from sending to the whole reply having arrived)."""
        data = json.dumps(message).encode() + b"\n"
        start = time.perf_counter()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SessionError(self._why_gone()) from None
        reply = self._reply()
        elapsed = time.perf_counter() - start
        if not check(reply):
            raise SessionError(f"error: unexpected answer from the sandbox ({str(reply)[:120]})")
        return reply, elapsed

    def _reply(self) -> dict[str, Any]:
        end = self._buf.find(b"\n")
        while end < 0:
            now = time.monotonic()
            if now >= self._deadline:
                raise SessionError(f"timeout: still running after {self.limits.seconds:g} s")
            if self.limits.cancel is not None and self.limits.cancel.is_set():
                raise SessionError("cancelled")
            if not self._sel.select(timeout=min(0.2, self._deadline - now)):
                continue
            assert self.proc.stdout is not None
            try:
                chunk = self.proc.stdout.read(1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise SessionError(self._why_gone())
            seen = len(self._buf)
            self._buf += chunk
            if len(self._buf) > MAX_RESULT_BYTES:
                raise SessionError("error: the sandbox's answer is too large")
            end = self._buf.find(b"\n", seen)  # only the new bytes: a long line costs linear time
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise SessionError(f"error: unreadable answer from the sandbox ({exc})") from None
        if not isinstance(value, dict):
            raise SessionError("error: the sandbox's answer is not an object")
        return value

    def _why_gone(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "error: the sandbox closed its channel"
        if code == 0:
            return "exit 0 without an answer (the code ended the process)"
        return _failure(code, _text(self._tail), self._prep.isolated)

    @property
    def stderr(self) -> str:
        return _text(self._tail)[-4000:]
