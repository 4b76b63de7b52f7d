"""A seccomp filter the sandboxed process installs on itself before any user code runs.

Written as a classic BPF program with ctypes (no libseccomp needed). Always denied: ``socket()`` of any
family (no network, and no connecting to a path socket in a visible folder), ``memfd_create`` and SysV
shared memory, semaphores and message queues (memory outside the address-space limit), ptrace and cross-process
memory access, mount/unshare/setns/pivot_root/chroot, keyrings, bpf, perf events, userfaultfd,
io_uring, kernel modules, ``prctl(PR_SET_PDEATHSIG)`` (the process may not outlive its parent), and
``sched_setaffinity`` (a timed process stays on the CPU it was measured on: optimizer/measure.py pins both
sides to one, and a variant that moved itself to a quieter CPU would forge its speedup).
Unless ``processes``: no new processes and no exec (clone without CLONE_THREAD, fork, vfork, execve,
execveat; clone3 answers ENOSYS so glibc falls back to clone): a fork bomb gets EPERM on its first fork.
Unless ``threads`` as well: no clone at all (code a model wrote runs single-threaded, so it cannot
start a thread bomb or a thread that answers the parent behind the harness's back) and no
``socketpair`` (the user's own code keeps it: asyncio's event loop needs one). Syscalls of another
ABI (x32) kill the process. Only x86-64 and AArch64 have tables; elsewhere ``install`` raises and the
run is refused.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_ALLOW, _ERRNO, _KILL = 0x7FFF0000, 0x00050000, 0x80000000
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_CLONE_THREAD = 0x00010000

# name -> (x86_64, aarch64); None where the ABI has no such call.
_NR = {
    "fork": (57, None),
    "vfork": (58, None),
    "execve": (59, 221),
    "execveat": (322, 281),
    "clone": (56, 220),
    "clone3": (435, 435),
    "socket": (41, 198),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "mount": (165, 40),
    "umount2": (166, 39),
    "unshare": (272, 97),
    "setns": (308, 268),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "kexec_load": (246, 104),
    "memfd_create": (319, 279),
    "shmget": (29, 194),
    "shmat": (30, 196),
    "shmctl": (31, 195),
    "semget": (64, 190),
    "msgget": (68, 186),
    "socketpair": (53, 199),
    "prctl": (157, 167),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "sched_setaffinity": (203, 122),
}
_ALWAYS = [n for n in _NR if n not in ("fork", "vfork", "execve", "execveat", "clone", "clone3", "prctl", "socketpair")]
_PR_SET_PDEATHSIG = 1
_ARCH = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine: str, processes: bool = False, threads: bool = True) -> bytes:
    """The filter for ``machine`` (``platform.machine()``) as packed ``sock_filter`` structs."""
    if machine not in _ARCH:
        raise OSError(f"no seccomp table for {machine}")
    col, arch = _ARCH[machine]
    out = [_ins(_LD_ABS, 4), _ins(_JEQ, arch, 1, 0), _ins(_RET, _KILL), _ins(_LD_ABS, 0)]
    if machine == "x86_64":
        out += [_ins(_JGE, 0x40000000, 0, 1), _ins(_RET, _KILL)]  # x32 ABI

    def deny(name: str, err: int = errno.EPERM) -> None:
        nr = _NR[name][col]
        if nr is not None:
            out.extend([_ins(_JEQ, nr, 0, 1), _ins(_RET, _ERRNO | err)])

    for name in _ALWAYS:
        deny(name)
    # prctl(option, ...): everything but PR_SET_PDEATHSIG (clearing it would let the process outlive its parent).
    out += [
        _ins(_JEQ, _NR["prctl"][col], 0, 4),  # type: ignore[arg-type]
        _ins(_LD_ABS, 16),
        _ins(_JEQ, _PR_SET_PDEATHSIG, 0, 1),
        _ins(_RET, _ERRNO | errno.EPERM),
        _ins(_RET, _ALLOW),
    ]
    if not processes:
        for name in ("fork", "vfork", "execve", "execveat"):
            deny(name)
        deny("clone3", errno.ENOSYS)
        if threads:  # clone only for a thread
            out += [
                _ins(_JEQ, _NR["clone"][col], 0, 4),  # type: ignore[arg-type]
                _ins(_LD_ABS, 16),
                _ins(_JSET, _CLONE_THREAD, 0, 1),
                _ins(_RET, _ALLOW),
                _ins(_RET, _ERRNO | errno.EPERM),
            ]
        else:
            deny("clone")
            deny("socketpair")  # buffers outside the address-space limit; only asyncio's loop needs one
    out.append(_ins(_RET, _ALLOW))
    return b"".join(out)


def install(processes: bool = False, threads: bool = True) -> None:
    """Apply the filter to this process (and its threads started later); raises OSError if it cannot."""
    code = program(platform.machine(), processes, threads)
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(code) // 8, ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
