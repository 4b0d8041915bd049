"""Starts a kernel inside the sandbox: the last step before ipykernel runs.

Runs with the *kernel's* interpreter (possibly an analyst's own environment), so it uses the
standard library only and is not imported by Airlock itself. It reads a JSON plan, applies what
must be done from inside (namespaces set-up, resource limits, no-new-privs, subreaper), then
replaces itself with ipykernel, keeping its pid so that signals reach the kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import resource
import signal
import socket
import stat
import struct
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SECCOMP_MODE_FILTER = 2
MS_BIND = 4096
MS_REC = 16384
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
NESTED_ID = 1000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _loopback_up() -> None:
    # ipykernel's IOPub pipe for forked children binds tcp://127.0.0.1: without lo their
    # output would vanish silently.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _namespaces(plan: dict[str, Any]) -> None:
    """Inside `unshare --mount --net --pid ...`: what bubblewrap would do, by hand."""
    _loopback_up()
    # unshare(1) already made mount propagation private and mounted a /proc for the new pid
    # namespace. /mnt becomes a small tmpfs holding /mnt/data and a staging area.
    _mount("tmpfs", "/mnt", "tmpfs", 0, "size=1m,mode=755")
    os.mkdir("/mnt/data")
    _mount(plan["workspace"], "/mnt/data", None, MS_BIND | MS_REC, None)
    # Hide home folders under an empty tmpfs, keeping visible only the folders the kernel
    # needs that live inside them (a Python installed under the home folder, say).
    for hidden, size in plan.get("hide", []):
        keep = [k for k in plan.get("keep", []) if k.startswith(hidden.rstrip("/") + "/")]
        staged = []
        for folder in keep:
            stage = f"/mnt/.keep{len(os.listdir('/mnt'))}"
            os.mkdir(stage)
            _mount(folder, stage, None, MS_BIND | MS_REC, None)
            staged.append((stage, folder))
        mode = "1777" if hidden in ("/tmp", "/var/tmp", "/dev/shm") else "755"
        _mount("tmpfs", hidden, "tmpfs", 0, f"size={size},mode={mode}")
        for stage, folder in staged:
            os.makedirs(folder, mode=0o755, exist_ok=True)
            _mount(stage, folder, None, MS_BIND | MS_REC, None)


def _nest_user_namespace() -> None:
    """Leave namespace-root for an ordinary uid in a nested user namespace.

    Run unprivileged, unshare(1) made us root of a user namespace, which could unmount what
    hides the home folders. In a nested namespace whose uid 1000 maps to that root, with a new
    mount namespace, the inherited mounts are locked and we hold no capability over them.
    """
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(f"{NESTED_ID} 0 1")
    os.setresgid(NESTED_ID, NESTED_ID, NESTED_ID)
    os.setresuid(NESTED_ID, NESTED_ID, NESTED_ID)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install_seccomp(program: bytes) -> None:
    """Install the BPF program compiled on the host (see sandbox/seccomp.py). Needs
    no-new-privs (set before); inherited by everything the kernel starts, never removable."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(
        _libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0),
        "seccomp",
    )


def _init(child: int) -> None:
    """pid 1 of the sandbox's pid namespace: reap orphans, leave with the kernel's status."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.WEXITSTATUS(status))


def _drop_privileges(uid: int, gid: int) -> None:
    """From (namespace) root to the session's own unprivileged uid, with no way back."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            break
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _clear_capabilities() -> None:
    """Empty every capability set. Changing to a non-zero uid empties the effective and permitted
    sets but keeps the inheritable one (bubblewrap fills it with what it was told to keep)."""
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two __user_cap_data_struct, all zero
    _check(_libc.capset(header, data), "capset")


def _host_gone(fd: int) -> bool:
    """True when the host's lifeline (sandbox/lifeline.py) is at end of file: the host died,
    possibly before the wrappers above us armed their death signals."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
    except OSError:
        return False
    os.set_blocking(fd, False)
    try:
        gone = os.read(fd, 1) == b""
    except BlockingIOError:
        gone = False
    os.close(fd)
    return gone


def main() -> None:
    with open(sys.argv[1]) as handle:
        plan = json.load(handle)
    # Every wrapper between the host and us has armed its parent-death signal by now: if the
    # host still lives, its death will reach us; if it is gone already, nothing will.
    if plan.get("lifeline_fd") is not None and _host_gone(plan["lifeline_fd"]):
        os._exit(1)
    if plan.get("namespaces"):
        _namespaces(plan)
        # unshare(1) made us pid 1 of a new pid namespace: stay its init, so that orphans are
        # reaped (never zombies filling the process cap), and run the kernel as our child.
        child = os.fork()
        if child:
            _init(child)
    # No setuid binary can give back what is dropped below.
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    for name, value in plan["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if plan.get("drop_to"):
        _drop_privileges(*plan["drop_to"])
    elif plan.get("namespaces"):
        _nest_user_namespace()
    _clear_capabilities()
    if plan.get("parent_pid"):
        # Die with the host when no sandbox does it for us. Set after the uid change, which
        # clears it; then make sure the host did not die before.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != plan["parent_pid"]:
            os._exit(1)
    os.chdir(plan["cwd"])
    os.umask(0o077)
    if plan.get("seccomp"):
        # Last: the steps above need unshare (nested namespace), which it denies.
        _install_seccomp(bytes.fromhex(plan["seccomp"]))
    argv = plan["argv"]
    # Ignored across the exec until ipykernel takes SIGINT over (it ignores it too, and turns
    # it on only while a cell runs): a stray interrupt while it imports must not kill it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execve(argv[0], argv, plan["env"])


if __name__ == "__main__":
    main()
