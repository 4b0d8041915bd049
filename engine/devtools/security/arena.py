"""The host-side stage an attack catalogue runs against: secrets to steal, places to write to,
listeners to exfiltrate to, a stand-in server process to kill or snoop on.

Everything holds one random canary string, so that a leak is found by looking for the canary
wherever the attack could have put it (its output, the listeners, the shared folders), never by
trusting the attack's own report. The code under attack is given paths and ports, never the
canary itself.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.store import Store

#: Names of the files attacks leave in shared places (/tmp, /dev/shm...): cleaned after each case.
MARKER = "airlock-attack"


#: Sleeps, and leaves as soon as the runner that started it is gone (never left behind).
_SERVER_STAND_IN = (
    "import os, time\nparent = os.getppid()\nwhile os.getppid() == parent: time.sleep(0.5)"
)


def _arena_parent() -> Path:
    # Outside the home folders and the scratch folders: a host folder the namespaces level
    # does not hide, as an application's data folder under /var/lib would be.
    for candidate in ("/var/lib", "/var/tmp", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return Path(candidate)
    return Path(tempfile.gettempdir())


@dataclass
class Listener:
    """What the host's loopback listeners received: any byte here is an exfiltration."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Connections accepted and still being read.
    draining: int = 0

    def record(self, where: str, data: bytes) -> None:
        with self.lock:
            self.received.append((where, data))

    def drain_started(self) -> None:
        with self.lock:
            self.draining += 1

    def drain_ended(self) -> None:
        with self.lock:
            self.draining -= 1

    def take(self) -> list[tuple[str, bytes]]:
        with self.lock:
            found, self.received = self.received, []
        return found


