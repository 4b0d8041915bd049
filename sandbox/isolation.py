"""Probing what isolation this machine allows, and building the command line for each level.

bubblewrap: no network, read-only system, only the workspace writable, private /tmp, own pid
namespace, nothing of the home folder or of other sessions visible, no capabilities, dies with
its parent. namespaces: the same walls built by hand with unshare(1) when bwrap is missing,
except that the host's file system stays visible (home folders and the scratch folders /tmp,
/var/tmp, /dev/shm are replaced by private ones).
none: resource limits and a scrubbed environment only. At every level the launcher installs
a seccomp filter (sandbox/seccomp.py) where libseccomp is present: no ptrace, namespaces,
mounts, keyrings, BPF, perf events, io_uring or userfaultfd.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import seccomp
from .limits import IsolationLevel

PACKAGE_DIR = Path(__file__).resolve().parent
LAUNCHER = PACKAGE_DIR / "_launcher.py"
KERNEL_STARTUP = PACKAGE_DIR / "_kernel_startup.py"
#: Where the launcher and the kernel start-up file appear inside bubblewrap.
SANDBOX_TOOLS = Path("/opt/airlock")

#: Host files under /etc that programs commonly need; nothing secret.
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
    "/etc/mime.types",
    "/etc/fonts",
    "/etc/ssl/certs",
)
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
#: World-writable host folders that the namespaces level replaces with private tmpfs.
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


@dataclass(frozen=True)
class PythonInfo:
    """The interpreter a kernel runs, and the folders it needs to see."""

    executable: Path
    prefixes: tuple[Path, ...]
    has_ipykernel: bool
    version: tuple[int, int] = (3, 0)


@functools.cache
def python_info(executable: Path | None = None) -> PythonInfo:
    if executable is None:
        folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        return PythonInfo(
            Path(sys.executable),
            tuple(sorted(Path(p) for p in folders)),
            has_ipykernel=_module_exists("ipykernel"),
            version=(sys.version_info.major, sys.version_info.minor),
        )
    script = (
        "import sys, json, importlib.util as u; print(json.dumps([sorted({sys.prefix, "
        "sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}), "
        "u.find_spec('ipykernel') is not None, list(sys.version_info[:2])]))"
    )
    output = subprocess.run(
        [str(executable), "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    prefixes, has_ipykernel, version = json.loads(output)
    return PythonInfo(
        executable,
        tuple(Path(p) for p in prefixes),
        bool(has_ipykernel),
        (int(version[0]), int(version[1])),
    )


def _module_exists(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def home_folders() -> list[str]:
    """Folders that hold people's files: hidden from the kernel at the namespaces level."""
    found = {"/root", "/home", os.path.expanduser("~")}
    return sorted(f for f in found if f not in ("/", "") and os.path.isdir(f))


