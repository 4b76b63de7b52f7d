"""Hostile code straight into the sandbox (optimizer/sandbox.py, the snippet driver): every route out.

What this proves, for each case, beyond the case's own expectation (World.check in conftest.py): nothing
outside the run's work directory changed (the workspace, a sibling directory, the fake home, the harness,
hashed before and after), no process or thread outlived the run, none of the test's listeners (TCP on
127.0.0.1, a unix socket by path, an abstract unix socket) saw a connection, the secret planted in the
fake home, outside the workspace and in this process's environment appears in no output, and this
process is unaffected (no crafted pickle was ever loaded here, same cwd and environment, no signal).

The audit hook (optimizer/sandboxed/guard.py) lives in the hostile code's own interpreter, so the cases
go around it (ctypes, ``dir_fd``, flags it does not look at) or switch it off first: what stops them
must be the OS (bubblewrap's namespaces and read-only binds, seccomp, rlimits).

The design under test: a one-shot child's result travels on its protocol descriptor (a duplicate of its
stdout taken before user code) after a mark, the parent parsing the JSON after the last one, never a
pickle; the sandboxed python is the PID 1 of its namespace (``--as-pid-1``), killed by pidfd at the end
of every run, and bubblewrap dies with the server process; the root is read-only, the work directory and
/tmp are size-capped tmpfs; seccomp refuses socket() of any family, memfd_create, clearing PDEATHSIG, and
for code a model wrote (``Limits.threads`` False, the default) clone altogether.

No case is marked xfail: the holes this suite found are closed; ``closed_hole`` and RESOURCE_HOLES keep
the text of what each was.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, replace

import pytest
from slipstream.optimizer.sandbox import Limits, SandboxResult, run

from tests.security.attacks import snippet
from tests.security.conftest import closed_hole, tasks_with

LIMITS = Limits(seconds=5, memory_bytes=512 << 20)
SHORT = Limits(seconds=2, memory_bytes=512 << 20)
X86_64 = platform.machine() == "x86_64"
x86_64_only = pytest.mark.skipif(not X86_64, reason="raw x86-64 syscall numbers and machine code")


def run_hostile(world, code: str, limits: Limits = LIMITS, collect: tuple[str, ...] = ()) -> SandboxResult:
    """Run ``code`` (after attacks.PRELUDE) in the sandbox with the workspace visible; every output is
    recorded for the secret check."""
    code = textwrap.dedent(code)
    payload = {"code": snippet(code), "payload": world.payload()}
    res = run("snippet", payload, limits, collect=collect, workspace=str(world.ws))
    world.record(res.reason, res.stderr, res.value, res.files, {k: v.decode("latin-1") for k, v in res.extra.items()})
    return res


def report(res: SandboxResult) -> dict:
    assert res.ok, (res.reason, res.stderr[-1500:])
    return res.value["value"]


def assert_all_refused(res: SandboxResult) -> dict:
    """The run finished, tried something, and every forbidden action was refused."""
    rep = report(res)
    tried = rep["attempts"]
    assert tried, "the code attempted nothing"
    allowed = {k: v for k, v in tried.items() if not v.startswith("refused")}
    assert not allowed, f"allowed: {allowed}\nall: {tried}"
    return rep


# -- code execution in this process: crafted pickles wherever the child can write -------------------------

# What the child writes on its protocol descriptor (a pipe: boot.py's duplicate of the original stdout) and
# what the parent makes of it: "ok" (the driver's own result, after the last mark, is what it reads) or the
# reason of the rejection. Never a pickle loaded.
PICKLES = {
    "on the protocol descriptor, then os._exit(0)": (
        """
        os.write(protocol_fd(), BOOM)
        os._exit(0)
        """,
        "without a result",
    ),
    "after the mark on the protocol descriptor, then os._exit(0)": (
        """
        os.write(protocol_fd(), MARK + BOOM)
        os._exit(0)
        """,
        "unreadable result",
    ),
    "after near-misses of the mark (no newline before it, one byte off), then os._exit(0)": (
        """
        fd = protocol_fd()
        os.write(fd, MARK[1:] + BOOM + b"\\n")
        os.write(fd, MARK[:-1] + b"\\x1f" + BOOM + b"\\n")
        os._exit(0)
        """,
        "without a result",
    ),
    "after the mark, through /proc/self/fd/N reopened with libc open(), then os._exit(0)": (
        """
        fd = c_open(f"/proc/self/fd/{protocol_fd()}", os.O_WRONLY)
        os.write(fd, MARK + BOOM)
        os._exit(0)
        """,
        "unreadable result",
    ),
    "after the mark, the descriptor then silenced so that the driver's own result is lost": (
        """
        fd = protocol_fd()
        os.write(fd, MARK + BOOM + b"\\n")
        silence(fd)
        """,
        "unreadable result",
    ),
    "after a mark, from an atexit hook that runs after the driver's own result": (
        """
        import atexit
        atexit.register(os.write, protocol_fd(), MARK + BOOM + b"\\n")
        """,
        "unreadable result",
    ),
    "ahead of the driver's own result, with a mark of its own": (
        """
        os.write(protocol_fd(), BOOM + MARK + BOOM)
        INFO["written"] = True
        """,
        "ok",
    ),
    "with the mark on stdout (now /dev/null) and on stderr": (
        """
        os.write(1, MARK + BOOM + b"\\n")
        os.write(2, MARK + BOOM + b"\\n")
        INFO["written"] = True
        """,
        "ok",
    ),
}


@pytest.mark.parametrize("label", list(PICKLES))
def test_a_crafted_pickle_on_the_protocol_channel_is_a_rejection_never_loaded(world, label):
    code, expected = PICKLES[label]
    res = run_hostile(world, code)
    if expected == "ok":
        assert report(res)["info"]["written"] is True
    else:
        assert not res.ok and res.value is None, res
        assert expected in res.reason, (res.reason, res.stderr[-500:])
    world.check()


@closed_hole(
    "HOLE (the trusted process's CPU): sandbox._Capped._read keeps what it reads with `self.data += "
    "chunk`, a new bytes object per 64 KiB chunk, so reading n bytes copies O(n²): the 64 MiB a child may "
    "send costs this process about 23 s of CPU here (8 MiB 0.4 s, 32 MiB 5 s), per run, while the child "
    "waits on the full pipe; a child that writes past the cap is a timeout at 5 s instead of a prompt "
    "'the result is too large'",
)
def test_a_result_past_the_cap_is_refused_promptly(world):
    code = """
        fd, junk = protocol_fd(), bytes(1 << 20)
        for _ in range(65):
            os.write(fd, junk)
    """
    res = run_hostile(world, code)
    world.check()
    assert not res.ok and "too large" in res.reason, res.reason


def test_a_fifo_or_links_planted_in_the_work_directory_are_never_followed_or_loaded(world):
    """A run that collects files (a profiler's) binds the host's work directory: a FIFO (a parent that
    opened it for reading would block), a symlink to a pickle, one to the secret outside, and a hard link
    to a pickle where the parent collects; only regular files come back, as bytes."""
    code = """
        with open("boom.pkl", "wb") as f:
            f.write(BOOM)
        os.mkfifo("profile.json")
        c(libc.symlink(os.path.abspath("boom.pkl").encode(), b"result.json"))
        c(libc.symlink(P["outside"].encode(), b"secret.json"))
        attempt("hard link to the pickle", lambda: c(libc.link(b"boom.pkl", b"hard.json")))
        attempt("hard link to a workspace file", lambda: c(libc.link((P["ws"] + "/calc.py").encode(), b"ws.py")))
        INFO["planted"] = sorted(os.listdir("."))
    """
    res = run_hostile(world, code, collect=("profile.json", "result.json", "secret.json", "hard.json", "ws.py"))
    rep = report(res)
    assert {"profile.json", "result.json", "secret.json", "hard.json"} <= set(rep["info"]["planted"])
    assert rep["attempts"]["hard link to a workspace file"].startswith("refused"), rep
    assert set(res.extra) == {"hard.json"}, res.extra
    assert isinstance(res.extra["hard.json"], bytes)
    assert res.files["profile.json"].startswith("special") and res.files["result.json"].startswith("special")
    world.check()


def test_pickles_on_stdout_stderr_and_in_the_work_directory_come_back_as_bytes_at_most(world):
    code = """
        for name in ("result.pkl", "job.pkl", "result.json", "profile.json"):
            with open(name, "wb") as f:
                f.write(BOOM)
        os.write(1, BOOM)
        os.write(2, BOOM + b"\\n")
        INFO["written"] = True
    """
    res = run_hostile(world, code, collect=("result.pkl", "job.pkl", "profile.json"))
    assert report(res)["info"]["written"]
    assert set(res.extra) == {"result.pkl", "job.pkl", "profile.json"}
    assert all(isinstance(v, bytes) for v in res.extra.values())
    assert {"result.pkl", "job.pkl", "result.json"} <= set(res.files)
    world.check()


# -- files outside the work directory ---------------------------------------------------------------------

FILES = {
    "os.open and os.unlink with dir_fd on the workspace (relative names look inside to the guard)": """
        d = os.open(P["ws"], os.O_RDONLY | os.O_DIRECTORY)
        attempt("truncate calc.py", lambda: os.open("calc.py", os.O_WRONLY | os.O_TRUNC, dir_fd=d))
        attempt("create evil.py", lambda: os.open("evil.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))
        attempt("unlink test_calc.py", lambda: os.unlink("test_calc.py", dir_fd=d))
        attempt("mkdir", lambda: os.mkdir("evil", dir_fd=d))
    """,
    "libc open and write: workspace, sibling directory, fake home": """
        attempt("overwrite calc.py", lambda: os.write(c_open(P["ws"] + "/calc.py", os.O_WRONLY), b"pwned = 1\\n"))
        attempt("create in the workspace", lambda: c_open(P["ws"] + "/evil.py", os.O_WRONLY | os.O_CREAT))
        attempt("overwrite the sibling", lambda: c_open(P["sibling"] + "/data.txt", os.O_WRONLY | os.O_TRUNC))
        attempt("create in the sibling", lambda: c_open(P["sibling"] + "/evil.txt", os.O_WRONLY | os.O_CREAT))
        attempt("append to the home", lambda: c_open(P["home"] + "/.bashrc", os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    """,
    "O_RDONLY | O_TRUNC, which the guard does not count as writing": """
        attempt("os.open", lambda: os.open(P["ws"] + "/calc.py", os.O_RDONLY | os.O_TRUNC))
        attempt("libc", lambda: c_open(P["ws"] + "/test_calc.py", os.O_RDONLY | os.O_TRUNC))
    """,
    "rename, link, symlink, mkfifo, mknod, mkdir and rmdir": """
        with open("evil.py", "w") as f:
            f.write("pwned = 1\\n")
        ws = P["ws"].encode()
        attempt("rename a workspace file out", lambda: c(libc.rename(ws + b"/calc.py", b"stolen.py")))
        attempt("rename a file over a workspace file", lambda: c(libc.rename(b"evil.py", ws + b"/calc.py")))
        attempt("hard-link a workspace file in here", lambda: c(libc.link(ws + b"/calc.py", b"hard.py")))
        attempt("symlink in the workspace", lambda: c(libc.symlink(b"/etc/passwd", ws + b"/evil")))
        attempt("mkfifo in the workspace", lambda: os.mkfifo(P["ws"] + "/fifo"))
        attempt("mknod in the workspace", lambda: os.mknod(P["ws"] + "/node"))
        attempt("mkdir in the workspace", lambda: c(libc.mkdir(ws + b"/evil", 0o755)))
        attempt("rmdir the workspace", lambda: c(libc.rmdir(ws)))
    """,
    "writes through /proc/self/root, /proc/1/root and /proc/self/cwd": """
        for base in ("/proc/self/root", "/proc/1/root"):
            attempt(base, lambda base=base: c_open(base + P["ws"] + "/calc.py", os.O_WRONLY | os.O_TRUNC))
        attempt("the run's job pickle", lambda: c_open("/proc/self/cwd/../job.pkl", os.O_WRONLY | os.O_TRUNC))
    """,
    "chmod, chown, truncate, utimes and xattrs on workspace files": """
        f = (P["ws"] + "/calc.py").encode()
        attempt("chmod", lambda: c(libc.chmod(f, 0o777)))
        attempt("chown", lambda: c(libc.chown(f, 65534, 65534)))
        attempt("truncate", lambda: c(libc.truncate(f, ctypes.c_long(0))))
        attempt("utimes", lambda: c(libc.utimes(f, None)))
        attempt("setxattr", lambda: c(libc.setxattr(f, b"user.pwned", b"1", 1, 0)))
        attempt("chmod the workspace", lambda: c(libc.chmod(P["ws"].encode(), 0o777)))
    """,
    "the harness and every sys.path directory (a .py there would run in the user's next python)": """
        attempt("overwrite guard.py", lambda: c_open(P["harness"] + "/guard.py", os.O_WRONLY | os.O_TRUNC))
        attempt("add to the harness", lambda: c_open(P["harness"] + "/evil.py", os.O_WRONLY | os.O_CREAT))
        for d in sys.path:
            if d and os.path.isdir(d):
                name = d + "/" + P["marker"] + ".txt"
                attempt("sys.path " + d, lambda name=name: c_open(name, os.O_WRONLY | os.O_CREAT))
    """,
    "remounting the workspace writable, new namespaces, chroot, open_tree, fsopen": """
        ws = P["ws"].encode()
        attempt("remount read-write", lambda: c(libc.mount(None, ws, None, 0x20 | 0x1000, None)))
        attempt("bind the work dir over it", lambda: c(libc.mount(os.getcwd().encode(), ws, None, 0x1000, None)))
        attempt("unshare user and mount", lambda: c(libc.unshare(0x10000000 | 0x20000)))
        attempt("chroot", lambda: c(libc.chroot(b".")))
        if P["x86_64"]:
            attempt("open_tree", lambda: c(libc.syscall(428, -100, ws, 1)))
            attempt("fsopen", lambda: c(libc.syscall(430, b"tmpfs", 0)))
    """,
}


@pytest.mark.parametrize("label", list(FILES))
def test_files_outside_the_work_directory_stay_untouched(world, label):
    assert_all_refused(run_hostile(world, FILES[label]))
    world.check()


def test_links_left_in_the_work_directory_are_not_followed_by_the_parent(world):
    """Symlinks to the sibling directory and the secret, for the parent's collection and cleanup."""
    code = """
        def link(target, name):  # libc: the guard refuses os.symlink to a target outside
            c(libc.symlink(target.encode(), name.encode()))

        link(P["sibling"], "sibling")
        link(P["outside"], "profile.json")
        os.mkdir("nest")
        link(P["sibling"] + "/data.txt", "nest/data.txt")
        link(P["ws"], "nest/ws")
        INFO["planted"] = sorted(os.listdir("."))
    """
    res = run_hostile(world, code, collect=("profile.json", "nest/data.txt"))
    assert report(res)["info"]["planted"]
    assert res.extra == {}
    world.check()


# -- reading secrets --------------------------------------------------------------------------------------

SECRETS = {
    "open() of the planted files by path": """
        for path in (P["home_secret"], P["home"] + "/.netrc", P["outside"]):
            attempt(path, lambda path=path: LEAK.append(open(path).read()))
    """,
    "libc open, also through /proc/1/root and /proc/self/root": """
        for base in ("", "/proc/1/root", "/proc/self/root"):
            for path in (P["home_secret"], P["outside"]):
                attempt(base + path, lambda p=base + path: LEAK.append(os.read(c_open(p, os.O_RDONLY), 4096).decode()))
    """,
    "the environment and command line of every visible process, and of the parent by its pid": """
        LEAK.append(repr(dict(os.environ)))
        attempt("os.environ", lambda: LEAK.append(os.environ[P["env_name"]]))
        for pid in os.listdir("/proc"):
            if pid.isdigit() or pid == "self":
                for what in ("environ", "cmdline"):
                    try:
                        with open(f"/proc/{pid}/{what}", "rb") as f:
                            LEAK.append(f.read().decode(errors="replace"))
                    except OSError as exc:
                        INFO[pid + "/" + what] = str(exc)
        attempt("the parent's environ", lambda: LEAK.append(open(f"/proc/{P['parent_pid']}/environ").read()))
    """,
    "the memory of every visible process, searched for the secret's prefix": """
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                fd = c_open(f"/proc/{pid}/mem", os.O_RDONLY)
                for line in open(f"/proc/{pid}/maps"):
                    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                    if "r" in line.split()[1] and hi - lo < 64 << 20:
                        try:
                            data = os.pread(fd, hi - lo, lo)
                        except OSError:
                            continue
                        at = data.find(P["prefix"].encode())
                        if at >= 0:
                            LEAK.append(data[at : at + 200].decode(errors="replace"))
            except OSError as exc:
                INFO[pid] = str(exc)
        attempt("the parent's memory", lambda: c_open(f"/proc/{P['parent_pid']}/mem", os.O_RDONLY))
        attempt("process_vm_readv, parent", lambda: c(libc.process_vm_readv(P["parent_pid"], None, 0, None, 0, 0)))
    """,
    "a walk of everything visible, reading small files that hold the secret's prefix": """
        import time
        deadline = time.monotonic() + 4
        skip = {"usr", "proc", "sys", "dev", "node_modules", ".venv", ".git", "site-packages", "lib", "lib64"}
        for root, dirs, files in os.walk("/"):
            dirs[:] = [d for d in dirs if d not in skip and not d.startswith("python3")]
            for name in files:
                path = os.path.join(root, name)
                try:
                    if os.path.getsize(path) < 1 << 18:
                        with open(path, "rb") as f:
                            data = f.read()
                        at = data.find(P["prefix"].encode())
                        if at >= 0:
                            LEAK.append(path + ": " + data[at : at + 200].decode(errors="replace"))
                except OSError:
                    pass
            if time.monotonic() > deadline:
                INFO["cut short at"] = root
                break
        attempt("the fake home is not there", lambda: os.listdir(P["home"]))
        attempt("the outside directory is not there", lambda: os.listdir(os.path.dirname(P["outside"])))
    """,
    "open_by_handle_at with the secret file's real handle (a perfect guess)": """
        def by_handle():
            if not P["handle"]:
                raise LookupError("no handles on this file system")
            buf = ctypes.create_string_buffer(bytes.fromhex(P["handle"]))
            fd = c(libc.open_by_handle_at(os.open(os.getcwd(), os.O_RDONLY), buf, os.O_RDONLY))
            LEAK.append(os.read(fd, 4096).decode())

        attempt("open_by_handle_at", by_handle)
    """,
    "the real home from the password database, ~, /root and /home": """
        import glob, pwd

        for home in {pwd.getpwuid(os.getuid()).pw_dir, os.path.expanduser("~"), P["home"], "/root", "/home"}:
            try:
                INFO[home] = sorted(os.listdir(home))[:50]
            except OSError as exc:
                INFO[home] = str(exc)
            for path in glob.glob(home + "/.*") + glob.glob(home + "/.ssh/*"):
                try:
                    LEAK.append(open(path).read()[:500])
                except OSError:
                    pass
        attempt("the planted key", lambda: LEAK.append(open(P["home_secret"]).read()))
    """,
}


@pytest.mark.parametrize("label", list(SECRETS))
def test_secrets_outside_the_workspace_never_reach_any_output(world, label):
    rep = report(run_hostile(world, SECRETS[label]))
    refused = {k: v for k, v in rep["attempts"].items() if not v.startswith("refused")}
    assert not refused, refused
    world.check()  # the secret is in no output: not in what it read, not in the reason, not on stderr


# -- network ----------------------------------------------------------------------------------------------

NETWORK = {
    "socket.create_connection to the test's TCP listener": """
        attempt("tcp", lambda: socket.create_connection(("127.0.0.1", P["port"]), timeout=1))
    """,
    "the _socket module directly, TCP and UDP": """
        import _socket

        def tcp():
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(("127.0.0.1", P["port"]))

        def udp():
            _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", P["port"]))

        attempt("tcp", tcp)
        attempt("udp", udp)
    """,
    "libc socket() and connect() to 127.0.0.1": """
        attempt("tcp", lambda: c_connect(socket.AF_INET, inet(P["port"])))
    """,
    "libc over IPv6 (::1) and UDP": """
        addr6 = struct.pack("<H", socket.AF_INET6) + struct.pack(">H", P["port"]) + bytes(19) + b"\\x01" + bytes(4)
        attempt("tcp6", lambda: c_connect(socket.AF_INET6, addr6))
        attempt("udp", lambda: c_connect(socket.AF_INET, inet(P["port"]), socket.SOCK_DGRAM))
    """,
    "raw, packet, netlink, vsock and unix sockets": """
        attempt("packet", lambda: c(libc.socket(17, 3, 0)))
        attempt("raw inet", lambda: c(libc.socket(2, 3, 1)))
        attempt("netlink route", lambda: c(libc.socket(16, 3, 0)))
        attempt("vsock", lambda: c(libc.socket(40, 1, 0)))
        attempt("unix stream", lambda: c(libc.socket(1, 1, 0)))
        attempt("unix datagram", lambda: c(libc.socket(1, 2, 0)))
    """,
    "the guard neutralized first, then socket.create_connection": """
        assert neutralize_guard() >= 1
        attempt("tcp", lambda: socket.create_connection(("127.0.0.1", P["port"]), timeout=1))
    """,
    "a unix socket by path outside the workspace (like /tmp/.X11-unix/X0)": """
        attempt("libc", lambda: c_connect(socket.AF_UNIX, unix(P["unix"].encode())))
        neutralize_guard()
        attempt("socket module", lambda: socket.socket(socket.AF_UNIX).connect(P["unix"]))
    """,
    "the host's abstract unix socket": """
        attempt("libc", lambda: c_connect(socket.AF_UNIX, unix(b"\\0" + P["abstract"].encode())))
        neutralize_guard()
        attempt("socket module", lambda: socket.socket(socket.AF_UNIX).connect("\\0" + P["abstract"]))
    """,
    "the usual host sockets: D-Bus, docker, X11, systemd": """
        for path in ("/run/dbus/system_bus_socket", "/var/run/docker.sock", "/tmp/.X11-unix/X0", "/run/user/0/bus"):
            attempt(path, lambda p=path: c_connect(socket.AF_UNIX, unix(p.encode())))
    """,
}


@pytest.mark.parametrize("label", list(NETWORK))
def test_no_connection_leaves_the_sandbox(world, label):
    assert_all_refused(run_hostile(world, NETWORK[label]))
    world.check()


def test_a_unix_socket_inside_the_workspace_is_out_of_reach(world):
    """Like git's fsmonitor socket, a dev database's socket or an editor's IPC socket in the project: a
    read-only bind does not stop connect(), and the network namespace does not cover path sockets, but
    seccomp refuses socket() of any family."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(world.ws / ".dev.sock"))
    server.listen(1)
    server.settimeout(5)
    got: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            got.append(conn.recv(100))
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    world.rebase()
    try:
        res = run_hostile(
            world, 'attempt("connect", lambda: c_connect(socket.AF_UNIX, unix(P["ws"].encode() + b"/.dev.sock")))'
        )
        world.check()
        assert report(res)["attempts"]["connect"].startswith("refused"), report(res)
    finally:
        server.close()
        thread.join(timeout=6)
    assert not got, got


# -- processes --------------------------------------------------------------------------------------------

PROCESSES = {
    "libc system()": """
        attempt("system", lambda: (libc.system(f"echo {P['marker']} > ran; sleep 30".encode()), os.stat("ran")))
    """,
    "subprocess (_posixsubprocess.fork_exec), the guard neutralized": """
        neutralize_guard()
        import subprocess

        attempt("Popen", lambda: subprocess.Popen(["/bin/sleep", "30", P["marker"]]))
    """,
    "os.posix_spawn, os.execv and libc execve, the guard neutralized": """
        neutralize_guard()
        argv = ["sleep", "30", P["marker"]]
        attempt("posix_spawn", lambda: os.posix_spawn("/bin/sleep", argv, {}))
        attempt("execv", lambda: os.execv("/bin/sleep", argv))
        cargv = (ctypes.c_char_p * 4)(*[a.encode() for a in argv], None)
        attempt("libc execve", lambda: c(libc.execve(b"/bin/sleep", cargv, None)))
    """,
    "libc fork() and setsid(): a child meant to outlive the run": """
        def fork_and_hide():
            pid = c(libc.fork())
            if pid == 0:
                libc.setsid()
                libc.prctl(15, P["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
                libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none
                while True:
                    libc.pause()

        attempt("fork", fork_and_hide)
    """,
    "raw fork, clone, clone3 and vfork system calls": """
        def child_exits(r):
            if r == 0:
                os._exit(0)
            return c(r)

        attempt("fork", lambda: child_exits(libc.syscall(57)))
        attempt("clone(SIGCHLD)", lambda: child_exits(libc.syscall(56, 17, 0, 0, 0, 0)))
        attempt("clone(CLONE_NEWPID)", lambda: child_exits(libc.syscall(56, 0x20000000 | 17, 0, 0, 0, 0)))
        attempt("clone(CLONE_THREAD), no stack", lambda: child_exits(libc.syscall(56, 0x10F00, 0, 0, 0, 0)))
        attempt("clone3", lambda: child_exits(libc.syscall(435, ctypes.create_string_buffer(88), 88)))
        attempt("vfork", lambda: child_exits(libc.vfork()))
    """,
    "a fork bomb: 2000 forks with os.fork and with libc (a child would exit at once)": """
        def bomb(fork):
            started = 0
            for _ in range(2000):
                try:
                    pid = fork()
                except OSError:
                    continue
                if pid == 0:
                    os._exit(0)
                started += pid > 0
            if not started:
                raise PermissionError("every fork was refused")

        attempt("os.fork", lambda: bomb(os.fork))
        attempt("libc fork", lambda: bomb(libc.fork))
    """,
    "signals to this test process (by its pid) and to every process (kill -1)": """
        import signal

        attempt("libc kill the parent", lambda: c(libc.kill(P["parent_pid"], signal.SIGWINCH)))
        attempt("kill -1", lambda: c(libc.kill(-1, signal.SIGWINCH)))
    """,
    "ptrace, process_vm_writev and setns into pid 1's namespaces": """
        attempt("ptrace attach pid 1", lambda: c(libc.ptrace(16, 1, None, None)))
        attempt("process_vm_writev pid 1", lambda: c(libc.process_vm_writev(1, None, 0, None, 0, 0)))
        attempt("setns", lambda: c(libc.setns(os.open("/proc/1/ns/net", os.O_RDONLY), 0)))
    """,
}

PROCESSES_X86_64 = {"raw fork, clone, clone3 and vfork system calls"}


@pytest.mark.parametrize("label", list(PROCESSES))
def test_no_new_process_and_nothing_outlives_the_run(world, label):
    if label in PROCESSES_X86_64 and not X86_64:
        pytest.skip("raw x86-64 syscall numbers")
    assert_all_refused(run_hostile(world, PROCESSES[label]))
    world.check()


SERVER = """
import sys
from slipstream.optimizer.sandbox import Limits, run

code = "import ctypes, time\\nctypes.CDLL(None).prctl(15, MARKER, 0, 0, 0)\\ntime.sleep(3600)"
run("snippet", {"code": code, "payload": None}, Limits(seconds=60))
"""


def test_the_sandbox_ends_when_the_server_process_is_killed(world):
    """bubblewrap gets PR_SET_PDEATHSIG from the process that runs it, and the sandboxed python is the PID 1
    of its namespace: a server killed mid-run (SIGKILL: no cleanup of its own) takes both along."""
    server = subprocess.Popen([sys.executable, "-c", SERVER.replace("MARKER", repr(world.marker.encode()))])
    try:
        deadline = time.monotonic() + 30
        while not tasks_with(world.marker) and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        assert tasks_with(world.marker), "the sandbox never started"
    finally:
        server.kill()
        server.wait()
    world.check()  # no process with the marker, no orphaned bubblewrap


THREADS = {
    "a non-daemon thread named with the marker, PDEATHSIG cleared, never ending": """
        import threading, time

        def linger():
            libc.prctl(15, P["marker"].encode(), 0, 0, 0)
            while True:
                time.sleep(0.05)

        threading.Thread(target=linger).start()
        libc.prctl(1, 0, 0, 0, 0)
    """,
    "a daemon thread named with the marker when the run ends normally": """
        import threading, time

        def linger():
            libc.prctl(15, P["marker"].encode(), 0, 0, 0)
            while True:
                time.sleep(0.05)

        threading.Thread(target=linger, daemon=True).start()
        time.sleep(0.2)
    """,
}


@pytest.mark.parametrize("label", list(THREADS))
def test_code_a_model_wrote_cannot_start_a_thread(world, label):
    """``Limits.threads`` is False for model-written code: seccomp refuses clone, the thread never starts."""
    res = run_hostile(world, THREADS[label], SHORT)
    assert not res.ok and res.reason == "exit 1", res.reason
    assert "can't start new thread" in res.stderr, res.stderr[-500:]
    world.check()


@pytest.mark.parametrize("label", list(THREADS))
def test_threads_of_the_users_own_code_end_with_the_run(world, label):
    """The user's own code (``threads=True``) may start threads; they end with the run all the same."""
    res = run_hostile(world, THREADS[label], replace(SHORT, threads=True))
    if "non-daemon" in label:
        assert not res.ok and "timeout" in res.reason, res.reason
    else:
        assert res.ok, res.reason
    world.check()


def test_the_sandboxed_python_is_alone_in_its_namespace(world):
    """``--as-pid-1``: no bubblewrap init inside, so no process without seccomp to inject into."""
    code = """
        INFO["pid"] = os.getpid()
        INFO["pids"] = sorted(p for p in os.listdir("/proc") if p.isdigit())
        INFO["ppid"] = os.getppid()
        INFO["pid 1 is this python"] = os.readlink("/proc/1/exe") == os.readlink("/proc/self/exe")
        with open("/proc/1/status") as f:
            INFO["seccomp"] = [line.split()[1] for line in f if line.startswith("Seccomp:")]
    """
    info = report(run_hostile(world, code))["info"]
    assert info == {"pid": 1, "pids": ["1"], "ppid": 0, "pid 1 is this python": True, "seccomp": ["2"]}, info
    world.check()


@x86_64_only
def test_code_injected_into_the_namespaces_pid_1_does_not_outlive_the_run(world):
    """Pid 1 is the sandboxed python itself: code written into its memory through /proc/1/mem runs under
    its seccomp filter (clearing PR_SET_PDEATHSIG is refused), names itself with the marker and waits
    forever; the parent kills it by its pidfd at the end of the run, and with it the namespace."""
    code = """
        import mmap

        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        at = ctypes.addressof(ctypes.c_char.from_buffer(m))
        fd = c_open("/proc/1/mem", os.O_RDWR)
        shellcode = bytes.fromhex(
            "b89d000000" "bf01000000" "31f6" "0f05"  # prctl(PR_SET_PDEATHSIG, 0)
            "b89d000000" "bf0f000000" "488d350b000000" "0f05"  # prctl(PR_SET_NAME, marker)
            "b822000000" "0f05" "ebf7"  # for (;;) pause();
        ) + P["marker"].encode() + b"\\0"
        os.pwrite(fd, shellcode, at)
        ctypes.CFUNCTYPE(ctypes.c_long)(at)()
    """
    done: list[SandboxResult] = []
    runner = threading.Thread(target=lambda: done.append(run_hostile(world, code, SHORT)))
    runner.start()
    seen = []
    while runner.is_alive() and not seen:
        seen = tasks_with(world.marker)
        time.sleep(0.05)
    runner.join()
    (res,) = done
    assert seen, "the injected code never ran"
    assert not res.ok and "timeout" in res.reason, res.reason
    world.check()


# -- resource exhaustion ----------------------------------------------------------------------------------

RESOURCES = {
    "4 GiB at once": ("x = bytearray(4 << 30)", "memory"),
    "memory grown without bound": ("junk = []\nwhile True:\n    junk.append(bytearray(1 << 24))", "memory"),
    "one huge file in the work directory": (
        "try:\n    with open('big', 'wb') as f:\n        while True:\n            f.write(bytes(1 << 20))\n"
        "except OSError:\n    os.write(2, b'big: %d bytes\\n' % os.path.getsize('big'))\n    raise",
        "exit 1",
    ),
    "an infinite loop": ("while True:\n    pass", "timeout"),
    "a busy loop with SIGXCPU ignored": (
        "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass",
        "timeout",
    ),
    "sleeping forever": ("import time\ntime.sleep(3600)", "timeout"),
    "a thread bomb": (
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
        ("exit 1", "crashed"),
    ),
    "unbounded recursion": (
        "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1)\nf(0)",
        ("crashed", "memory", "timeout"),
    ),
}


@pytest.mark.parametrize("label", list(RESOURCES))
def test_resource_exhaustion_is_stopped_within_the_limits_with_a_reason(world, label):
    code, reasons = RESOURCES[label]
    reasons = (reasons,) if isinstance(reasons, str) else reasons
    # A short limit where the run is meant to time out; room for a loaded machine where it is not.
    res = run_hostile(world, code, SHORT if "timeout" in reasons else LIMITS)
    assert not res.ok and any(r in res.reason for r in reasons), (res.reason, res.stderr[-500:])
    if label == "one huge file in the work directory":
        assert "File too large" in res.stderr
        size = re.search(r"big: (\d+) bytes", res.stderr)
        assert size and int(size.group(1)) <= LIMITS.file_bytes, res.stderr[-500:]
    world.check()


MiB = 1 << 20
HOG = Limits(seconds=10, memory_bytes=256 * MiB)


@dataclass(frozen=True)
class Hog:
    limits: Limits
    code: str  # ends normally, with INFO[held] what it managed to hold
    held: str
    bound: int  # what a contained run can hold at most


def _work_size(limits: Limits) -> int:
    return max(64 * MiB, 4 * limits.file_bytes)  # optimizer/sandbox.py: the work directory's tmpfs


# Ways to hold memory (or disk) that the address-space limit does not count.
RESOURCE_BOUNDS = {
    "memfd pages: memfd_create is refused": Hog(
        HOG,
        """
        fds = []
        try:
            for i in range(24):
                fd = os.memfd_create("hog%d" % i)
                for _ in range(16):
                    os.write(fd, bytes(1 << 20))
                fds.append(fd)
        except OSError as exc:
            INFO["refused"] = str(exc)
        INFO["bytes"] = len(fds) * 16 << 20
        """,
        "bytes",
        0,
    ),
    "files in /tmp: the sandbox's own tmpfs, 16 MiB (the root is read-only)": Hog(
        HOG,
        """
        n = 0
        try:
            attempt("a file on the root", lambda: c_open("/hog", os.O_WRONLY | os.O_CREAT))
            for i in range(24):
                fd = c_open("/tmp/hog%d" % i, os.O_WRONLY | os.O_CREAT)
                for _ in range(16):
                    n += os.write(fd, bytes(1 << 20))
        except OSError as exc:
            INFO["refused"] = str(exc)
        INFO["bytes"] = n
        """,
        "bytes",
        16 * MiB,
    ),
    "files under the per-file limit add up to the work directory's size at most": Hog(
        Limits(seconds=10, memory_bytes=512 * MiB, file_bytes=2 * MiB),
        """
        n = 0
        try:
            for i in range(48):
                with open("part%d" % i, "wb") as f:
                    f.write(bytes(2 << 20))
                n += 2 << 20
        except OSError as exc:
            INFO["refused"] = str(exc)
        INFO["bytes"] = n
        """,
        "bytes",
        _work_size(Limits(file_bytes=2 * MiB)),
    ),
    "threads with small stacks (no task limit): code a model wrote starts none": Hog(
        HOG,
        """
        attr = ctypes.create_string_buffer(64)
        libc.pthread_attr_init(attr)
        libc.pthread_attr_setstacksize(attr, ctypes.c_size_t(16384))
        tid = ctypes.c_ulong()
        for _ in range(4000):
            err = libc.pthread_create(ctypes.byref(tid), attr, ctypes.cast(libc.pause, ctypes.c_void_p), None)
            if err:
                INFO["refused"] = os.strerror(err)
                break
        INFO["tasks"] = len(os.listdir("/proc/self/task"))
        """,
        "tasks",
        1,
    ),
}


@pytest.mark.parametrize("label", list(RESOURCE_BOUNDS))
def test_resources_beyond_the_rlimits_are_bounded(world, label):
    hog = RESOURCE_BOUNDS[label]
    rep = report(run_hostile(world, hog.code, hog.limits))
    assert rep["info"][hog.held] <= hog.bound, rep["info"]
    assert all(v.startswith("refused") for v in rep["attempts"].values()), rep["attempts"]
    world.check()


RESOURCE_HOLES = {
    "files in /dev (bubblewrap's --dev tmpfs) are not counted and have no size limit": (
        Hog(
            HOG,
            """
            n = 0
            for i in range(24):
                fd = c_open("/dev/hog%d" % i, os.O_WRONLY | os.O_CREAT)
                for _ in range(16):
                    n += os.write(fd, bytes(1 << 20))
            INFO["bytes"] = n
            st = os.statvfs("/dev")
            INFO["/dev size"] = st.f_blocks * st.f_frsize
            """,
            "bytes",
            HOG.memory_bytes,
        ),
        "bubblewrap's --dev /dev is a tmpfs of its own, writable and without size= (half of RAM), and "
        "--remount-ro / does not cover it (a separate mount; the guard refuses Python's open there, libc's "
        "goes through): 384 MiB of RAM held in /dev files by a child limited to 256 MiB, until the run ends",
    ),
    "socketpair buffers are not counted": (
        Hog(
            HOG,
            """
            held, pairs, chunk = 0, 0, bytes(65536)
            while held < (384 << 20):
                sv = (ctypes.c_int * 2)()
                c(libc.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0, sv))
                pairs += 1
                while True:
                    try:
                        held += os.write(sv[0], chunk)
                    except BlockingIOError:
                        break
            INFO["bytes"], INFO["pairs"] = held, pairs
            """,
            "bytes",
            HOG.memory_bytes,
        ),
        "socketpair() is allowed (asyncio needs it) and what waits in a unix socket's buffers is kernel "
        "memory, not the address space: 384 MiB held in about 1700 pairs (~230 KiB each) by a child limited "
        "to 256 MiB; RLIMIT_NOFILE (20000 here) allows ~10,000 pairs, about 2.3 GiB, until the run ends",
    ),
    "SysV shared memory segments are not counted once detached": (
        Hog(
            HOG,
            """
            libc.shmat.restype = ctypes.c_void_p
            held = 0
            for i in range(3):
                sid = c(libc.shmget(0, ctypes.c_size_t(128 << 20), 0o1600))  # IPC_PRIVATE, IPC_CREAT | 0600
                addr = libc.shmat(sid, None, 0)
                ctypes.memset(addr, 1, 128 << 20)
                libc.shmdt(ctypes.c_void_p(addr))
                held += 128 << 20
            INFO["bytes"] = held
            """,
            "bytes",
            HOG.memory_bytes,
        ),
        "shmget/shmat are allowed: a segment counts against RLIMIT_AS only while attached, so 3 segments of "
        "128 MiB, each filled and detached, hold 384 MiB for a child limited to 256 MiB (kernel.shmall "
        "bounds the total); the segments go with the run's IPC namespace",
    ),
}


@pytest.mark.parametrize("label", list(RESOURCE_HOLES))  # each was a hole (its text says how); now bounded
def test_memory_outside_the_address_space_limit_is_bounded(world, label):
    hog, _ = RESOURCE_HOLES[label]
    res = run_hostile(world, hog.code, hog.limits)
    world.check()
    if res.ok:
        info = report(res)["info"]
        assert info[hog.held] <= hog.bound, info


# -- switching the guard off ------------------------------------------------------------------------------

GUARD = {
    "the audit hook's code replaced, then fork, an inet socket and workspace writes": """
        assert neutralize_guard() >= 1
        attempt("os.fork", os.fork)
        attempt("socket", lambda: socket.create_connection(("127.0.0.1", P["port"]), timeout=1))
        attempt("write the workspace", lambda: open(P["ws"] + "/calc.py", "a").write("pwned = 1\\n"))
        attempt("remove a workspace file", lambda: os.remove(P["ws"] + "/test_calc.py"))
    """,
    "os.path.realpath patched so that every path looks inside the work directory": """
        os.path.realpath = lambda p, *a, **k: os.getcwd()
        attempt("open for writing", lambda: open(P["ws"] + "/calc.py", "w").write("pwned = 1\\n"))
        attempt("os.remove", lambda: os.remove(P["ws"] + "/calc.py"))
        attempt("os.rename", lambda: os.rename(P["ws"] + "/calc.py", "stolen.py"))
        attempt("shutil.rmtree", lambda: __import__("shutil").rmtree(P["ws"]))
    """,
    "sys.modules tricks: a fake guard, a fresh seccomp module, os reloaded": """
        import importlib, types

        sys.modules["_slipstream_sandboxed.guard"] = types.ModuleType("_slipstream_sandboxed.guard")
        del sys.modules["_slipstream_sandboxed.seccomp"]
        importlib.reload(os)
        neutralize_guard()
        attempt("os.fork", os.fork)
        attempt("libc socket", lambda: c(libc.socket(2, 1, 0)))
        attempt("write the workspace", lambda: open(P["ws"] + "/calc.py", "w"))
    """,
    "a permissive seccomp filter of its own (filters only stack), then fork and socket": """
        prog = struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000)  # return ALLOW

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buf = ctypes.create_string_buffer(prog, len(prog))
        INFO["installed"] = libc.prctl(22, 2, ctypes.byref(Prog(1, ctypes.addressof(buf))), 0, 0)
        attempt("libc fork", lambda: c(libc.fork()))
        attempt("libc socket", lambda: c(libc.socket(2, 1, 0)))
    """,
    "io_uring, bpf, userfaultfd, perf_event_open, keyctl, init_module, PDEATHSIG cleared, memfd": """
        if P["x86_64"]:
            attempt("io_uring_setup", lambda: c(libc.syscall(425, 8, ctypes.create_string_buffer(120))))
            attempt("bpf", lambda: c(libc.syscall(321, 0, ctypes.create_string_buffer(128), 128)))
            attempt("userfaultfd", lambda: c(libc.syscall(323, 0)))
            attempt("perf_event_open", lambda: c(libc.syscall(298, ctypes.create_string_buffer(128), 0, -1, -1, 0)))
            attempt("keyctl", lambda: c(libc.syscall(250, 0, -3, 0)))
            attempt("init_module", lambda: c(libc.syscall(175, None, 0, b"")))
        attempt("libc unshare(CLONE_NEWNET)", lambda: c(libc.unshare(0x40000000)))
        attempt("prctl(PR_SET_PDEATHSIG, 0)", lambda: c(libc.prctl(1, 0, 0, 0, 0)))
        attempt("memfd_create", lambda: c(libc.memfd_create(b"hog", 0)))
        attempt("os.memfd_create", lambda: os.memfd_create("hog"))
    """,
}


@pytest.mark.parametrize("label", list(GUARD))
def test_with_the_guard_switched_off_the_os_still_refuses(world, label):
    rep = assert_all_refused(run_hostile(world, GUARD[label]))
    if "hooks neutralized" in rep["info"]:
        assert rep["info"]["hooks neutralized"] >= 1
        assert not [v for v in rep["attempts"].values() if "sandbox:" in v], rep  # the OS said no, not the hook
    world.check()


ABI_TRICKS = {
    "fork by its x32 system call number (0x40000000 | 57)": "libc.syscall(0x40000000 | 57)",
    "fork through the i386 ABI (int 0x80, machine code in an executable mapping)": """
        import mmap
        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        m.write(bytes([0xB8, 2, 0, 0, 0, 0xCD, 0x80, 0xC3]))  # mov eax, 2 (fork); int 0x80; ret
        ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
    """,
}


@x86_64_only
@pytest.mark.parametrize("label", list(ABI_TRICKS))
def test_system_calls_of_another_abi_kill_the_process(world, label):
    res = run_hostile(world, ABI_TRICKS[label])
    assert not res.ok and res.reason == "crashed: SIGSYS", (res.reason, res.stderr[-500:])
    world.check()


def test_the_world_sees_an_honest_run(world):
    """The harness of this suite is not blind: a harmless run reports back, and a connection from this
    process to its own listener is counted."""
    res = run_hostile(world, 'INFO["cwd"] = os.getcwd()\nINFO["sees ws"] = os.path.isfile(P["ws"] + "/calc.py")')
    assert report(res)["info"]["sees ws"] is True
    world.check()
    with socket.create_connection(("127.0.0.1", world.tcp.sock.getsockname()[1])) as s:
        s.sendall(b"hi")
    for _ in range(100):
        if world.tcp.connections:
            break
        threading.Event().wait(0.02)
    assert world.tcp.connections == 1
    world.tcp.connections = 0
    assert os.environ.get("SLIPSTREAM_TEST_SECRET") == world.secret
