"""A seccomp filter for the kernel: system calls no analysis needs, and that make the host
kernel's attack surface larger, fail with EPERM.

Compiled once per process with libseccomp (the C library: Debian's libseccomp2, present on
nearly every system since systemd depends on it), through ctypes; no Python package needed.
The launcher installs the compiled BPF program right before it starts ipykernel, after
no-new-privs and after it dropped to the session's uid, at every isolation level. Without
libseccomp the layer is simply absent and `airlock doctor` says so.

Denied: ptrace and cross-process memory access, namespaces (unshare, setns, clone with any
CLONE_NEW* flag; clone3 answers ENOSYS so that libc falls back to clone, whose flags can be
inspected), mounting, keyrings, BPF, perf events, io_uring, userfaultfd, kernel modules,
kexec, reboot, swap, accounting, quotas, the kernel log, file handles; and sockets of any family
but unix, IPv4/IPv6 (loopback only, in the sandbox's own network namespace) and netlink (libzmq
lists interfaces through it): no AF_VSOCK to the hypervisor, no AF_ALG, AF_PACKET, Bluetooth...
(EAFNOSUPPORT, as on a kernel built without them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import tempfile

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


#: Each fails with EPERM.
DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "vhangup",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "uselib",
)
#: Fail with ENOSYS: callers (glibc's posix_spawn, fork) fall back to an inspectable call.
UNSUPPORTED = ("clone3",)
CLONE_NEW_FLAGS = (
    0x00000080,  # CLONE_NEWTIME
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


#: Socket families that stay allowed: AF_UNIX, AF_INET, AF_INET6, AF_NETLINK.
ALLOWED_FAMILIES = frozenset({1, 2, 10, 16})
#: Families are below 64 (AF_MAX is 46 on Linux 6.x); anything higher the kernel refuses itself.
_FAMILY_LIMIT = 64
#: socket()'s family is an int: compare its low 32 bits only, whatever the register's upper half.
_LOW_32_BITS = 0xFFFFFFFF


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class SeccompUnavailable(RuntimeError):
    pass


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp not found ({exc}): install libseccomp2") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _compile() -> bytes:
    lib = _library()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:

        def rule(action: int, name: str, *compare: _ArgCmp) -> None:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # not a system call on this architecture
                return
            array = (_ArgCmp * len(compare))(*compare) if compare else None
            result = lib.seccomp_rule_add_array(ctx, action, number, len(compare), array)
            if result < 0:
                raise SeccompUnavailable(f"seccomp rule for {name}: {os.strerror(-result)}")

        for name in DENIED:
            rule(_errno_action(errno.EPERM), name)
        for name in UNSUPPORTED:
            rule(_errno_action(errno.ENOSYS), name)
        for flag in CLONE_NEW_FLAGS:
            rule(_errno_action(errno.EPERM), "clone", _ArgCmp(0, SCMP_CMP_MASKED_EQ, flag, flag))
        for family in sorted(set(range(_FAMILY_LIMIT)) - ALLOWED_FAMILIES):
            for call in ("socket", "socketpair"):
                rule(
                    _errno_action(errno.EAFNOSUPPORT),
                    call,
                    _ArgCmp(0, SCMP_CMP_MASKED_EQ, _LOW_32_BITS, family),
                )
        with tempfile.TemporaryFile() as out:
            result = lib.seccomp_export_bpf(ctx, out.fileno())
            if result < 0:
                raise SeccompUnavailable(f"seccomp_export_bpf: {os.strerror(-result)}")
            out.seek(0)
            program = out.read()
    finally:
        lib.seccomp_release(ctx)
    if not program or len(program) % 8:
        raise SeccompUnavailable("libseccomp exported an empty or malformed program")
    return program


@functools.cache
def program() -> bytes | None:
    """The compiled BPF program (8-byte instructions), or None where it cannot be had."""
    try:
        return _compile()
    except SeccompUnavailable:
        return None


@functools.cache
def unavailable() -> str | None:
    """Why there is no seccomp layer, or None when there is one."""
    try:
        _compile()
    except SeccompUnavailable as exc:
        return str(exc)
    return None
