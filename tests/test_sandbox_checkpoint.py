"""Checkpoints of a session (sandbox.checkpoint): a kernel's namespace and its workspace's files
saved into a host folder and put back into a new kernel, with real kernels. What cannot be
saved is named; a damaged checkpoint is refused before any kernel loads it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sandbox import AsyncSession, SandboxConfig
from sandbox.checkpoint import (
    MANIFEST,
    NAMESPACE,
    chunk_size,
    restore_checkpoint,
    save_checkpoint,
)
from tests.conftest import TEST_LIMITS

MB = 1024 * 1024
CONFIG = SandboxConfig(limits=TEST_LIMITS)


async def _fresh() -> AsyncSession:
    return await AsyncSession.start(CONFIG)


async def _check(session: AsyncSession, code: str) -> str:
    execution = await session.execute(code)
    assert execution.ok, execution.error
    return execution.stdout


async def test_a_namespace_and_its_files_come_back_in_a_new_kernel(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as first:
        await _check(
            first,
            "import numpy as np\n"
            "import pandas as pd\n"
            "from math import sqrt\n"
            "from sklearn.linear_model import LinearRegression\n"
            "df = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'y': [2.0, 4.0, 6.1]})\n"
            "scale = 10\n"
            "def scaled(v):\n"
            "    return v * scale\n"
            "class Box:\n"
            "    def __init__(self, v):\n"
            "        self.v = v\n"
            "box = Box([1, 2])\n"
            "model = LinearRegression().fit(df[['x']], df['y'])\n"
            "import os\n"
            "os.makedirs('/mnt/data/out', exist_ok=True)\n"
            "df.to_csv('/mnt/data/out/made.csv', index=False)\n"
            "_private = [7]\n",
        )
        await first.execute("scale")  # IPython keeps its value as `_`, `_2`, `_i2`...
        saved = await save_checkpoint(first, folder, max_bytes=64 * MB)
    assert {"df", "scale", "scaled", "Box", "box", "model", "sqrt"} <= set(saved.variables)
    # A user's own `_private` is saved, IPython's history of outputs and inputs is not.
    assert [name for name in saved.variables if name.startswith("_")] == ["_private"]
    assert saved.modules == {"np": "numpy", "pd": "pandas", "os": "os"}
    assert saved.files == ["out/made.csv"] and saved.skipped == {}
    assert saved.seconds > 0 and saved.namespace_bytes > 0
    # The host holds chunk files and a manifest, nothing it would have to unpickle.
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["chunks"][0]["sha256"] and (folder / NAMESPACE / "part-00000").is_file()

    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        assert restored.error is None and restored.missing == {}
        assert set(restored.restored) >= {"df", "scaled", "box", "model", "np", "pd"}
        out = await _check(
            second,
            "print(df['y'].sum(), scaled(4), box.v, type(box).__name__)\n"
            "print(round(float(model.predict(pd.DataFrame({'x': [4.0]}))[0]), 2), sqrt(16))\n"
            "print(np.arange(3).sum(), open('/mnt/data/out/made.csv').read().splitlines()[0])\n"
            "print(_private)\n"
            "import os\n"
            "print(sorted(p for p in os.listdir('/mnt/data') if p.startswith('.airlock')))",
        )
    assert out.splitlines() == ["12.1 40 [1, 2] Box", "8.13 4.0", "3 x,y", "[7]", "[]"]
    assert "df, " in restored.notice() or "df" in restored.notice()


async def test_what_cannot_be_saved_is_named_and_the_rest_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as first:
        await _check(
            first,
            "import socket, threading\n"
            "handle = open('/mnt/data/log.txt', 'w')\n"
            "sock = socket.socket()\n"
            "numbers = (i for i in range(3))\n"
            "lock = threading.Lock()\n"
            "kept = {'a': 1}\n",
        )
        saved = await save_checkpoint(first, folder, max_bytes=64 * MB)
    assert set(saved.skipped) == {"handle", "sock", "numbers", "lock"}
    assert "cannot be saved" in saved.skipped["sock"] and "socket" in saved.skipped["sock"]
    assert "generator" in saved.skipped["numbers"]
    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        assert await _check(second, "print(kept)") == "{'a': 1}\n"
    notice = restored.notice()
    for name in ("handle", "sock", "numbers", "lock"):
        assert f"not restored: {name} (" in notice
    assert "kept" in notice


async def test_a_checkpoint_over_its_cap_leaves_out_what_does_not_fit(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as first:
        await _check(
            first, "import numpy as np\nsmall = list(range(10))\nbig = np.zeros(3 * 2**20 // 8)"
        )
        saved = await save_checkpoint(first, folder, max_bytes=1 * MB)
    assert "small" in saved.variables and "big" not in saved.variables
    assert "over the checkpoint cap of 1 MB" in saved.skipped["big"]
    assert saved.namespace_bytes < MB
    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        assert await _check(second, "print(small[-1], 'big' in globals())") == "9 False\n"
    assert "not restored: big (ndarray: over the checkpoint cap of 1 MB" in restored.notice()


async def test_a_namespace_of_modules_only_comes_back(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as first:
        await _check(first, "import json as j\nopen('/mnt/data/kept.txt', 'w').write('kept')")
        saved = await save_checkpoint(first, folder, max_bytes=MB)
    assert saved.variables == {} and saved.chunks == []
    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        assert restored.error is None, restored.error
        assert await _check(second, "print(j.dumps([1]), open('/mnt/data/kept.txt').read())") == (
            "[1] kept\n"
        )
    assert restored.restored == ["j"] and restored.files == ["kept.txt"]


async def test_a_namespace_gets_the_room_the_workspace_quota_leaves(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    quota_mb = TEST_LIMITS.max_workspace_mb
    async with await _fresh() as first:
        # The file leaves less room in the workspace than `big` needs (the chunks are written
        # there); the cap on the checkpoint itself would have let it in.
        await _check(
            first,
            f"open('/mnt/data/data.bin', 'wb').write(bytes({quota_mb // 2} * 2**20))\n"
            f"big = bytes({quota_mb * 2 // 3} * 2**20)\nsmall = [1, 2, 3]",
        )
        saved = await save_checkpoint(first, folder, max_bytes=4 * quota_mb * MB)
        assert (first.workspace.root / "data.bin").stat().st_size == quota_mb // 2 * MB
    assert "small" in saved.variables and "big" not in saved.variables
    assert "over the room left in the workspace quota" in saved.skipped["big"]
    assert saved.files == ["data.bin"]
    async with await _fresh() as second:
        await restore_checkpoint(second, folder)
        assert await _check(second, "print(small, 'big' in globals())") == "[1, 2, 3] False\n"


async def test_a_workspace_at_its_file_limit_keeps_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    few = SandboxConfig(limits=dataclasses.replace(TEST_LIMITS, max_workspace_files=4))
    async with await AsyncSession.start(few) as first:
        await _check(first, "for i in range(4): open(f'/mnt/data/f{i}.txt', 'w').write('x')\nv = 1")
        saved = await save_checkpoint(first, folder, max_bytes=64 * MB)
    # No room for a chunk file: the variable is left out, named; no file was trimmed.
    assert "over the room left in the workspace quota" in saved.skipped["v"]
    assert saved.files == [f"f{i}.txt" for i in range(4)]


async def test_a_variable_larger_than_a_chunk_spans_chunks(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as first:
        chunk = chunk_size(first)
        await _check(
            first,
            f"import numpy as np\nwide = np.arange({chunk * 3 // 2 // 8}, dtype='int64')\n"
            "after = 'the record after it'",
        )
        saved = await save_checkpoint(first, folder, max_bytes=200 * MB)
    assert len(saved.chunks) == 2
    assert all(c["bytes"] <= chunk for c in saved.chunks)
    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        assert restored.error is None
        out = await _check(second, "print(int(wide[-1]) == len(wide) - 1, after)")
    assert out == "True the record after it\n"


async def test_a_damaged_checkpoint_is_refused_and_the_files_still_come_back(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as first:
        await _check(first, "secret = 42\nopen('/mnt/data/notes.txt', 'w').write('hi')")
        await save_checkpoint(first, folder, max_bytes=64 * MB)
    part = folder / NAMESPACE / "part-00000"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        assert restored.error is not None and "damaged" in restored.error
        assert restored.restored == []
        out = await _check(
            second, "print('secret' in globals(), open('/mnt/data/notes.txt').read())"
        )
    assert out == "False hi\n"
    assert "the checkpoint was not restored: the checkpoint is damaged" in restored.notice()

    # A manifest that is not one is refused the same way, before anything is loaded.
    (folder / MANIFEST).write_text('{"variables": {"x": {"start": -5, "end": "no"}}}')
    async with await _fresh() as third:
        refused = await restore_checkpoint(third, folder)
    assert refused.error == "the manifest is malformed" and refused.files == []
    (folder / MANIFEST).write_text("not json")
    async with await _fresh() as fourth:
        refused = await restore_checkpoint(fourth, folder)
    assert refused.error == "the manifest is not valid JSON"


async def test_a_link_where_the_chunks_go_is_replaced_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as session:
        # The cell puts a link where the kernel writes its chunks, to a folder with a file.
        await _check(
            session,
            "import os\nsecond = 2\nos.makedirs('/tmp/elsewhere', exist_ok=True)\n"
            "open('/tmp/elsewhere/keep.txt', 'w').write('kept')\n"
            "os.symlink('/tmp/elsewhere', '/mnt/data/.airlock-checkpoint')",
        )
        saved = await save_checkpoint(session, folder, max_bytes=64 * MB)
        assert await _check(session, "print(open('/tmp/elsewhere/keep.txt').read())") == "kept\n"
    assert "second" in saved.variables and saved.namespace_error is None


async def test_a_namespace_that_cannot_be_saved_still_saves_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as session:
        await _check(session, "first = 1")
        await save_checkpoint(session, folder, max_bytes=64 * MB)
        # The kernel side of the save fails (as it would out of memory or out of time); the
        # files made since the first checkpoint are saved all the same.
        await _check(session, FAILING_SAVE + "\nopen('/mnt/data/made.txt', 'w').write('new')")
        saved = await save_checkpoint(session, folder, max_bytes=64 * MB)
    assert saved.namespace_error is not None and "no room" in saved.namespace_error
    assert saved.files == ["made.txt"] and saved.variables == {}
    async with await _fresh() as second:
        restored = await restore_checkpoint(second, folder)
        out = await _check(second, "print('first' in globals(), open('/mnt/data/made.txt').read())")
    assert out == "False new\n"
    assert "its variables could not be saved (OSError: no room" in restored.notice()
    assert "files were put back" in restored.notice()


async def test_a_save_that_fails_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as session:
        await _check(session, "first = 1")
        await save_checkpoint(session, folder, max_bytes=64 * MB)
        before = (folder / MANIFEST).read_text()
        # The host cannot build the new checkpoint (a file where its folder goes).
        folder.with_name("ckpt.new").write_text("in the way")
        with pytest.raises(OSError):
            await save_checkpoint(session, folder, max_bytes=64 * MB)
    assert (folder / MANIFEST).read_text() == before


#: A cell that makes the kernel side of the save fail.
FAILING_SAVE = """
import sys, types
failing = types.ModuleType('_airlock_checkpoint')
def save(*_):
    raise OSError('no room')