class Arena:
    """Host-side secrets, writable places, listeners and a server process. Use as a context
    manager; `close()` removes everything it made."""

    def __init__(self) -> None:
        self.canary = f"AIRLOCK-CANARY-{secrets.token_hex(12)}"
        #: Prefix of everything attacks may leave in shared places; unique per arena, so that
        #: two runs at once never count (or clean) each other's leftovers.
        self.marker = f"{MARKER}-{secrets.token_hex(4)}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{MARKER}-arena-", dir=_arena_parent()))
        self.root.chmod(0o755)
        host = self.root / "host"
        host.mkdir(mode=0o755)
        host.chmod(0o755)
        #: World-readable: only the sandbox's walls keep it from the code.
        self.secret_path = host / "secret.txt"
        self.secret_path.write_text(f"password={self.canary}\n")
        self.secret_path.chmod(0o644)
        #: Readable by its owner only: file permissions keep it from the code.
        self.root_only_path = host / "root-only.txt"
        self.root_only_path.write_text(f"token={self.canary}\n")
        self.root_only_path.chmod(0o600)
        #: World-writable like /tmp or /var/tmp: only the walls keep the code from writing here.
        self.drop_dir = self.root / "drop"
        self.drop_dir.mkdir()
        self.drop_dir.chmod(0o1777)
        #: An Airlock data folder (the store) holding another user's upload.
        self.data_dir = self.root / "data"
        self.data_dir.mkdir()
        with Store(self.data_dir) as store:
            self.store_file_id = store.create_file(
                io.BytesIO(f"another user's upload {self.canary}\n".encode()),
                "private.csv",
                "assistants",
            ).id
        self.listener = Listener()
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self.tcp_port = self._serve_tcp()
        self.udp_port = self._serve_udp()
        run = self.root / "run"
        run.mkdir()
        run.chmod(0o755)
        #: A host service's pathname socket, connectable by anyone (like a docker socket).
        self.unix_socket = run / "service.sock"
        self._serve_unix(str(self.unix_socket), "unix")
        os.chmod(self.unix_socket, 0o777)
        self.abstract_name = f"{MARKER}-{secrets.token_hex(6)}"
        self._serve_unix("\0" + self.abstract_name, "abstract")
        #: A stand-in for the server: its environment and command line hold the canary.
        self.server = subprocess.Popen(
            [sys.executable, "-c", _SERVER_STAND_IN, f"--api-key={self.canary}"],
            env=self.server_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.runner_pid = os.getpid()
        self._secret_content = self.secret_path.read_bytes()

    # -- listeners ---------------------------------------------------------------------
    def _thread(self, target: Any, *args: Any) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    def _accept_loop(self, server: socket.socket, where: str) -> None:
        server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            self.listener.drain_started()
            self._thread(self._drain, conn, where)

    def _drain(self, conn: socket.socket, where: str) -> None:
        try:
            with conn:
                conn.settimeout(2)
                self.listener.record(where, b"<connected>")
                with contextlib.suppress(OSError):
                    while data := conn.recv(65536):
                        self.listener.record(where, data)
        finally:
            self.listener.drain_ended()

    def settle(self, timeout: float = 3.0) -> bool:
        """Wait until the listeners have taken in what reached them: no connection or datagram
        waiting on a listening socket, none being read. False when `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        quiet = 0  # twice in a row: an accept may be between the queue and the count
        while time.monotonic() < deadline:
            waiting, _, _ = select.select(self._sockets, [], [], 0)
            quiet = quiet + 1 if not waiting and self.listener.draining == 0 else 0
            if quiet == 2:
                return True
            time.sleep(0.02)
        return False

    def _serve_tcp(self) -> int:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        self._sockets.append(server)
        self._thread(self._accept_loop, server, "tcp")
        port: int = server.getsockname()[1]
        return port

    def _serve_udp(self) -> int:
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.2)
        self._sockets.append(server)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    data = server.recv(65536)
                except (TimeoutError, OSError):
                    continue
                self.listener.record("udp", data)

        self._thread(loop)
        port: int = server.getsockname()[1]
        return port

    def _serve_unix(self, address: str, where: str) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(address)
        server.listen(16)
        self._sockets.append(server)
        self._thread(self._accept_loop, server, where)

    # -- what a case may use -------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """The names attack code templates use (`$secret_path`...): paths, ports, pids."""
        return {
            "secret_path": str(self.secret_path),
            "root_only_path": str(self.root_only_path),
            "drop_dir": str(self.drop_dir),
            "arena": str(self.root),
            "data_dir": str(self.data_dir),
            "store_db": str(self.data_dir / "airlock.db"),
            "store_file": str(self.data_dir / "files" / self.store_file_id),
            "tcp_port": str(self.tcp_port),
            "udp_port": str(self.udp_port),
            "unix_socket": str(self.unix_socket),
            "abstract_name": self.abstract_name,
            "server_pid": str(self.server.pid),
            "runner_pid": str(self.runner_pid),
            "marker": self.marker,
        }

    def server_alive(self) -> bool:
        return self.server.poll() is None

    def secret_intact(self) -> bool:
        try:
            return self.secret_path.read_bytes() == self._secret_content
        except OSError:
            return False

    def dropped(self) -> list[str]:
        """Files anything wrote into the world-writable host folder."""
        return sorted(os.listdir(self.drop_dir))

    def shared_leftovers(self) -> list[str]:
        """Attack markers in the host's shared folders (never expected to be there)."""
        found: list[str] = []
        for folder in ("/tmp", "/var/tmp", "/dev/shm"):
            found += [
                p for p in glob.glob(f"{folder}/{self.marker}*") if not p.startswith(str(self.root))
            ]
        return found

    def reset(self) -> None:
        """Between cases: empty the drop folder, remove markers, forget what was received."""
        for entry in self.drop_dir.iterdir():
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        for leftover in self.shared_leftovers():
            with contextlib.suppress(OSError):
                if os.path.isdir(leftover) and not os.path.islink(leftover):
                    shutil.rmtree(leftover)
                else:
                    os.unlink(leftover)
        self.listener.take()
        if not self.server_alive():
            self.server = subprocess.Popen(
                self.server.args,
                env=self.server_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        if not self.secret_intact():
            with contextlib.suppress(OSError):
                self.secret_path.write_bytes(self._secret_content)

    def server_env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": f"sk-{self.canary}"}

    def close(self) -> None:
        self._stop.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        if self.server_alive():
            self.server.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.server.wait(timeout=5)
        time.sleep(0.05)
        self.reset_shared()
        shutil.rmtree(self.root, ignore_errors=True)

    def reset_shared(self) -> None:
        for leftover in self.shared_leftovers():
            with contextlib.suppress(OSError):
                if os.path.isdir(leftover) and not os.path.islink(leftover):
                    shutil.rmtree(leftover)
                else:
                    os.unlink(leftover)

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
