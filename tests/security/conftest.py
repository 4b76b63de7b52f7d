"""A world around every hostile run, rigged so that any escape would show.

- a workspace (``calc.py`` and its test) the sandbox sees read-only, and a sibling directory it must not see;
- secrets: a fake ``$HOME`` with a key file, a file outside the workspace, and an environment variable of
  this process, all holding the same random token;
- listeners this process owns: TCP on 127.0.0.1, a unix socket by path outside the workspace (like
  ``/tmp/.X11-unix/X0``, in a short temporary directory: ``sun_path`` holds 108 bytes) and an abstract
  unix socket; each counts the connections it accepts;
- a marker (a short random word) hostile code puts into process and thread names and argv, so that
  anything that outlives a run can be found in ``/proc``;
- a file a crafted pickle would create (and an attribute it would set on ``builtins``) if this process
  ever unpickled what a child wrote;
- a SIGWINCH handler that counts signals a child manages to send to this process.

``World.check()`` asserts the invariants every test ends with: nothing outside the work directory changed
(the workspace, the sibling, the fake home, the harness: hashed before and after), no process or thread
with the marker remains and no bubblewrap process is orphaned, no listener saw a connection, the secret is
in no output, and this process is as it was (no marker file, no ``builtins`` attribute, same cwd and
environment, no signal).
"""

from __future__ import annotations

import builtins
import ctypes
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slipstream.optimizer.sandbox import HARNESS, isolation

SECRET_PREFIX = "SLIPSTREAM-TEST-SECRET-"
PWNED_ATTRIBUTE = "SLIPSTREAM_PWNED"
CALC = "def total(xs):\n    out = 0\n    for x in xs:\n        out = out + x\n    return out\n"
CALC_TEST = "from calc import total\n\n\ndef test_total():\n    assert total(list(range(2000))) == 1999000\n"


