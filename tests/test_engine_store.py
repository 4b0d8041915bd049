"""The store on real SQLite files: round-trips, pages, errors, streamed uploads, crash recovery."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.schemas import (
    AssistantCreate,
    AssistantUpdate,
    CodeInterpreterToolCall,
    ImageFileContent,
    LogsOutput,
    Message,
    MessageCreate,
    MessageCreationStepDetails,
    MessageUpdate,
    Run,
    RunCreate,
    RunStep,
    Text,
    TextContent,
    ThreadAndRunCreate,
    ThreadCreate,
    ThreadUpdate,
    ToolCallsStepDetails,
    Usage,
    now,
)
from engine.store import (
    MAX_FILE_BYTES,
    FileTooLargeError,
    InvalidRequestError,
    NotFoundError,
    Store,
    resolve_data_dir,
    user_data_dir,
)

REPO = Path(__file__).resolve().parents[1]
MiB = 1 << 20


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    with Store(data_dir) as opened:
        yield opened


class PatternStream(io.RawIOBase):
    """`total` bytes made on demand (never held whole), hashed as they are handed out; a
    `claimed` size is what a Content-Length would say."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.digest = hashlib.sha256()
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        self.reads += 1
        n = self.remaining if size < 0 else min(size, self.remaining)
        chunk = bytes([self.reads % 251]) * n
        self.remaining -= n
        self.digest.update(chunk)
        return chunk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def disk_entries(data_dir: Path) -> tuple[list[str], list[str]]:
    files = data_dir / "files"
    return (
        sorted(p.name for p in files.iterdir() if p.is_file()),
        sorted(p.name for p in (files / ".partial").iterdir()),
    )


def make_assistant(store: Store, **fields: object) -> str:
    body = AssistantCreate.model_validate(
        {
            "model": "local",
            "instructions": "be brief",
            "tools": [{"type": "code_interpreter"}],
            **fields,
        }
    )
    return store.create_assistant(body).id


# ---------------------------------------------------------------- the data folder


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("AIRLOCK_DATA_DIR")
    assert resolve_data_dir() == user_data_dir()
    assert user_data_dir().name == "airlock"
    # Without platformdirs: $XDG_DATA_HOME, then ~/.local/share.
    monkeypatch.setitem(sys.modules, "platformdirs", None)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "airlock"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_data_dir() == tmp_path / "home" / ".local" / "share" / "airlock"


def test_env_var_places_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path / "env"))
    with Store() as store:
        assert store.data_dir == tmp_path / "env"
    assert (tmp_path / "env" / "airlock.db").is_file()


def test_database_is_sqlite_in_wal_mode(store: Store) -> None:
    make_assistant(store)
    conn = sqlite3.connect(store.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM assistants").fetchone()[0] == 1
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


# ---------------------------------------------------------------- files


def test_file_round_trip(store: Store, data_dir: Path) -> None:
    created = store.create_file(io.BytesIO(b"a,b\n1,2\n"), "dir/data.csv", "assistants")
    assert created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose, created.status) == (
        8,
        "data.csv",
        "assistants",
        "processed",
    )
    assert store.get_file(created.id) == created
    with store.open_file_content(created.id) as content:
        assert content.read() == b"a,b\n1,2\n"
    output = store.create_file([b"png", b"bytes"], "plot.png", "assistants_output")
    assert [f.id for f in store.list_files().data] == [output.id, created.id]
    assert [f.id for f in store.list_files(purpose="assistants_output").data] == [output.id]

    assert store.delete_file(created.id).model_dump() == {
        "id": created.id,
        "object": "file",
        "deleted": True,
    }
    for call in (store.get_file, store.open_file_content, store.delete_file):
        with pytest.raises(NotFoundError, match=created.id):
            call(created.id)
    assert disk_entries(data_dir) == ([output.id], [])


def test_file_expiry_and_bad_purpose(store: Store) -> None:
    kept = store.create_file(b"x", "a.txt", "assistants", expires_after_seconds=3600)
    assert kept.expires_at == kept.created_at + 3600
    gone = store.create_file(b"y", "b.txt", "assistants", expires_after_seconds=-1)
    assert store.purge_expired_files() == 1
    with pytest.raises(NotFoundError):
        store.get_file(gone.id)
    assert store.get_file(kept.id) == kept
    with pytest.raises(InvalidRequestError, match="purpose"):
        store.create_file(b"x", "a.txt", "homework")


