"""Isolation: the code cannot reach the network, the host's files, secrets or other sessions."""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sandbox import AsyncSession, IsolationLevel, IsolationUnavailable, Limits, SandboxConfig
from tests.conftest import TEST_LIMITS, require_level


@pytest.fixture
def loopback_server() -> Iterator[int]:
    """A TCP server on the host's loopback that accepts anything."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("level", [IsolationLevel.BUBBLEWRAP, IsolationLevel.NAMESPACES])
async def test_host_loopback_server_is_unreachable(
    level: IsolationLevel, loopback_server: int
) -> None:
    require_level(level)
    config = SandboxConfig(limits=TEST_LIMITS, isolation=level)
    async with await AsyncSession.start(config) as session:
        result = await session.execute(
            f"import socket\nsocket.create_connection(('127.0.0.1', {loopback_server}), timeout=5)"
        )
    assert result.error is not None
    assert result.error.name in ("ConnectionRefusedError", "TimeoutError", "OSError")


async def test_no_network_interfaces_but_loopback(session: AsyncSession) -> None:
    result = await session.execute("import socket\nprint(sorted(socket.if_nameindex()))")
    assert result.ok and "'lo'" in result.stdout and "eth" not in result.stdout


async def test_writing_outside_the_workspace_fails(session: AsyncSession) -> None:
    for target in ("/usr/airlock-pwned", "/etc/airlock-pwned", "/opt/airlock-pwned"):
        result = await session.execute(f"open({target!r}, 'w').write('x')")
        assert result.error is not None, target
        assert result.error.name in ("OSError", "PermissionError", "FileNotFoundError")
    assert not Path("/usr/airlock-pwned").exists() and not Path("/etc/airlock-pwned").exists()


async def test_kernel_is_not_root(session: AsyncSession) -> None:
    result = await session.execute("import os\nprint(os.getuid(), os.geteuid())")
    uid, euid = map(int, result.stdout.split())
    assert uid != 0 and euid != 0


async def test_home_folder_and_environment_secrets_are_invisible(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("PRIVATE KEY 1234")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret-5678")
    async with await AsyncSession.start(SandboxConfig(limits=TEST_LIMITS)) as session:
        result = await session.execute(
            "import os, glob\n"
            f"try:\n    print(open({str(key)!r}).read())\nexcept OSError as e:\n"
            "    print('blocked', type(e).__name__)\n"
            "print('env', [k for k in os.environ if 'OPENAI' in k or 'sk-host' in os.environ[k]])\n"
            "leaks = []\n"
            "for path in glob.glob('/proc/*/environ'):\n"
            "    try:\n"
            "        if b'sk-host-secret' in open(path, 'rb').read():\n"
            "            leaks.append(path)\n"
            "    except OSError:\n"
            "        pass\n"
            "print('proc', leaks)\n"
            "print('root', os.path.exists('/root/.bash_history'))"
        )
    assert result.ok, result.error
    assert "PRIVATE KEY" not in result.stdout
    assert "blocked" in result.stdout
    assert "env []" in result.stdout
    assert "proc []" in result.stdout
    assert "root False" in result.stdout


async def test_host_processes_are_invisible(session: AsyncSession) -> None:
    result = await session.execute(
        "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))"
    )
    if session.isolation is IsolationLevel.NONE:
        pytest.skip("level 'none' has no pid namespace")
    assert int(result.stdout) < 20


async def test_sessions_cannot_see_each_other() -> None:
    config = SandboxConfig(limits=TEST_LIMITS)
    async with (
        await AsyncSession.start(config) as first,
        await AsyncSession.start(config) as second,
    ):
        first.put_file("secret.txt", b"first session's data")
        result = await second.execute(
            f"import os\nprint(os.path.exists({str(first.workspace.root)!r}), "
            f"os.path.exists({str(first.kernel.run_dir / 'kernel.json')!r}), "
            "os.listdir('/mnt/data'))"
        )
        assert first.user.uid != second.user.uid or not first.user.dedicated
    assert result.stdout.strip() == "False False []"


async def test_daemonised_child_is_gone_after_the_session_ends() -> None:
    token = f"airlock-daemon-{uuid.uuid4().hex}"
    session = await AsyncSession.start(SandboxConfig(limits=TEST_LIMITS))
    result = await session.execute(
        "import os, subprocess, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', "
        f"'{token}'], start_new_session=True)\n"
        "    os._exit(0)\n"
        "os.wait()\nimport time; time.sleep(0.5)\nprint('spawned')"
    )
    assert result.stdout == "spawned\n"

    def daemons() -> list[int]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            if token in (process.info["cmdline"] or []):
                found.append(process.pid)
        return found

    assert daemons(), "the daemon should be running while the session lives"
    await session.close()
    for _ in range(100):
        if not daemons():
            break
        await asyncio.sleep(0.1)
    assert daemons() == []
    assert not session.session_dir.exists()


async def test_strict_mode_refuses_level_none() -> None:
    config = SandboxConfig(
        isolation=IsolationLevel.NONE, minimum_isolation=IsolationLevel.NAMESPACES
    )
    with pytest.raises(IsolationUnavailable):
        await AsyncSession.start(config)


async def test_level_none_still_has_limits_when_available() -> None:
    require_level(IsolationLevel.NONE)
    config = SandboxConfig(limits=Limits(timeout=20, memory_mb=768), isolation=IsolationLevel.NONE)
    async with await AsyncSession.start(config) as session:
        result = await session.execute(
            "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)"
        )
        env = await session.execute("import os\nprint(sorted(os.environ))")
    assert result.stdout.strip() == "768"
    assert "OPENAI_API_KEY" not in env.stdout


@pytest.mark.parametrize("level", [IsolationLevel.BUBBLEWRAP, IsolationLevel.NAMESPACES])
def test_nothing_is_left_after_the_host_is_killed(level: IsolationLevel) -> None:
    """A host process that dies with SIGKILL leaves no kernel and no daemon behind."""
    import subprocess

    require_level(level)
    token = f"airlock-orphan-{uuid.uuid4().hex}"
    script = (
        "import asyncio, sys\n"
        "from sandbox import AsyncSession, IsolationLevel, SandboxConfig\n"
        "async def main():\n"
        f"    s = await AsyncSession.start(SandboxConfig(isolation=IsolationLevel('{level}')))\n"
        f"    await s.execute(\"import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(600)', '{token}'], start_new_session=True)\")\n"
        "    print(s.kernel.kernel_pid(), flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    host = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert host.stdout is not None
    kernel_pid = int(host.stdout.readline())
    assert psutil.pid_exists(kernel_pid)
    host.kill()
    host.wait()
    for _ in range(100):
        leftovers = [
            p for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])
        ]
        if not leftovers and not psutil.pid_exists(kernel_pid):
            break
        import time

        time.sleep(0.1)
    assert not psutil.pid_exists(kernel_pid)
    assert leftovers == []
