"""Resource limits (memory, processes, disk, output): each attack is contained."""

from __future__ import annotations

import os

import psutil
import pytest

from sandbox import AsyncSession, Limits, SandboxConfig, cgroups
from tests.conftest import TEST_LIMITS

MiB = 1024 * 1024


async def test_memory_bomb_gets_memory_error_and_kernel_survives(session: AsyncSession) -> None:
    await session.execute("survivor = 'yes'")
    result = await session.execute("hog = bytearray(8 * 1024**3)")
    assert result.error is not None and result.error.name == "MemoryError"
    assert result.restart is None
    # The bare MemoryError of a failed allocation says which limit it met.
    limit = f"memory limit of {TEST_LIMITS.memory_mb} MB exceeded"
    assert result.error.value.startswith(limit) and "RLIMIT_AS" in result.error.value
    assert result.error.traceback.splitlines()[-1] == f"MemoryError: {result.error.value}"
    # One the code raises with its own message keeps it.
    own = await session.execute("raise MemoryError('my own words')")
    assert own.error is not None and own.error.value == "my own words"
    assert (await session.execute("print(survivor)")).stdout == "yes\n"


async def test_growing_memory_bomb_is_stopped(session: AsyncSession) -> None:
    result = await session.execute(
        "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024**2))"
    )
    assert not result.ok
    # Either a MemoryError in a live kernel, or a kernel killed for its memory and restarted.
    assert result.error is not None
    assert result.error.name == "MemoryError" or result.restart is not None
    after = await session.execute("chunks = None\nprint('next cell runs')")
    assert after.stdout == "next cell runs\n"


async def test_memory_of_child_processes_is_capped_as_a_whole(session: AsyncSession) -> None:
    # Each child stays under the per-process cap; together they exceed the session's memory.
    code = (
        "import os\npids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            block = bytearray(400 * 1024**2)\n"
        "            block[::4096] = b'x' * len(block[::4096])\n"
        "        finally:\n"
        "            os._exit(0)\n"
        "    pids.append(pid)\n"
        "codes = [os.waitpid(p, 0)[1] for p in pids]\nprint(codes)"
    )
    if session.cgroup is None:
        pytest.skip("cgroups unavailable (they need root): per-process rlimits only")
    result = await session.execute(code)
    assert result.ok, result.error
    statuses = [int(s) for s in result.stdout.strip("[]\n").split(",")]
    # At least one child was killed (SIGKILL) by the session's memory cap, not the host's.
    assert any(os.WIFSIGNALED(s) and os.WTERMSIG(s) == 9 for s in statuses)
    assert psutil.virtual_memory().available > 1024 * MiB
    assert (await session.execute("print('ok')")).stdout == "ok\n"


async def test_kernel_killed_for_memory_says_so() -> None:
    if cgroups.available() is not None:
        pytest.skip(f"cgroups unavailable: {cgroups.available()}")
    # tmpfs pages count against the session's memory but not against RLIMIT_AS, so the
    # kernel itself is the one the cgroup's OOM killer picks.
    config = SandboxConfig(limits=Limits(memory_mb=400, tmp_mb=512, max_file_mb=64))
    async with await AsyncSession.start(config) as session:
        result = await session.execute(
            "for i in range(5):\n"
            "    open(f'/tmp/fill{i}', 'wb').write(b'1' * 60 * 1024**2)\n"
            "x = bytearray(100 * 1024**2)\nx[::4096] = b'x' * len(x[::4096])"
        )
        assert result.restart is not None
        assert result.restart.reason == "memory limit of 400 MB exceeded"
        assert result.error is not None and "memory limit of 400 MB" in result.error.value
        assert (await session.execute("print(1)")).stdout == "1\n"


async def test_fork_bomb_is_contained(session: AsyncSession) -> None:
    result = await session.execute("import os\nwhile True:\n    os.fork()", timeout=10)
    assert not result.ok
    after = await session.execute("print('still usable')")
    assert after.stdout == "still usable\n"
    # Whatever the bomb left behind was cleared, so the session can start processes again.
    spawn = await session.execute(
        "import subprocess\nprint(subprocess.run(['echo', 'child'], capture_output=True, "
        "text=True).stdout)"
    )
    assert spawn.stdout.strip() == "child"


async def test_thread_count_is_capped(session: AsyncSession) -> None:
    result = await session.execute(
        "import threading, time\nthreads = []\n"
        "for _ in range(10_000):\n"
        "    t = threading.Thread(target=time.sleep, args=(30,), daemon=True)\n"
        "    t.start()\n    threads.append(t)",
        timeout=15,
    )
    assert result.error is not None and result.error.name == "RuntimeError"
    assert "can't start new thread" in result.error.value


async def test_disk_filling_loop_is_stopped_and_trimmed(session: AsyncSession) -> None:
    session.put_file("input.txt", b"keep me")
    result = await session.execute(
        "i = 0\nwhile True:\n"
        "    with open(f'/mnt/data/fill{i}.bin', 'wb') as f:\n"
        "        f.write(b'0' * 8 * 1024**2)\n"
        "    i += 1",
        timeout=60,
    )
    assert result.error is not None and result.error.name == "WorkspaceFull"
    total, _count = session.workspace.usage()
    assert total <= TEST_LIMITS.max_workspace_mb * MiB
    assert session.read_file("input.txt") == b"keep me"
    assert result.removed_files and all("fill" in path for path in result.removed_files)
    # The notice names what went (the model may want to write it again, smaller).
    [notice] = [n for n in result.notices if "removed" in n]
    assert result.removed_files[0] in notice
    assert (await session.execute("print('after')")).stdout == "after\n"


async def test_single_file_size_is_capped(session: AsyncSession) -> None:
    result = await session.execute(
        f"open('/mnt/data/big.bin', 'wb').write(b'0' * {(TEST_LIMITS.max_file_mb + 1) * MiB})"
    )
    assert result.error is not None and "File too large" in result.error.value


async def test_200_mb_of_output_is_cut_to_head_and_tail(session: AsyncSession) -> None:
    result = await session.execute(
        "import sys\nfor i in range(4):\n    sys.stdout.write(str(i) * (50 * 1024**2))\n"
        "print('THE END')"
    )
    assert result.ok
    assert result.output_truncated
    assert len(result.stdout) <= TEST_LIMITS.max_output_bytes + 200
    assert result.stdout.startswith("0000")
    assert result.stdout.rstrip().endswith("THE END")
    assert "cut by Airlock" in result.stdout
    assert (await session.execute("print('small')")).stdout == "small\n"


async def test_output_of_subprocesses_is_capped_too(session: AsyncSession) -> None:
    result = await session.execute(
        "import subprocess\nsubprocess.run('head -c 50000000 /dev/zero | tr \"\\\\0\" y', "
        "shell=True)"
    )
    assert len(result.stdout) <= TEST_LIMITS.max_output_bytes + 200
    assert result.stdout.count("y") > 1000