@dataclass
class LaunchPlan:
    """How one kernel (or a probe) is started: the wrapper, then the launcher's JSON plan."""

    level: IsolationLevel
    python: PythonInfo
    run_dir: Path
    workspace: Path
    argv: list[str]
    env: dict[str, str]
    rlimits: dict[str, int]
    uid: int
    gid: int
    tmp_bytes: int
    #: The host's lifeline read end (sandbox/lifeline.py), inherited by the sandbox; None for
    #: launches the host waits on anyway (probes).
    lifeline_fd: int | None = None

    @property
    def privileged(self) -> bool:
        """Started by root: the wrappers run privileged and the launcher drops to `uid`."""
        return os.geteuid() == 0

    def launcher_plan(self) -> dict[str, Any]:
        level = self.level
        return {
            "argv": self.argv,
            "env": self.env,
            "rlimits": self.rlimits,
            # A neutral folder nobody in the sandbox can write: no file of the workspace is
            # read as configuration or imported while the kernel starts.
            "cwd": "/",
            "namespaces": level is IsolationLevel.NAMESPACES,
            "workspace": str(self.workspace),
            # Home folders hidden; the host's shared scratch folders replaced by private ones
            # (no writing to the host, nothing left for the next session).
            "hide": (
                [[f, "1m"] for f in home_folders()]
                + [[f, str(self.tmp_bytes)] for f in _SCRATCH_DIRS if os.path.isdir(f)]
                if level is IsolationLevel.NAMESPACES
                else []
            ),
            "keep": [str(p) for p in (*self.python.prefixes, PACKAGE_DIR, self.run_dir)],
            "parent_pid": os.getpid() if level is IsolationLevel.NONE else None,
            "lifeline_fd": self.lifeline_fd,
            "drop_to": [self.uid, self.gid] if self.privileged else None,
            "seccomp": program.hex() if (program := seccomp.program()) else None,
        }

    def write(self) -> Path:
        """Write the launcher's plan and the sandbox's /etc/passwd into the run folder."""
        plan_file = self.run_dir / "plan.json"
        # Read by the launcher while still (namespace) root: stays the host's, 0600.
        plan_file.write_text(json.dumps(self.launcher_plan()))
        plan_file.chmod(0o600)
        home = self.env.get("HOME", "/tmp")
        (self.run_dir / "passwd").write_text(
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"sandbox:x:{self.uid}:{self.gid}:sandbox:{home}:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (self.run_dir / "passwd").chmod(0o644)
        return plan_file

    def command(self) -> list[str]:
        plan_file = str(self.run_dir / "plan.json")
        python = str(self.python.executable)
        if self.level is IsolationLevel.BUBBLEWRAP:
            return [*self._bubblewrap(), python, str(SANDBOX_TOOLS / "launcher.py"), plan_file]
        if self.level is IsolationLevel.NAMESPACES:
            return [*self._unshare(), python, str(LAUNCHER), plan_file]
        return [python, str(LAUNCHER), plan_file]

    def _bubblewrap(self) -> list[str]:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise FileNotFoundError("bwrap")
        if self.privileged:
            # Root needs no user namespace; the launcher keeps just enough to switch to the
            # session's uid, then drops everything.
            namespaces = [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--cap-drop",
                "ALL",
            ]
            namespaces += [
                a for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP") for a in ("--cap-add", cap)
            ]
        else:
            namespaces = ["--unshare-all", "--cap-drop", "ALL"]
        args = [
            bwrap,
            *namespaces,
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--perms",
            "1777",
            "--size",
            str(self.tmp_bytes),
            "--tmpfs",
            "/tmp",
            # bwrap's /dev/shm is root's 0755: POSIX semaphores (multiprocessing) need it
            # writable; a capped tmpfs of its own, as /tmp.
            "--perms",
            "1777",
            "--size",
            str(self.tmp_bytes),
            "--tmpfs",
            "/dev/shm",
        ]
        for directory in _SYSTEM_DIRS:
            if os.path.islink(directory):
                args += ["--symlink", os.readlink(directory), directory]
            elif os.path.isdir(directory):
                args += ["--ro-bind", directory, directory]
        etc_files = [item for item in _ETC_FILES if os.path.exists(item)]
        # bwrap would create missing parents of a bind target with the source's mode (0700
        # for the workspace, say): make them traversable for the unprivileged kernel first.
        parents = {Path("/mnt"), Path("/opt/airlock"), *self.run_dir.parents}
        for target in [*map(Path, etc_files), *self.python.prefixes]:
            parents.update(target.parents)
        for parent in sorted(parents - {Path("/"), Path("/tmp")}, key=lambda p: len(p.parts)):
            if not any(parent.is_relative_to(d) for d in _SYSTEM_DIRS):
                args += ["--perms", "0755", "--dir", str(parent)]
        for item in etc_files:
            args += ["--ro-bind", item, item]
        args += ["--ro-bind", str(self.run_dir / "passwd"), "/etc/passwd"]
        for prefix in self.python.prefixes:
            args += ["--ro-bind", str(prefix), str(prefix)]
        args += [
            "--ro-bind",
            str(LAUNCHER),
            str(SANDBOX_TOOLS / "launcher.py"),
            "--ro-bind",
            str(KERNEL_STARTUP),
            str(SANDBOX_TOOLS / "startup.py"),
            # After /tmp's tmpfs: a bind under /tmp made before it would be hidden.
            "--bind",
            str(self.run_dir),
            str(self.run_dir),
            "--bind",
            str(self.workspace),
            "/mnt/data",
            "--chdir",
            "/",
            "--",
        ]
        return args

    def _unshare(self) -> list[str]:
        unshare = shutil.which("unshare")
        if unshare is None:
            raise FileNotFoundError("unshare")
        user = [] if self.privileged else ["--user", "--map-root-user"]
        # unshare(1) itself must die with Airlock: its --kill-child then ends the sandbox.
        setpriv = shutil.which("setpriv")
        die_with_parent = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        return [
            *die_with_parent,
            unshare,
            *user,
            "--net",
            "--mount",
            "--pid",
            "--ipc",
            "--uts",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--",
        ]


def kernel_startup_path(level: IsolationLevel) -> Path:
    return SANDBOX_TOOLS / "startup.py" if level is IsolationLevel.BUBBLEWRAP else KERNEL_STARTUP
