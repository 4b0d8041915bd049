"""What happens while a kernel starts: nothing from the workspace runs, the run folder and the
connection file are never the kernel's to write, the host connects only to sockets the kernel
created, every start has its own HMAC key; and the kernel holds no capability, no socket of an
unneeded family."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import AsyncSession, SandboxConfig
from sandbox.connection import KernelStartError, RunFolder
from sandbox.identity import SandboxUser
from tests.conftest import TEST_LIMITS

#: A planted `ipykernel_launcher.py`: leaves a mark, points the socket paths at a host socket,
#: then starts the real kernel so that nothing looks wrong.
_PLANTED_LAUNCHER = """\
import json, os, sys, time
open('/mnt/data/planted-ran', 'w').write('ran at kernel start')
info = json.load(open(sys.argv[sys.argv.index('-f') + 1]))
for port in ('shell_port', 'iopub_port', 'control_port', 'stdin_port', 'hb_port'):
    try:
        os.symlink(HOST, '%s-%s' % (info['ip'], info[port]))
    except OSError:
        pass
time.sleep(1.5)
sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd(), '/mnt/data')]
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""

#: An IPython startup file, run while the kernel starts (IPYTHONDIR pointed into the workspace):
#: it tries to write the run folder, the connection file and the socket folder.
_STARTUP_FILE = """\
import json, os
from ipykernel.connect import get_connection_file
connection = get_connection_file()
run = os.path.dirname(connection)
info = json.load(open(connection))
report = {}
def attempt(label, fn):
    try:
        fn()
        report[label] = 'done'
    except OSError as exc:
        report[label] = exc.strerror
attempt('write run folder', lambda: open(os.path.join(run, 'junk'), 'w').write('x'))
attempt('rewrite connection file', lambda: open(connection, 'a').write(' '))
attempt('chmod connection file', lambda: os.chmod(connection, 0o666))
for port in ('shell_port', 'iopub_port'):
    path = '%s-%s' % (info['ip'], info[port])
    attempt('swap ' + port, lambda: (os.symlink(HOST, path + '.new'),
                                     os.replace(path + '.new', path)))
json.dump(report, open('/mnt/data/startup-report.json', 'w'))
"""


