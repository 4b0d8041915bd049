"""Regressions for attacks found in review: links, deep paths, run folder, display and zombie
bombs. Each must fail to harm the host and leave the session usable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sandbox import AsyncSession, Limits, SandboxConfig, WorkspaceError
from tests.conftest import TEST_LIMITS

MiB = 1024 * 1024


async def test_upload_through_a_planted_folder_link_is_refused(
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    await session.execute(f"import os\nos.symlink({str(host_dir)!r}, '/mnt/data/sub')")
    with pytest.raises(WorkspaceError):
        session.put_file("sub/planted.txt", b"must not land on the host")
    with pytest.raises(WorkspaceError):
        session.read_file("sub/anything")
    assert list(host_dir.iterdir()) == []


async def test_deep_folders_do_not_hide_files_from_the_quota(session: AsyncSession) -> None:
    result = await session.execute(
        "import os\n"
        "for _ in range(25):  # a path far beyond PATH_MAX, built one relative step at a time\n"
        "    os.mkdir('d' * 200)\n"
        "    os.chdir('d' * 200)\n"
        "for i in range(12):\n"
        "    open(f'f{i}', 'wb').write(b'0' * 8 * 1024**2)\n"
        "os.chdir('/mnt/data')",
        timeout=60,
    )
    assert result.error is not None and result.error.name == "WorkspaceFull"
    size, _entries = session.workspace.usage()
    assert size <= TEST_LIMITS.max_workspace_mb * MiB


async def test_run_folder_is_not_writable_by_the_kernel(session: AsyncSession) -> None:
    result = await session.execute(
        "import sys, os\nrun = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
        "open(os.path.join(run, 'junk'), 'wb').write(b'0' * 1024)"
    )
    if session.kernel.user.dedicated:
        assert result.error is not None and result.error.name == "PermissionError"
    assert not (session.kernel.run_dir / "junk").exists() or not session.kernel.user.dedicated


async def test_display_bomb_is_dropped_beyond_the_budget() -> None:
    limits = Limits(timeout=30, max_display_bytes=4 * MiB)
    async with await AsyncSession.start(SandboxConfig(limits=limits)) as session:
        result = await session.execute(
            "from IPython.display import display\n"
            "for _ in range(8):\n"
            "    display({'text/plain': 'x' * (2 * 1024**2)}, raw=True)"
        )
        kept = sum(len(d.data["text/plain"]) for d in result.displays)
        assert kept <= 4 * MiB
        assert result.output_truncated
        assert any("display budget" in notice for notice in result.notices)
        assert (await session.execute("print('fine')")).stdout == "fine\n"


async def test_orphans_are_reaped_not_left_as_zombies(session: AsyncSession) -> None:
    result = await session.execute(
        "import subprocess\n"
        "for _ in range(150):\n"
        "    subprocess.run('sleep 0.01 &', shell=True)\n"
        "import time\ntime.sleep(1)\n"
        "import os\nprint(os.fork() and 'forked' or os._exit(0))"
    )
    assert result.ok, result.error
    assert result.stdout.strip() == "forked"


async def test_capped_streams_report_full_writes(session: AsyncSession) -> None:
    result = await session.execute("import sys\nn = sys.stdout.write('abc')\nprint('', n)")
    assert result.stdout == "abc 3\n"


async def test_background_writer_is_held_to_the_quota_between_cells(
    session: AsyncSession,
) -> None:
    started = await session.execute(
        "import subprocess\nsubprocess.Popen(['sh', '-c', 'i=0; while true; do "
        "head -c 8000000 /dev/zero > /mnt/data/bg$i; i=$((i+1)); sleep 0.05; done'])"
    )
    assert started.ok
    limit = TEST_LIMITS.max_workspace_mb * MiB
    # The idle watcher checks every couple of seconds: wait (bounded) until it has acted.
    for _ in range(300):
        if session._pending_notices:
            break
        await asyncio.sleep(0.1)
    result = await session.execute("print('next cell')")
    assert result.stdout == "next cell\n"
    assert any("between cells" in notice for notice in result.notices)
    # The writer goes on writing an 8 MB file every 0.05 s after the trim: two of its files
    # may land between the trim and this reading.
    assert session.workspace.usage()[0] <= limit + 2 * 8_000_000