class Listener:
    """A listening socket served on a thread; counts what connects."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.listen(16)
        sock.settimeout(0.05)
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the timeout, or the socket closed
                continue
            self.connections += 1
            with conn:
                conn.settimeout(0.5)
                try:
                    self.received += conn.recv(1024)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): kind, mode, size and content hash or link target."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in [".", *dirnames, *sorted(filenames)]:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = "-> " + os.readlink(p)
            else:
                what = ""
            out[str(p.relative_to(root))] = f"{stat.filemode(st.st_mode)} {st.st_size if what else ''} {what}"
    return out


def _alive(pid: str) -> bool:
    """A process that still runs (zombies, dead and waiting for the host's init to reap them, do not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def tasks_with(marker: str) -> list[str]:
    """Live processes and threads whose name, command line or environment holds ``marker``."""
    found = []
    needle = marker.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid() or not _alive(pid):
            continue
        paths = [f"/proc/{pid}/comm", f"/proc/{pid}/cmdline", f"/proc/{pid}/environ"]
        try:
            paths += [f"/proc/{pid}/task/{tid}/comm" for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for path in paths:
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def _ticks_now() -> int:
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def stray_bwraps(since: int) -> set[int]:
    """Live bubblewrap processes started since ``since`` (clock ticks after boot) that nobody waits for:
    orphans (the host's init adopted them) or children of this process. Other processes' sandboxes (a test
    run beside this one) have their own bwrap as parent and are not counted."""
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                name, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        state, ppid, start = fields[0], int(fields[1]), int(fields[19])
        if name.endswith("(bwrap") and state not in ("Z", "X") and ppid in (1, os.getpid()) and start >= since:
            out.add(int(pid))
    return out


def file_handle(path: Path) -> str | None:
    """The kernel's handle for ``path`` (name_to_handle_at), hex: what a perfect guess would give hostile
    code that tries open_by_handle_at. None where the file system has no handles."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(8 + 128)
    ctypes.c_uint.from_buffer(buf).value = 128
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, os.fsencode(path), buf, ctypes.byref(mount_id), 0) != 0:
        return None
    size = ctypes.c_uint.from_buffer(buf).value
    return buf.raw[: 8 + size].hex()


@dataclass
class World:
    root: Path
    ws: Path
    sibling: Path
    home: Path
    outside: Path
    secret: str
    marker: str
    pwned: Path
    tcp: Listener
    unix: Listener
    unix_path: str
    abstract: Listener
    abstract_name: str
    signals: list[int]
    outputs: list[str] = field(default_factory=list)
    baseline: dict[str, dict[str, str]] = field(default_factory=dict)
    cwd: str = ""
    environ: dict[str, str] = field(default_factory=dict)
    started: int = 0  # clock ticks after boot when the world was built

    def watched(self) -> dict[str, Path]:
        return {"workspace": self.ws, "sibling": self.sibling, "home": self.home, "outside": self.outside.parent}

    def snapshot(self) -> dict[str, dict[str, str]]:
        snap = {name: tree_digest(p) for name, p in self.watched().items()}
        snap["harness"] = tree_digest(HARNESS)
        return snap

    def rebase(self) -> None:
        """Take the current state as the one to keep (after a test adds something of its own)."""
        self.baseline = self.snapshot()

    def payload(self) -> dict[str, Any]:
        """What hostile code is told: where everything is (as an attacker would guess it)."""
        return {
            "ws": str(self.ws),
            "sibling": str(self.sibling),
            "home": str(self.home),
            "home_secret": str(self.home / ".ssh" / "id_ed25519"),
            "outside": str(self.outside),
            "prefix": SECRET_PREFIX,
            "env_name": "SLIPSTREAM_TEST_SECRET",
            "port": self.tcp.sock.getsockname()[1],
            "unix": self.unix_path,
            "abstract": self.abstract_name,
            "marker": self.marker,
            "pwned": str(self.pwned),
            "parent_pid": os.getpid(),
            "harness": str(HARNESS),
            "handle": file_handle(self.outside),
            "x86_64": platform.machine() == "x86_64",
        }

    def record(self, *things: Any) -> None:
        """Outputs of a run, to be searched for the secret."""
        for t in things:
            try:
                self.outputs.append(json.dumps(t, default=repr))
            except (TypeError, ValueError):
                self.outputs.append(repr(t))

    def connections(self) -> int:
        return self.tcp.connections + self.unix.connections + self.abstract.connections

    def check(self) -> None:
        """The invariants every hostile run must leave intact."""
        after = self.snapshot()
        for name, before in self.baseline.items():
            changed = sorted(set(before.items()) ^ set(after[name].items()))
            assert not changed, f"{name} changed: {changed[:6]}"
        deadline = time.monotonic() + 3
        while (left := tasks_with(self.marker)) or stray_bwraps(self.started):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not left, f"processes or threads outlived the run: {left}"
        assert not stray_bwraps(self.started), "a bubblewrap process outlived the run"
        assert self.connections() == 0, (
            f"a listener saw a connection: tcp={self.tcp.connections} unix={self.unix.connections} "
            f"abstract={self.abstract.connections}, received {self.tcp.received + self.unix.received!r}"
        )
        leaks = [o[:200] for o in self.outputs if self.secret in o]
        assert not leaks, f"the secret appears in an output: {leaks}"
        assert not self.pwned.exists(), "a pickle a child wrote was loaded in this process"
        assert not hasattr(builtins, PWNED_ATTRIBUTE), "a pickle a child wrote was loaded in this process"
        assert os.getcwd() == self.cwd
        now = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        assert now == self.environ, "this process's environment changed"
        assert not self.signals, f"a child signalled this process: {self.signals}"


@pytest.fixture
def world(tmp_path, monkeypatch) -> Any:
    if not isolation().available:
        pytest.skip(f"the attack suite needs OS isolation: {isolation().reason}")
    token = secrets.token_hex(12)
    secret = SECRET_PREFIX + token
    marker = "slip" + secrets.token_hex(5)  # 14 characters: fits a thread name (15)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "calc.py").write_text(CALC)
    (ws / "test_calc.py").write_text(CALC_TEST)
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    (sibling / "data.txt").write_text("the user's other project\n")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(f"-----BEGIN KEY-----\n{secret}\n-----END KEY-----\n")
    (home / ".netrc").write_text(f"machine example.invalid login me password {secret}\n")
    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text(secret + "\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SLIPSTREAM_TEST_SECRET", secret)

    tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp_sock.bind(("127.0.0.1", 0))
    sock_dir = Path(tempfile.mkdtemp(prefix="slip-x11-"))  # a short path: sun_path holds 108 bytes
    unix_path = str(sock_dir / "X0")
    unix_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_sock.bind(unix_path)
    abstract_name = "slipstream-test-" + token
    abstract_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_sock.bind("\0" + abstract_name)

    signals: list[int] = []
    previous = signal.signal(signal.SIGWINCH, lambda signum, frame: signals.append(signum))
    w = World(
        root=tmp_path,
        ws=ws,
        sibling=sibling,
        home=home,
        outside=outside,
        secret=secret,
        marker=marker,
        pwned=tmp_path / "pwned",
        tcp=Listener(tcp_sock),
        unix=Listener(unix_sock),
        unix_path=unix_path,
        abstract=Listener(abstract_sock),
        abstract_name=abstract_name,
        signals=signals,
    )
    w.rebase()
    w.cwd = os.getcwd()
    w.environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    w.started = _ticks_now()
    try:
        yield w
    finally:
        for path in tasks_with(marker):  # only where a test showed a hole: what it started, by pid
            try:
                os.kill(int(path.split("/")[2]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        signal.signal(signal.SIGWINCH, previous)
        for listener in (w.tcp, w.unix, w.abstract):
            listener.close()
        shutil.rmtree(sock_dir, ignore_errors=True)
        if hasattr(builtins, PWNED_ATTRIBUTE):
            delattr(builtins, PWNED_ATTRIBUTE)


def closed_hole(why: str):
    """Marks a test that once failed (a hole this suite found): ``why`` says how it got through. The test
    runs as any other, so the hole cannot come back unnoticed."""

    def mark(fn):
        fn.__doc__ = (fn.__doc__ or "") + f"\n\nOnce a hole: {why}"
        return fn

    return mark