class HostSocket:
    """A host unix socket the sandbox cannot see; records every connection made to it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700)
        self.path = folder / "host.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


@pytest.fixture
def host_socket(tmp_path: Path) -> Iterator[HostSocket]:
    listener = HostSocket(tmp_path / "host")
    yield listener
    listener.close()


async def test_code_planted_in_the_workspace_does_not_run_at_kernel_start(
    session: AsyncSession,
    host_socket: HostSocket,
) -> None:
    session.put_file(
        "ipykernel_launcher.py",
        _PLANTED_LAUNCHER.replace("HOST", repr(str(host_socket.path))).encode(),
    )
    for module in ("zmq.py", "traitlets.py", "sitecustomize.py"):
        session.put_file(module, b"open('/mnt/data/planted-ran', 'w').write(__name__)\n")
    session.put_file(
        "ipython_kernel_config.py", b"open('/mnt/data/planted-ran', 'w').write('config')\n"
    )
    await session.restart()
    result = await session.execute("import os\nprint(os.getcwd())\n1+1")
    assert result.result is not None and result.result.text == "2", result.error
    assert result.stdout.strip() == "/mnt/data"  # cells still run in the workspace
    assert not (session.workspace.root / "planted-ran").exists()
    assert host_socket.connections == 0


async def test_cells_can_still_import_modules_from_the_workspace(session: AsyncSession) -> None:
    session.put_file("helper.py", b"ANSWER = 42\n")
    result = await session.execute("import helper\nhelper.ANSWER")
    assert result.result is not None and result.result.text == "42", result.error


async def test_start_up_code_cannot_write_the_run_folder_or_redirect_the_host(
    tmp_path: Path,
    host_socket: HostSocket,
) -> None:
    workspace = tmp_path / "workspace"
    startup = workspace / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-attack.py").write_text(
        _STARTUP_FILE.replace("HOST", repr(str(host_socket.path)))
    )
    for folder in (workspace, *workspace.rglob("*")):
        folder.chmod(0o777 if folder.is_dir() else 0o666)
    config = SandboxConfig(limits=TEST_LIMITS, extra_env={"IPYTHONDIR": "/mnt/data/.ipython"})
    try:
        session = await AsyncSession.start(config, workspace=workspace)
    except KernelStartError as exc:  # the code broke its own sockets: refused, never followed
        assert "refused" in str(exc) or "did not appear" in str(exc), exc
        run_dir = None
    else:
        async with session:
            run_dir = session.kernel.run_dir
            connection = json.loads((run_dir / "kernel.json").read_text())
            result = await session.execute("1+1")
            assert result.result is not None and result.result.text == "2"
            if os.geteuid() == 0:
                assert (run_dir / "kernel.json").stat().st_uid == 0
                assert stat.S_IMODE((run_dir / "kernel.json").stat().st_mode) == 0o640
            assert connection["key"]
    report = json.loads((workspace / "startup-report.json").read_text())
    if os.geteuid() == 0:
        assert report["write run folder"] != "done", report
        assert report["rewrite connection file"] != "done", report
        assert report["chmod connection file"] != "done", report
    if run_dir is not None:
        assert not (run_dir / "junk").exists()
    assert host_socket.connections == 0


def _fake_kernel_sockets(
    folder: RunFolder, info: dict[str, object], host: Path, owner: int | None
) -> list[socket.socket]:
    """Bind what a kernel would, except the shell socket: a link to a host socket, or a socket
    of another owner."""
    bound = []
    for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        path = folder.sock_dir / f"k-{info[port]}"
        if port == "shell_port" and owner is None:
            path.symlink_to(host)
            continue
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        bound.append(server)
        if port == "shell_port" and owner is not None:
            os.chown(path, owner, owner, follow_symlinks=False)
    return bound


async def test_host_connects_only_to_sockets_the_kernel_created(
    tmp_path: Path,
    host_socket: HostSocket,
) -> None:
    user = SandboxUser(os.getuid(), os.getgid(), dedicated=False)
    owners: list[int | None] = [None, 12345] if os.geteuid() == 0 else [None]
    for owner in owners:
        session_dir = tmp_path / f"session-{owner}"
        session_dir.mkdir()
        folder = RunFolder(session_dir, user, home=False)
        info = folder.prepare()
        sockets = _fake_kernel_sockets(folder, dict(info), host_socket.path, owner)
        try:
            with pytest.raises(KernelStartError):
                await folder.connectable(info, lambda: True, timeout=0.5)
        finally:
            for server in sockets:
                server.close()
    assert host_socket.connections == 0


async def test_host_links_the_kernels_sockets_into_a_folder_of_its_own(tmp_path: Path) -> None:
    user = SandboxUser(os.getuid(), os.getgid(), dedicated=False)
    folder = RunFolder(tmp_path, user, home=False)
    info = folder.prepare()
    assert info["key"] and stat.S_IMODE(folder.connection_file.stat().st_mode) in (0o600, 0o640)
    sockets = []
    for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(folder.sock_dir / f"k-{info[port]}"))  # type: ignore[literal-required]
        server.listen(1)
        sockets.append(server)
    try:
        connect = await folder.connectable(info, lambda: True, timeout=5)
        assert Path(str(connect["ip"])).parent == folder.connect_dir
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(f"{connect['ip']}-{info['shell_port']}")  # the link reaches the kernel
        client.close()
    finally:
        for server in sockets:
            server.close()


async def test_every_start_has_its_own_key(session: AsyncSession) -> None:
    def key() -> str:
        value = json.loads((session.kernel.run_dir / "kernel.json").read_text())["key"]
        assert isinstance(value, str)
        return value

    first = key()
    assert len(first) >= 32
    assert session.kernel.client is not None and session.kernel.client.session.key
    await session.restart()
    assert key() != first
    async with await AsyncSession.start(SandboxConfig(limits=TEST_LIMITS)) as other:
        other_key = json.loads((other.kernel.run_dir / "kernel.json").read_text())["key"]
        assert other_key not in (first, key())


async def test_kernel_holds_no_capabilities(session: AsyncSession) -> None:
    result = await session.execute(
        "print(''.join(l for l in open('/proc/self/status') if l.startswith('Cap')))"
    )
    caps = dict(line.split(":\t") for line in result.stdout.split("\n") if ":" in line)
    assert set(caps) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}, caps
    assert all(int(value, 16) == 0 for value in caps.values()), caps


async def test_only_unix_inet_and_netlink_sockets_can_be_created(session: AsyncSession) -> None:
    result = await session.execute(
        "import socket\nmade = []\n"
        "for family in range(64):\n"
        "    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW):\n"
        "        try:\n"
        "            socket.socket(family, kind).close()\n"
        "            made.append(family)\n"
        "        except OSError:\n"
        "            pass\n"
        "print(sorted(set(made)))\n"
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.syscall(41, ctypes.c_long(40 | (1 << 32)), 1, 0))  # AF_VSOCK, high bits set"
    )
    lines = result.stdout.split("\n")
    assert set(json.loads(lines[0])) <= {1, 2, 10, 16}, lines[0]
    assert lines[1] == "-1"
