"""A thread's work survives its session (engine.core.checkpoints): variables and files come back
after a REST server restart and after idle expiry; what could not be saved is named to the
model; a thread's checkpoint goes with the thread. Real kernels, a real store, the real SDK."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from openai import OpenAI

from engine.core import EngineSettings
from engine.core.checkpoints import Checkpoints
from engine.core.sessions import SessionManager
from sandbox import SandboxConfig
from tests.conftest import TEST_LIMITS
from tests.engine_fixtures import Harness, RecordingScripted, code, open_engine, settings, text
from tests.server_fixtures import BETA_WARNING_FILTER, running_server, write_script

pytestmark = pytest.mark.filterwarnings(BETA_WARNING_FILTER)

DEFINE = (
    "import pandas as pd\n"
    "from sklearn.linear_model import LinearRegression\n"
    "df = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'y': [3.0, 5.0, 7.0]})\n"
    "def doubled(v):\n"
    "    return 2 * v\n"
    "fit = LinearRegression().fit(df[['x']], df['y'])\n"
    "open('/mnt/data/made.txt', 'w').write('made')\n"
    "print('defined')"
)
USE = (
    "guess = fit.predict(pd.DataFrame({'x': [10.0]}))[0]\n"
    "print(df['y'].sum(), doubled(21), round(float(guess), 1), open('/mnt/data/made.txt').read())"
)
USED = "15.0 42 21.0 made\n"


def _logs(client: OpenAI, thread_id: str, run_id: str) -> str:
    steps = client.beta.threads.runs.steps.list(thread_id=thread_id, run_id=run_id, order="asc")
    logs = []
    for step in steps:
        if step.step_details.type == "tool_calls":
            for call in step.step_details.tool_calls:
                for output in call.code_interpreter.outputs:  # type: ignore[union-attr]
                    logs.append(getattr(output, "logs", ""))
    return "".join(logs)


def _run(client: OpenAI, tmp_path: Path, thread_id: str, cell: str, name: str) -> str:
    model = write_script(tmp_path / f"{name}.json", [{"code": cell}, {"text": "done"}])
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    client.beta.threads.messages.create(thread_id, role="user", content=name)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    return _logs(client, thread_id, run.id)


def test_a_thread_keeps_its_variables_across_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    with running_server(data) as server:
        client = server.client()
        thread = client.beta.threads.create()
        assert "defined" in _run(client, tmp_path, thread.id, DEFINE, "define")
    # The server's shutdown ended the thread's kernel and saved it, outside /mnt/data.
    assert (data / "store" / "checkpoints" / thread.id / "manifest.json").is_file()
    with running_server(data) as server:
        client = server.client()
        logs = _run(client, tmp_path, thread.id, USE, "use")
    assert USED in logs
    assert "restored from its checkpoint" in logs and "df" in logs


def test_a_thread_keeps_its_variables_after_idle_expiry(tmp_path: Path) -> None:
    quick = EngineSettings(
        sandbox=SandboxConfig(limits=TEST_LIMITS), max_sessions=32, session_idle_seconds=1.0
    )
    with running_server(tmp_path / "server", settings=quick) as server:
        client = server.client()
        thread = client.beta.threads.create()
        _run(client, tmp_path, thread.id, DEFINE, "define")
        deadline = time.monotonic() + 60
        while server.engine.sessions.get(thread.id) is not None:  # the reaper ends it
            assert time.monotonic() < deadline, "the idle session was never ended"
            time.sleep(0.1)
        assert USED in _run(client, tmp_path, thread.id, USE, "use")
        # Deleting the thread deletes its checkpoint.
        folder = server.engine.checkpoints.folder(thread.id)  # type: ignore[union-attr]
        assert folder is not None and folder.is_dir()
        client.beta.threads.delete(thread.id)
        assert not folder.exists()


async def test_a_variable_that_could_not_be_saved_is_named_to_the_model(tmp_path: Path) -> None:
    backend = RecordingScripted()
    engine = await open_engine(backend, tmp_path / "data", settings())
    try:
        h = Harness(engine, backend)
        first = await h.run(
            "connect", [code("import socket\nconn = socket.socket()\nn = 7"), text("ok")]
        )
        assert first.status == "completed"
        await engine.sessions.end(first.thread_id)  # as idle expiry or a restart would
        second = await h.run("again", [code("print(n)"), text("ok")], thread_id=first.thread_id)
        assert second.status == "completed"
        logs = h.logs(second)
    finally:
        await engine.aclose()
    assert "7\n" in logs
    assert "not restored: conn (socket cannot be saved" in logs
    # The model reads it with the cell's output.
    told = backend.calls_for("again")[1].messages[-1].content
    assert "not restored: conn (socket cannot be saved" in told


async def test_over_the_cap_or_damaged_the_model_and_the_user_are_told(tmp_path: Path) -> None:
    backend = RecordingScripted()
    capped = EngineSettings(sandbox=SandboxConfig(limits=TEST_LIMITS), checkpoint_max_mb=1)
    engine = await open_engine(backend, tmp_path / "data", capped)
    try:
        h = Harness(engine, backend)
        big = "import numpy as np\nbig = np.zeros(3 * 2**20 // 8)\nsmall = 'fits'"
        first = await h.run("fill", [code(big), text("ok")])
        await engine.sessions.end(first.thread_id)
        over = await h.run(
            "over",
            [code("print(small, 'big' in globals())"), text("ok")],
            thread_id=first.thread_id,
        )
        over_logs = h.logs(over)
        # Damage the checkpoint saved as that session ends: it is refused, with a message.
        await engine.sessions.end(first.thread_id)
        part = engine.store.data_dir / "checkpoints" / first.thread_id / "namespace" / "part-00000"
        data = bytearray(part.read_bytes())
        data[-1] ^= 0xFF
        part.write_bytes(bytes(data))
        damaged = await h.run(
            "damaged", [code("print('small' in globals())"), text("ok")], thread_id=first.thread_id
        )
        damaged_logs = h.logs(damaged)
    finally:
        await engine.aclose()
    assert "fits False" in over_logs
    assert "not restored: big (ndarray: over the checkpoint cap of 1 MB" in over_logs
    assert "False" in damaged_logs
    assert "the checkpoint was not restored: the checkpoint is damaged" in damaged_logs


async def test_a_run_that_comes_while_the_session_is_saved_gets_what_was_saved(
    tmp_path: Path,
) -> None:
    backend = RecordingScripted()
    engine = await open_engine(backend, tmp_path / "data", settings())
    try:
        h = Harness(engine, backend)
        first = await h.run("set", [code("value = 1"), text("ok")])
        await h.run("bump", [code("value += 1"), text("ok")], thread_id=first.thread_id)
        # The end starts first (it takes the session at once, then saves); the run asks for
        # the thread's session while the save is under way, and waits for it.
        _, read = await asyncio.gather(
            engine.sessions.end(first.thread_id),
            h.run("read", [code("print(value)"), text("ok")], thread_id=first.thread_id),
        )
        logs = h.logs(read)
    finally:
        await engine.aclose()
    assert logs.startswith("2\n")
    assert "restored from its checkpoint: value" in logs


async def test_a_session_being_restored_counts_towards_the_cap(tmp_path: Path) -> None:
    one = EngineSettings(sandbox=SandboxConfig(limits=TEST_LIMITS), max_sessions=1)
    backend = RecordingScripted()
    engine = await open_engine(backend, tmp_path / "data", one)
    try:
        h = Harness(engine, backend)
        # Big enough that restoring it takes a few of the waiting acquire's 0.2 s polls.
        saved = await h.run("set", [code("value = bytes(40 * 2**20)"), text("ok")])
        await engine.sessions.end(saved.thread_id)
        other = await h.run("other", [code("print(2)"), text("ok")])
        await engine.sessions.end(other.thread_id)
        # The saved thread's session restores its checkpoint (awaiting a cell) while the
        # other thread asks for one: with a cap of 1 the other must wait, then take the
        # place of the restored one (idle by then), never run beside it.
        restored, second = await asyncio.gather(
            engine.sessions.acquire(saved.thread_id), engine.sessions.acquire(other.thread_id)
        )
        assert engine.sessions.live_count == 1
        assert engine.sessions.get(other.thread_id) is second
        assert engine.sessions.get(saved.thread_id) is None
        assert restored.restore_notice is not None and "value" in restored.restore_notice
    finally:
        await engine.aclose()


async def test_a_session_taken_again_while_the_reaper_saves_another_is_kept(
    tmp_path: Path,
) -> None:
    store = Checkpoints(tmp_path / "checkpoints", max_bytes=64 * 2**20)
    manager = SessionManager(
        SandboxConfig(limits=TEST_LIMITS), idle_seconds=0.0, checkpoints=store
    )  # not started: no background reaper, this test calls it
    try:
        first = await manager.acquire("thread_first")
        await first.session.execute("kept = 1")
        second = await manager.acquire("thread_second")
        # The reaper ends the first (its save awaits a cell) while a run takes the second.
        ended, taken = await asyncio.gather(manager.reap_idle(), manager.acquire("thread_second"))
        assert ended == ["thread_first"] and taken is second
        assert manager.get("thread_second") is second
        assert (await second.session.execute("print(1)")).stdout == "1\n"
        await manager.acquire("thread_third")
    finally:
        await manager.aclose()
    # Closing the manager ended (and saved) every session left.
    assert all(store.has(key) for key in ("thread_first", "thread_second", "thread_third"))
    assert manager.active_threads == []
