"""The kernel's run folder and the host's connection to it: where the host meets the sandbox.

    run/          root's (Airlock's), 0711; the kernel sees it at the same path
      plan.json   the launcher's plan, 0600
      passwd      the sandbox's /etc/passwd, 0644
      kernel.json the connection file: a random HMAC key per start; readable by the kernel's
                  group, writable by nobody but the host
      home/       level none only: the kernel's home, emptied at every start
      sock/       the only folder the kernel may write, for its ipc sockets, and only until they
                  exist: then the host takes it back
    connect/      outside the sandbox's view: the host's hard links to those sockets

The host never connects to a path the kernel could change. Once the kernel bound its sockets,
the host hard-links each one (linkat, not following links) into connect/, a folder of its own,
and checks that the link is a socket owned by the kernel's uid: a symlink, or another file
planted under a socket's name, is refused, and no later swap in sock/ can redirect it. The
connection's details come from memory, never from re-reading kernel.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_client.connect import KernelConnectionInfo, write_connection_file

from .identity import SandboxUser

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: How often the host looks for the kernel's sockets while it starts.
_POLL = 0.02


class KernelStartError(RuntimeError):
    """The kernel did not come up; the message carries its log."""


class RunFolder:
    def __init__(self, session_dir: Path, user: SandboxUser, *, home: bool) -> None:
        self.run_dir = session_dir / "run"
        self.sock_dir = self.run_dir / "sock"
        self.connect_dir = session_dir / "connect"
        self.connection_file = self.run_dir / "kernel.json"
        self.user = user
        self.home = self.run_dir / "home" if home else None
        self._root = os.geteuid() == 0

    def _give(self, path: Path, mode: int) -> None:
        """A folder of the kernel's own."""
        path.mkdir(mode=mode)
        path.chmod(mode)
        if self._root:
            os.chown(path, self.user.uid, self.user.gid)

    def prepare(self) -> KernelConnectionInfo:
        """A fresh run folder and connection file; returns the connection's details."""
        # Nothing of an earlier kernel survives a restart: not its sockets, not its home (an
        # IPython startup file planted there would run at the next start).
        for folder in (self.run_dir, self.connect_dir):
            shutil.rmtree(folder, ignore_errors=True)
        # 0711: the launcher, still root but without DAC capabilities, must reach plan.json;
        # nothing in it can be listed, and each file keeps its own owner-only mode.
        self.run_dir.mkdir(mode=0o711)
        self.run_dir.chmod(0o711)
        self.connect_dir.mkdir(mode=0o700)
        self._give(self.sock_dir, 0o700)
        if self.home is not None:
            self._give(self.home, 0o700)
        _, info = write_connection_file(
            str(self.connection_file),
            transport="ipc",
            ip=str(self.sock_dir / "k"),
            key=secrets.token_hex(32).encode(),
            kernel_name="airlock",
        )
        if self._root:
            os.chown(self.connection_file, 0, self.user.gid)
            self.connection_file.chmod(0o640)
        else:
            self.connection_file.chmod(0o600)
        return info

    @staticmethod
    def _socket_names(info: KernelConnectionInfo) -> list[str]:
        ports = (
            info.get("shell_port"),
            info.get("iopub_port"),
            info.get("stdin_port"),
            info.get("control_port"),
            info.get("hb_port"),
        )
        return [f"k-{port}" for port in ports]

    async def connectable(
        self, info: KernelConnectionInfo, alive: Callable[[], bool], timeout: float
    ) -> KernelConnectionInfo:
        """Wait for the kernel's sockets, take sock/ back and link them into connect/; returns
        the details to connect with. KernelStartError if that fails or the kernel died."""
        names = self._socket_names(info)
        sock = os.open(self.sock_dir, _DIR)
        try:
            deadline = time.monotonic() + timeout
            while not all(_is_socket(name, sock) for name in names):
                if not alive():
                    raise KernelStartError("the kernel exited before it opened its sockets")
                if time.monotonic() > deadline:
                    raise KernelStartError(f"the kernel's sockets did not appear in {timeout:g} s")
                await asyncio.sleep(_POLL)
            if self._root:
                os.fchown(sock, 0, 0)  # from now on the kernel cannot add, swap or remove
            self._link(sock, names)
        finally:
            os.close(sock)
        connect: KernelConnectionInfo = {**info, "ip": str(self.connect_dir / "k")}
        return connect

    def _link(self, sock: int, names: list[str]) -> None:
        connect = os.open(self.connect_dir, _DIR)
        try:
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=connect)
                try:
                    os.link(name, name, src_dir_fd=sock, dst_dir_fd=connect, follow_symlinks=False)
                    info = os.stat(name, dir_fd=connect, follow_symlinks=False)
                except OSError as exc:
                    raise KernelStartError(
                        f"cannot link the kernel's socket {name}: {exc.strerror}"
                    ) from None
                if not stat.S_ISSOCK(info.st_mode) or info.st_uid != self.user.uid:
                    os.unlink(name, dir_fd=connect)
                    raise KernelStartError(
                        f"refused to connect to {name}: not a socket the kernel created (type "
                        f"{stat.filemode(info.st_mode)[0]}, owner {info.st_uid})"
                    )
        finally:
            os.close(connect)


def _is_socket(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