failing.save = save
sys.modules['_airlock_checkpoint'] = failing
"""


#: A cell that replaces the kernel side of the save: it writes 3 MB and reports 10 bytes.
LYING_SAVE = """
import json, os, sys, types
fake = types.ModuleType('_airlock_checkpoint')
def save(folder, max_bytes, chunk_bytes, *_):
    os.makedirs(folder, exist_ok=True)
    with open(folder + '/part-00000', 'wb') as out:
        out.write(b'x' * (3 * 2**20))
    report = {'variables': {}, 'modules': {}, 'skipped': {}, 'bytes': 10, 'chunks': 1}
    print('<<airlock-checkpoint>>' + json.dumps(report))
fake.save = save
sys.modules['_airlock_checkpoint'] = fake
"""


async def test_a_kernel_that_lies_about_its_checkpoint_is_not_believed(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    async with await _fresh() as session:
        await _check(session, "x = 1")
        await save_checkpoint(session, folder, max_bytes=64 * MB)
        await _check(session, LYING_SAVE)
        saved = await save_checkpoint(session, folder, max_bytes=1 * MB)
        leftovers = await _check(
            session, "import os\nprint(os.path.exists('/mnt/data/.airlock-checkpoint'))"
        )
    assert leftovers == "False\n"  # the chunks it wrote were removed from the workspace
    # Nothing of what it wrote is kept: the namespace is recorded as not saved.
    assert saved.namespace_error == "the kernel wrote more than the checkpoint's cap"
    assert saved.chunks == [] and not any((folder / NAMESPACE).iterdir())