def test_large_upload_streams_in_bounded_memory(store: Store) -> None:
    total = 64 * MiB
    stream = PatternStream(total)
    tracemalloc.start()
    try:
        created = store.create_file(stream, "big.bin", "assistants")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert created.bytes == total and stream.reads > 60
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB for a {total // MiB} MiB upload"
    assert sha256_of(store.file_content_path(created.id)) == stream.digest.hexdigest()


def test_size_limit_default_is_512_mb() -> None:
    assert MAX_FILE_BYTES == 512 * 1024 * 1024


def test_claimed_size_over_the_limit_is_refused_before_reading(
    store: Store, data_dir: Path
) -> None:
    class Untouchable(io.RawIOBase):
        def read(self, size: int = -1, /) -> bytes:
            raise AssertionError("read an upload that was already too large")

    with pytest.raises(FileTooLargeError, match="512 MB"):
        store.create_file(Untouchable(), "huge.csv", "assistants", size=MAX_FILE_BYTES + 1)
    assert store.list_files().data == [] and disk_entries(data_dir) == ([], [])


def test_stream_over_the_limit_stops_and_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "small"
    with Store(data_dir, max_file_bytes=3 * MiB) as store:
        exact = store.create_file(PatternStream(3 * MiB), "exact.bin", "assistants")
        endless = PatternStream(1 << 40)  # claims a terabyte, says nothing up front
        with pytest.raises(FileTooLargeError) as raised:
            store.create_file(endless, "big.bin", "assistants")
        assert raised.value.limit == 3 * MiB
        assert endless.reads <= 4  # stopped at the limit, not at the end of the stream
        assert [f.id for f in store.list_files().data] == [exact.id]
        assert disk_entries(data_dir) == ([exact.id], [])


def test_a_failing_stream_leaves_nothing(store: Store, data_dir: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * MiB
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.create_file(broken(), "a.csv", "assistants")
    assert store.list_files().data == [] and disk_entries(data_dir) == ([], [])


# ---------------------------------------------------------------- assistants and threads


def test_assistant_round_trip_and_partial_update(store: Store) -> None:
    file = store.create_file(b"1", "a.csv", "assistants")
    assistant_id = make_assistant(store, name="bot", metadata={"k": "v"}, file_ids=[file.id])
    assistant = store.get_assistant(assistant_id)
    assert assistant.tool_resources is not None
    assert assistant.tool_resources.code_interpreter_file_ids == [file.id]

    updated = store.update_assistant(
        assistant_id,
        AssistantUpdate.model_validate(
            {"name": "renamed", "description": None, "model": None, "temperature": 0.2}
        ),
    )
    assert (updated.name, updated.model, updated.instructions, updated.temperature) == (
        "renamed",
        "local",
        "be brief",
        0.2,
    )
    assert updated.metadata == {"k": "v"} and updated.created_at == assistant.created_at
    assert store.get_assistant(assistant_id) == updated

    assert store.delete_assistant(assistant_id).object == "assistant.deleted"
    with pytest.raises(NotFoundError, match="assistant"):
        store.get_assistant(assistant_id)
    with pytest.raises(NotFoundError):
        store.update_assistant(assistant_id, AssistantUpdate(name="x"))


def test_unknown_file_ids_are_refused(store: Store) -> None:
    with pytest.raises(NotFoundError, match="file-nope"):
        make_assistant(store, file_ids=["file-nope"])
    assert store.list_assistants().data == []


def test_thread_with_messages_is_all_or_nothing(store: Store) -> None:
    bad = ThreadCreate.model_validate(
        {
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "user", "content": "second", "file_ids": ["file-missing"]},
            ]
        }
    )
    with pytest.raises(NotFoundError):
        store.create_thread(bad)
    assert store.list_threads().data == []
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_thread_round_trip_update_and_cascading_delete(store: Store) -> None:
    file = store.create_file(b"1", "a.csv", "assistants")
    thread = store.create_thread(
        ThreadCreate.model_validate(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": "hi",
                        "attachments": [
                            {"file_id": file.id, "tools": [{"type": "code_interpreter"}]}
                        ],
                    }
                ],
                "metadata": {"user": "ana"},
            }
        )
    )
    assert store.get_thread(thread.id) == thread and thread.metadata == {"user": "ana"}
    [message] = store.list_messages(thread.id).data
    assert message.code_interpreter_file_ids == [file.id] and message.text == "hi"

    updated = store.update_thread(thread.id, ThreadUpdate.model_validate({"file_ids": [file.id]}))
    assert updated.tool_resources is not None
    assert updated.tool_resources.code_interpreter_file_ids == [file.id]
    assert updated.metadata == {"user": "ana"}

    assistant_id = make_assistant(store)
    run = store.create_run(thread.id, RunCreate(assistant_id=assistant_id))
    with pytest.raises(InvalidRequestError, match=r"has run run_\w+ queued"):
        store.delete_thread(thread.id)
    store.save_run(run.model_copy(update={"status": "completed"}))
    store.add_run_step(
        RunStep(
            run_id=run.id,
            thread_id=thread.id,
            assistant_id=assistant_id,
            type="tool_calls",
            step_details=ToolCallsStepDetails(),
        )
    )
    assert store.delete_thread(thread.id).object == "thread.deleted"
    for call in (store.get_thread, store.list_messages, store.list_runs):
        with pytest.raises(NotFoundError):
            call(thread.id)
    with sqlite3.connect(store.db_path) as conn:
        for table in ("messages", "runs", "run_steps"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    assert store.get_file(file.id) == file  # files outlive the threads that used them


# ---------------------------------------------------------------- messages


def test_messages_per_thread(store: Store) -> None:
    one, two = store.create_thread(), store.create_thread()
    first = store.create_message(one.id, MessageCreate(role="user", content="in one"))
    store.create_message(two.id, MessageCreate(role="user", content="in two"))
    assert [m.text for m in store.list_messages(one.id).data] == ["in one"]
    with pytest.raises(NotFoundError):
        store.get_message(two.id, first.id)  # a message is found only through its thread
    with pytest.raises(NotFoundError):
        store.create_message("thread_nope", MessageCreate(role="user", content="x"))

    edited = store.update_message(one.id, first.id, MessageUpdate(metadata={"seen": "yes"}))
    assert edited.metadata == {"seen": "yes"} and edited.content == first.content
    assert store.get_message(one.id, first.id) == edited
    assert store.delete_message(one.id, first.id).object == "thread.message.deleted"
    with pytest.raises(NotFoundError):
        store.delete_message(one.id, first.id)


def test_run_loop_messages_and_run_filter(store: Store) -> None:
    thread = store.create_thread()
    assistant_id = make_assistant(store)
    run = store.create_run(thread.id, RunCreate(assistant_id=assistant_id))
    # A client may not add messages while the run is active; the run loop may.
    with pytest.raises(InvalidRequestError):
        store.create_message(thread.id, MessageCreate(role="user", content="more"))
    reply = store.add_message(
        Message(
            thread_id=thread.id,
            role="assistant",
            status="in_progress",
            run_id=run.id,
            assistant_id=assistant_id,
        )
    )
    text = "Saved [csv](sandbox:/mnt/data/out.csv)."
    done = reply.model_copy(
        update={
            "status": "completed",
            "completed_at": now(),
            "content": [
                ImageFileContent.model_validate({"image_file": {"file_id": "file-plot"}}),
                TextContent(
                    text=Text.model_validate(
                        {
                            "value": text,
                            "annotations": [
                                {
                                    "type": "file_path",
                                    "text": "sandbox:/mnt/data/out.csv",
                                    "start_index": 12,
                                    "end_index": 37,
                                    "file_path": {"file_id": "file-out"},
                                }
                            ],
                        }
                    )
                ),
            ],
        }
    )
    store.save_message(done)
    assert store.get_message(thread.id, reply.id) == done
    assert [m.id for m in store.list_messages(thread.id, run_id=run.id).data] == [reply.id]
    with pytest.raises(NotFoundError):
        store.save_message(done.model_copy(update={"thread_id": "thread_other"}))


# ---------------------------------------------------------------- runs and steps


def test_run_inherits_the_assistant_and_takes_overrides(store: Store) -> None:
    thread = store.create_thread()
    assistant_id = make_assistant(store, temperature=0.3)
    run = store.create_run(
        thread.id,
        RunCreate.model_validate(
            {
                "assistant_id": assistant_id,
                "additional_instructions": "use pandas",
                "additional_messages": [{"role": "user", "content": "extra"}],
                "metadata": {"a": "b"},
                "max_completion_tokens": 500,
            }
        ),
    )
    assert run.id.startswith("run_") and run.status == "queued"
    assert (run.model, run.instructions, run.temperature, run.top_p) == (
        "local",
        "be brief\n\nuse pandas",
        0.3,
        1.0,
    )
    assert [t.type for t in run.tools] == ["code_interpreter"]
    assert run.expires_at is not None and run.expires_at >= run.created_at + 600
    assert (run.metadata, run.max_completion_tokens, run.usage) == ({"a": "b"}, 500, None)
    assert [m.text for m in store.list_messages(thread.id).data] == ["extra"]
    assert store.get_run(thread.id, run.id) == run and store.active_run(thread.id) == run

    with pytest.raises(InvalidRequestError, match=run.id):
        store.create_run(thread.id, RunCreate(assistant_id=assistant_id))
    with pytest.raises(NotFoundError, match="asst_nope"):
        store.create_run(store.create_thread().id, RunCreate(assistant_id="asst_nope"))
    with pytest.raises(NotFoundError):
        store.get_run("thread_other", run.id)

    override = store.create_run(
        store.create_thread().id,
        RunCreate(assistant_id=assistant_id, model="other", instructions="replace", tools=[]),
    )
    assert (override.model, override.instructions, override.tools) == ("other", "replace", [])


def test_cancel(store: Store) -> None:
    thread = store.create_thread()
    run = store.create_run(thread.id, RunCreate(assistant_id=make_assistant(store)))
    assert store.cancel_run(thread.id, run.id).status == "cancelling"
    assert store.cancel_run(thread.id, run.id).status == "cancelling"
    store.save_run(
        store.get_run(thread.id, run.id).model_copy(
            update={"status": "cancelled", "cancelled_at": now(), "expires_at": None}
        )
    )
    with pytest.raises(InvalidRequestError, match="cancelled"):
        store.cancel_run(thread.id, run.id)
    assert store.active_run(thread.id) is None


def test_create_thread_and_run(store: Store) -> None:
    file = store.create_file(b"1", "a.csv", "assistants")
    thread, run = store.create_thread_and_run(
        ThreadAndRunCreate.model_validate(
            {
                "assistant_id": make_assistant(store),
                "thread": {"messages": [{"role": "user", "content": "go"}]},
                "tool_resources": {"code_interpreter": {"file_ids": [file.id]}},
            }
        )
    )
    assert run.thread_id == thread.id and thread.tool_resources is not None
    assert thread.tool_resources.code_interpreter_file_ids == [file.id]
    assert [m.text for m in store.list_messages(thread.id).data] == ["go"]
    with pytest.raises(NotFoundError):
        store.create_thread_and_run(ThreadAndRunCreate(assistant_id="asst_nope"))
    assert len(store.list_threads().data) == 1  # the failed call left no thread behind


def test_run_steps_round_trip(store: Store) -> None:
    thread = store.create_thread()
    assistant_id = make_assistant(store)
    run = store.create_run(thread.id, RunCreate(assistant_id=assistant_id))
    step = store.add_run_step(
        RunStep(
            run_id=run.id,
            thread_id=thread.id,
            assistant_id=assistant_id,
            type="tool_calls",
            step_details=ToolCallsStepDetails(),
        )
    )
    call = CodeInterpreterToolCall.model_validate(
        {
            "code_interpreter": {
                "input": "print(2+2)",
                "outputs": [
                    {"type": "logs", "logs": "4\n"},
                    {"type": "image", "image": {"file_id": "file-p"}},
                ],
            }
        }
    )
    finished = step.model_copy(
        update={
            "status": "completed",
            "completed_at": now(),
            "usage": Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
            "step_details": ToolCallsStepDetails(tool_calls=[call]),
        }
    )
    store.save_run_step(finished)
    assert store.get_run_step(thread.id, run.id, step.id) == finished
    stored = store.get_run_step(thread.id, run.id, step.id).step_details
    assert isinstance(stored, ToolCallsStepDetails)
    stored_call = stored.tool_calls[0]
    assert isinstance(stored_call, CodeInterpreterToolCall)
    assert stored_call.code_interpreter.outputs[0] == LogsOutput(logs="4\n")

    message_step = store.add_run_step(
        RunStep(
            run_id=run.id,
            thread_id=thread.id,
            assistant_id=assistant_id,
            type="message_creation",
            step_details=MessageCreationStepDetails.model_validate(
                {"message_creation": {"message_id": "msg_1"}}
            ),
        )
    )
    assert [s.id for s in store.list_run_steps(thread.id, run.id, order="asc").data] == [
        step.id,
        message_step.id,
    ]
    with pytest.raises(NotFoundError, match="step_nope"):
        store.get_run_step(thread.id, run.id, "step_nope")
    with pytest.raises(NotFoundError):
        store.list_run_steps(thread.id, "run_nope")
    with pytest.raises(NotFoundError):
        store.add_run_step(step.model_copy(update={"id": "step_x", "run_id": "run_nope"}))


# ---------------------------------------------------------------- pagination


def test_pagination(store: Store) -> None:
    ids = [make_assistant(store, name=f"a{i}") for i in range(7)]  # same second, order by seq
    newest_first = list(reversed(ids))
    assert [a.id for a in store.list_assistants().data] == newest_first  # default desc

    seen: list[str] = []
    after = None
    while True:  # what the SDK's auto-pagination does
        page = store.list_assistants(limit=3, after=after)
        seen += [a.id for a in page.data]
        assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
        if not page.has_more:
            break
        after = page.last_id
    assert seen == newest_first

    asc = store.list_assistants(order="asc", limit=3)
    assert [a.id for a in asc.data] == ids[:3] and asc.has_more
    tail = store.list_assistants(order="asc", after=ids[4])
    assert [a.id for a in tail.data] == ids[5:] and not tail.has_more
    # `before` gives the nearest items on the other side, still in the listing order.
    back = store.list_assistants(order="asc", before=ids[5], limit=2)
    assert [a.id for a in back.data] == ids[3:5] and back.has_more
    back_desc = store.list_assistants(before=ids[1], limit=10)
    assert [a.id for a in back_desc.data] == newest_first[:5] and not back_desc.has_more
    window = store.list_assistants(order="asc", after=ids[1], before=ids[5])
    assert [a.id for a in window.data] == ids[2:5]
    empty = store.list_assistants(after=ids[0])
    assert (empty.data, empty.first_id, empty.last_id, empty.has_more) == ([], None, None, False)

    for bad in (
        {"limit": 0},
        {"limit": 101},
        {"order": "sideways"},
        {"after": "asst_nope"},
        {"before": "asst_nope"},
    ):
        with pytest.raises(InvalidRequestError):
            store.list_assistants(**bad)  # type: ignore[arg-type]


def test_message_pages_stay_in_their_thread(store: Store) -> None:
    one, two = store.create_thread(), store.create_thread()
    mine = [
        store.create_message(one.id, MessageCreate(role="user", content=str(i))).id
        for i in range(4)
    ]
    other = store.create_message(two.id, MessageCreate(role="user", content="x")).id
    page = store.list_messages(one.id, order="asc", limit=2, after=mine[1])
    assert [m.id for m in page.data] == mine[2:] and not page.has_more
    with pytest.raises(InvalidRequestError):
        store.list_messages(one.id, after=other)  # a cursor from another thread


# ---------------------------------------------------------------- persistence and threads


def test_everything_survives_a_reopen(data_dir: Path) -> None:
    with Store(data_dir) as store:
        file = store.create_file(b"kept", "k.txt", "assistants")
        assistant = store.get_assistant(make_assistant(store, file_ids=[file.id]))
        thread = store.create_thread(
            ThreadCreate.model_validate({"messages": [{"role": "user", "content": "hello"}]})
        )
        run = store.create_run(thread.id, RunCreate(assistant_id=assistant.id))
        run = store.save_run(
            run.model_copy(
                update={
                    "status": "completed",
                    "completed_at": now(),
                    "expires_at": None,
                    "usage": Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
                }
            )
        )
        messages = store.list_messages(thread.id)
    with Store(data_dir) as reopened:
        assert reopened.recovered_runs == []
        assert reopened.get_file(file.id) == file
        with reopened.open_file_content(file.id) as content:
            assert content.read() == b"kept"
        assert reopened.get_assistant(assistant.id) == assistant
        assert reopened.get_thread(thread.id) == thread
        assert reopened.list_messages(thread.id) == messages
        assert reopened.get_run(thread.id, run.id) == run


def test_concurrent_writers_from_many_threads(store: Store) -> None:
    thread = store.create_thread()
    barrier = threading.Barrier(8)

    def write(worker: int) -> list[str]:
        barrier.wait()
        return [
            store.create_message(thread.id, MessageCreate(role="user", content=f"{worker}-{i}")).id
            for i in range(50)
        ]

    with ThreadPoolExecutor(8) as pool:
        written = [mid for ids in pool.map(write, range(8)) for mid in ids]
    listed: list[str] = []
    after = None
    while True:
        page = store.list_messages(thread.id, limit=100, after=after, order="asc")
        listed += [m.id for m in page.data]
        if not page.has_more:
            break
        after = page.last_id
    assert len(listed) == len(set(listed)) == 400 and set(listed) == set(written)


def test_an_upload_in_progress_does_not_block_other_calls(store: Store) -> None:
    """Bytes stream outside the database lock: a slow client must not stall the engine."""
    streaming, release = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b"first half,"
        streaming.set()
        assert release.wait(timeout=30), "the main thread never got through"
        yield b"second half"

    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(store.create_file, slow_body(), "slow.csv", "assistants")
        assert streaming.wait(timeout=30)
        assistant_id = make_assistant(store)  # would wait on the lock if the upload held it
        assert store.list_files().data == []  # not visible until its bytes are all on disk
        release.set()
        created = upload.result(timeout=30)
    assert store.get_assistant(assistant_id).id == assistant_id
    with store.open_file_content(created.id) as content:
        assert content.read() == b"first half,second half"


# ---------------------------------------------------------------- crash recovery


def _active_run_with_open_children(store: Store, status: str) -> tuple[str, str, str, str]:
    thread = store.create_thread()
    assistant_id = make_assistant(store)
    run = store.create_run(thread.id, RunCreate(assistant_id=assistant_id))
    store.save_run(run.model_copy(update={"status": status, "started_at": now()}))
    step = store.add_run_step(
        RunStep(
            run_id=run.id,
            thread_id=thread.id,
            assistant_id=assistant_id,
            type="tool_calls",
            step_details=ToolCallsStepDetails(),
        )
    )
    message = store.add_message(
        Message(thread_id=thread.id, role="assistant", run_id=run.id, status="in_progress")
    )
    return thread.id, run.id, step.id, message.id


def test_runs_left_active_end_on_start_up(data_dir: Path) -> None:
    with Store(data_dir) as store:
        running = _active_run_with_open_children(store, "in_progress")
        queued_thread = store.create_thread()
        queued = store.create_run(queued_thread.id, RunCreate(assistant_id=make_assistant(store)))
        cancelling = _active_run_with_open_children(store, "cancelling")
        done_thread = store.create_thread()
        done = store.create_run(done_thread.id, RunCreate(assistant_id=make_assistant(store)))
        done = store.save_run(done.model_copy(update={"status": "completed"}))

    with Store(data_dir) as store:
        assert {r.id for r in store.recovered_runs} == {running[1], queued.id, cancelling[1]}
        thread_id, run_id, step_id, message_id = running
        run = store.get_run(thread_id, run_id)
        assert run.status == "failed" and run.failed_at is not None and run.expires_at is None
        assert run.last_error is not None and run.last_error.code == "server_error"
        assert "stopped while this run was in_progress" in run.last_error.message
        step = store.get_run_step(thread_id, run_id, step_id)
        assert step.status == "failed" and step.failed_at and step.last_error is not None
        message = store.get_message(thread_id, message_id)
        assert message.status == "incomplete" and message.incomplete_at
        assert message.incomplete_details is not None
        assert message.incomplete_details.reason == "run_failed"
        assert store.get_run(queued_thread.id, queued.id).status == "failed"

        thread_id, run_id, step_id, message_id = cancelling
        assert store.get_run(thread_id, run_id).status == "cancelled"
        assert store.get_run_step(thread_id, run_id, step_id).status == "cancelled"
        cancelled_message = store.get_message(thread_id, message_id).incomplete_details
        assert cancelled_message is not None and cancelled_message.reason == "run_cancelled"
        assert store.get_run(done_thread.id, done.id) == done
        # The thread is usable again.
        store.create_message(running[0], MessageCreate(role="user", content="again"))


def test_no_recovery_while_another_store_has_the_folder(data_dir: Path) -> None:
    with Store(data_dir) as owner:
        thread_id, run_id, _, _ = _active_run_with_open_children(owner, "in_progress")
        with Store(data_dir) as reader:  # e.g. the CLI while the server runs
            assert reader.recovered_runs == []
            assert reader.get_run(thread_id, run_id).status == "in_progress"
        assert owner.get_run(thread_id, run_id).status == "in_progress"
    with Store(data_dir) as after_both:
        assert [r.id for r in after_both.recovered_runs] == [run_id]


def test_orphaned_content_is_swept(data_dir: Path) -> None:
    with Store(data_dir) as store:
        kept = store.create_file(b"kept", "k.txt", "assistants")
    # What a crash between the rename and the commit, or mid-write, leaves.
    (data_dir / "files" / "file-orphan").write_bytes(b"never committed")
    (data_dir / "files" / ".partial" / "file-x.abc.part").write_bytes(b"half")
    with Store(data_dir) as store:
        assert sorted(store.swept) == [".partial/file-x.abc.part", "file-orphan"]
        assert disk_entries(data_dir) == ([kept.id], [])


def _child(code: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_run_of_a_killed_process_fails_on_next_start(data_dir: Path) -> None:
    child = _child(
        """
        import os, signal
        from engine.schemas import AssistantCreate, RunCreate
        from engine.store import Store
        store = Store(os.environ["DATA_DIR"])
        thread = store.create_thread()
        assistant = store.create_assistant(AssistantCreate(model="m"))
        run = store.create_run(thread.id, RunCreate(assistant_id=assistant.id))
        store.save_run(run.model_copy(update={"status": "in_progress"}))
        print(thread.id, run.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
        data_dir,
    )
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    thread_id, run_id = out.split()
    with Store(data_dir) as store:
        run = store.get_run(thread_id, run_id)
        assert run.status == "failed" and run.last_error is not None


def test_kill_mid_upload_leaves_a_consistent_store(data_dir: Path) -> None:
    child = _child(
        """
        import os, sys
        from engine.store import Store
        store = Store(os.environ["DATA_DIR"])
        done = store.create_file(b"acknowledged", "done.txt", "assistants")
        print(done.id, flush=True)

        def body():
            for _ in range(8):
                yield b"x" * (1 << 20)
            print("streaming", flush=True)
            sys.stdin.readline()  # blocks: the parent kills us here, mid-upload
            yield b"never"

        store.create_file(body(), "partial.bin", "assistants")
        print("finished", flush=True)
    """,
        data_dir,
    )
    assert child.stdout is not None
    done_id = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "streaming"
    child.kill()
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    files, partials = disk_entries(data_dir)
    assert files == [done_id] and len(partials) == 1  # the kill did land mid-upload
    with Store(data_dir) as store:
        assert [f.id for f in store.list_files().data] == [done_id]
        with store.open_file_content(done_id) as content:
            assert content.read() == b"acknowledged"
        assert disk_entries(data_dir) == ([done_id], [])
    conn = sqlite3.connect(data_dir / "airlock.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_run_round_trip_with_every_field(store: Store) -> None:
    thread = store.create_thread()
    run = store.create_run(thread.id, RunCreate(assistant_id=make_assistant(store)))
    full = Run.model_validate(
        {
            **run.model_dump(),
            "status": "incomplete",
            "started_at": 1,
            "completed_at": 2,
            "incomplete_details": {"reason": "max_code_calls"},
            "last_error": {"code": "rate_limit_exceeded", "message": "slow down"},
            "required_action": {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{}"}}]
                },
            },
            "tool_choice": {"type": "code_interpreter"},
            "truncation_strategy": {"type": "last_messages", "last_messages": 4},
            "response_format": {"type": "json_object"},
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
        }
    )
    store.save_run(full)
    assert store.get_run(thread.id, run.id) == full
    assert [r.id for r in store.list_runs(thread.id).data] == [run.id]
