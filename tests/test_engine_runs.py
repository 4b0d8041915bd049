"""The run loop end to end: a real kernel, a real store in tmp_path and the scripted model.

Each test drives `Engine` the way the REST server does (store a run, start it, read its events
and the stored objects) and checks what the Assistants API promises: statuses, steps, messages,
usage, annotations, files, and what the model was sent between calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.core import AssistPolicy
from engine.schemas import ImageFileContent, TextContent
from engine.store import InvalidRequestError
from tests.engine_fixtures import (
    Harness,
    RecordingScripted,
    code,
    collect,
    finished,
    message_text,
    open_engine,
    settings,
    text,
    wait_for,
)

HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    """`await make_harness(**run_limits)`: an engine (own data folder) with those limits."""
    opened: list[Harness] = []

    async def make(
        data_dir: Path | None = None, assist: AssistPolicy | None = None, **limits: Any
    ) -> Harness:
        backend = RecordingScripted()
        engine = await open_engine(
            backend, data_dir or tmp_path / f"data{len(opened)}", settings(assist, **limits)
        )
        harness = Harness(engine, backend)
        opened.append(harness)
        return harness

    yield make
    for harness in opened:
        await harness.engine.aclose()


@pytest.fixture
async def h(make_harness: HarnessFactory) -> Harness:
    return await make_harness()


def _marker_written(h: Harness, thread_id: str, name: str) -> Callable[[], bool]:
    def check() -> bool:
        session = h.engine.sessions.get(thread_id)
        return session is not None and session.session.workspace.host_path(name).exists()

    return check


# ---------------------------------------------------------------- 1. success at the first try


async def test_code_then_text_completes_with_steps_usage_and_timestamps(h: Harness) -> None:
    before = int(time.time())
    run = await h.run("first try", [code("print(6 * 7)"), text("The answer is 42.")])

    assert run.status == "completed"
    assert run.last_error is None and run.incomplete_details is None
    assert run.expires_at is None
    assert run.started_at is not None and run.completed_at is not None
    assert before - 1 <= run.created_at <= run.started_at <= run.completed_at <= time.time() + 1
    assert run.failed_at is None and run.cancelled_at is None
    assert h.store.get_run(run.thread_id, run.id) == run

    steps = h.steps(run)
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert all(s.status == "completed" and s.completed_at for s in steps)
    calls = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert len(calls) == 1 and calls[0].type == "code_interpreter"
    assert calls[0].id.startswith("call_")
    assert calls[0].code_interpreter.input == "print(6 * 7)"  # type: ignore[union-attr]
    outputs = calls[0].code_interpreter.outputs  # type: ignore[union-attr]
    assert [o.type for o in outputs] == ["logs"]
    assert outputs[0].logs.strip() == "42"  # type: ignore[union-attr]

    [message] = h.messages(run)
    assert message_text(message) == "The answer is 42."
    assert message.status == "completed" and message.run_id == run.id
    assert message.assistant_id == h.assistant.id
    assert steps[1].step_details.message_creation.message_id == message.id  # type: ignore[union-attr]

    assert run.usage is not None and run.usage.total_tokens > 0
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0
    for step in steps:
        assert step.usage is not None and step.usage.total_tokens > 0
    assert run.usage.total_tokens == sum(s.usage.total_tokens for s in steps if s.usage)
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens


async def test_text_only_answer_needs_no_kernel(h: Harness) -> None:
    run = await h.run("just talk", [text("Hello.")])
    assert run.status == "completed"
    assert [s.type for s in h.steps(run)] == ["message_creation"]
    assert h.engine.sessions.get(run.thread_id) is None


# ---------------------------------------------------------------- 2. retry after a traceback


async def test_traceback_goes_back_to_the_model_which_retries(h: Harness) -> None:
    prompt = "retry please"
    run = await h.run(prompt, [code("1 / 0"), code("print('fixed')"), text("Fixed it.")])

    assert run.status == "completed"
    tool_steps = h.tool_steps(run)
    assert len(tool_steps) == 2
    assert all(s.status == "completed" for s in tool_steps)
    assert "ZeroDivisionError" in h.logs(run).split("fixed")[0]

    calls = h.backend.calls_for(prompt)
    assert len(calls) == 3
    second = calls[1].messages
    assert second[-2].role == "assistant" and second[-2].code_call is not None
    assert second[-2].code_call.code == "1 / 0"
    assert second[-1].role == "tool" and "ZeroDivisionError" in second[-1].content
    first_call_id = tool_steps[0].step_details.tool_calls[0].id  # type: ignore[union-attr]
    assert second[-1].call_id == first_call_id == second[-2].code_call.call_id
    assert "fixed" in calls[2].messages[-1].content
    assert message_text(h.messages(run)[-1]) == "Fixed it."


# ---------------------------------------------------------------- 3. limits


async def test_max_code_calls_ends_the_run_incomplete(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_code_calls=2)
    run = await h.run("loop forever", [code(f"print({i})") for i in range(5)])
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_code_calls"
    assert len(h.tool_steps(run)) == 2
    assert len(h.backend.calls_for("loop forever")) == 2
    assert run.expires_at is None


async def test_consecutive_failures_fail_the_run(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_consecutive_failures=2)
    run = await h.run(
        "always failing",
        [code("1 / 0"), code("undefined_name"), code("print('never')"), text("never")],
    )
    assert run.status == "failed"
    assert run.failed_at is not None and run.expires_at is None
    assert run.last_error is not None
    assert "NameError" in run.last_error.message
    assert "2" in run.last_error.message
    assert len(h.tool_steps(run)) == 2


async def test_a_success_resets_the_failure_count(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_consecutive_failures=2)
    run = await h.run("mixed", [code("1 / 0"), code("print(1)"), code("1 / 0"), text("ok")])
    assert run.status == "completed"


async def test_wall_time_expires_the_run(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_wall_seconds=3)
    started = time.monotonic()
    # Several sleeping cells: however the first one ends, the wall time runs out in one.
    run = await h.run("slow", [code("import time\ntime.sleep(60)")] * 5 + [text("never")])
    assert time.monotonic() - started < 40
    assert run.status == "expired"
    assert run.expires_at is None
    assert run.last_error is not None and "time limit" in run.last_error.message
    assert h.tool_steps(run)[-1].status in ("cancelled", "expired")
    assert h.messages(run) == []


async def test_wall_time_cuts_the_cell_as_expiry_not_as_a_cell_timeout(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(max_wall_seconds=8)
    # Start the run late in a second (started_at is truncated), and the sleeping cell just
    # after a whole second: the whole-second arithmetic then leaves the cell ~0.5 s less than
    # the wall time really left, so its own timeout fires before the run's timer.
    await wait_for(lambda: 0.55 < time.time() % 1 < 0.75, 5, "the clock phase")
    align = code("import time\ntime.sleep(1 - time.time() % 1 + 0.02)")
    run = await h.run("slow aligned", [align, code("time.sleep(60)"), text("finished anyway")])
    assert "exceeded its time limit" not in h.logs(run)
    assert run.status == "expired"


async def test_max_completion_tokens_ends_the_run_incomplete(h: Harness) -> None:
    long_code = "total = 0\n" + "\n".join(f"total += {i}  # adding number {i}" for i in range(40))
    run = await h.run(
        "count tokens",
        [code(long_code), code("print(total)"), text("done")],
        max_completion_tokens=20,
    )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert len(h.tool_steps(run)) == 1
    assert run.usage is not None and run.usage.completion_tokens >= 20


async def test_max_run_tokens_ends_the_run_incomplete(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_run_tokens=300)
    run = await h.run("token budget", [code("print('x' * 10)")] * 20)
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_run_tokens"
    assert run.usage is not None and run.usage.total_tokens >= 300


# ---------------------------------------------------------------- 4. images, CSV, annotations

PLOT_AND_CSV = """\
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [3, 1, 2])
plt.show()
with open('/mnt/data/out.csv', 'w') as f:
    f.write('a,b\\n1,2\\n3,4\\n')
print('written')
"""


async def test_shown_plot_and_linked_csv_get_files_and_annotations(h: Harness) -> None:
    answer = (
        "Here is the [csv](sandbox:/mnt/data/out.csv) and a "
        "[missing one](sandbox:/mnt/data/nope.csv)."
    )
    run = await h.run("plot and csv", [code(PLOT_AND_CSV), text(answer)])
    assert run.status == "completed"

    [step] = h.tool_steps(run)
    outputs = step.step_details.tool_calls[0].code_interpreter.outputs  # type: ignore[union-attr]
    # In the order the cell produced them: the plot was shown before the print.
    assert [o.type for o in outputs] == ["image", "logs"]
    image_id = outputs[0].image.file_id  # type: ignore[union-attr]
    image = h.store.get_file(image_id)
    assert image.purpose == "assistants_output"
    assert h.file_bytes(image_id).startswith(b"\x89PNG\r\n\x1a\n")

    [message] = h.messages(run)
    image_blocks = [b for b in message.content if isinstance(b, ImageFileContent)]
    assert [b.image_file.file_id for b in image_blocks] == [image_id]
    [text_block] = [b for b in message.content if isinstance(b, TextContent)]
    # A link to a file that was never made is taken out (engine.core.annotations.fix_links).
    assert text_block.text.value == answer.replace(
        "[missing one](sandbox:/mnt/data/nope.csv)", "missing one (no such file was made)"
    )
    [annotation] = text_block.text.annotations
    assert annotation.type == "file_path"
    link = "sandbox:/mnt/data/out.csv"
    assert answer[annotation.start_index : annotation.end_index] == link
    assert annotation.text == link
    csv_id = annotation.file_path.file_id
    assert h.file_bytes(csv_id) == b"a,b\n1,2\n3,4\n"
    csv_file = h.store.get_file(csv_id)
    assert csv_file.purpose == "assistants_output" and csv_file.filename == "out.csv"


async def test_saved_plot_not_shown_becomes_an_image_block(h: Harness) -> None:
    saved = (
        "import matplotlib.pyplot as plt\nfig = plt.figure()\nplt.plot([1, 2])\n"
        "fig.savefig('/mnt/data/plot.png')\nplt.close(fig)\nprint('saved')"
    )
    run = await h.run("save a plot", [code(saved), text("Saved the plot.")])
    assert run.status == "completed"
    [step] = h.tool_steps(run)
    outputs = step.step_details.tool_calls[0].code_interpreter.outputs  # type: ignore[union-attr]
    assert [o.type for o in outputs] == ["logs"]
    [message] = h.messages(run)
    [image_block] = [b for b in message.content if isinstance(b, ImageFileContent)]
    file_id = image_block.image_file.file_id
    assert h.store.get_file(file_id).filename == "plot.png"
    assert h.file_bytes(file_id).startswith(b"\x89PNG")
    assert message_text(message) == "Saved the plot."


async def test_linked_saved_plot_is_annotated_not_duplicated(h: Harness) -> None:
    saved = (
        "import matplotlib.pyplot as plt\nfig = plt.figure()\nplt.plot([1, 2])\n"
        "fig.savefig('/mnt/data/plot.png')\nplt.close(fig)"
    )
    answer = "See [plot](sandbox:/mnt/data/plot.png)."
    run = await h.run("link a plot", [code(saved), text(answer)])
    [message] = h.messages(run)
    assert not [b for b in message.content if isinstance(b, ImageFileContent)]
    [annotation] = message.content[-1].text.annotations  # type: ignore[union-attr]
    assert answer[annotation.start_index : annotation.end_index] == "sandbox:/mnt/data/plot.png"


# ---------------------------------------------------------------- 5. state and isolation


async def test_state_kept_across_runs_and_threads_isolated(h: Harness) -> None:
    thread_a = (await h.thread()).id
    run1 = await h.run(
        "set state",
        [code("secret = 12345\nopen('/mnt/data/a_only.txt', 'w').write('A')"), text("set")],
        thread_id=thread_a,
    )
    assert run1.status == "completed"
    run2 = await h.run("get state", [code("print(secret * 2)"), text("got")], thread_id=thread_a)
    assert run2.status == "completed"
    assert "24690" in h.logs(run2)

    run_b = await h.run(
        "other thread",
        [
            code("import os\nprint('exists:', os.path.exists('/mnt/data/a_only.txt'))"),
            code("print(secret)"),
            text("done"),
        ],
    )
    assert run_b.thread_id != thread_a
    logs_b = h.logs(run_b)
    assert "exists: False" in logs_b
    assert "NameError" in logs_b
    session_a, session_b = h.engine.sessions.get(thread_a), h.engine.sessions.get(run_b.thread_id)
    assert session_a is not None and session_b is not None
    assert session_a.session is not session_b.session


async def test_concurrent_runs_on_two_threads(h: Harness) -> None:
    script = [code("import os\nprint('pid-ok', len(os.listdir('/mnt/data')))"), text("ok")]
    handles = [await h.start(f"parallel {i}", script) for i in range(2)]
    runs = await asyncio.gather(*(finished(handle) for handle in handles))
    assert [r.status for r in runs] == ["completed", "completed"]
    assert runs[0].thread_id != runs[1].thread_id


# ---------------------------------------------------------------- 6. cancel mid-cell

SLEEPY = (
    "import pathlib, time\nkept = 7\npathlib.Path('/mnt/data/started').write_text('x')\n"
    "time.sleep(60)"
)


async def test_cancel_mid_cell_interrupts_and_keeps_state(h: Harness) -> None:
    handle = await h.start("sleep then cancel", [code(SLEEPY), text("never")])
    thread_id = handle.run.thread_id
    await wait_for(_marker_written(h, thread_id, "started"), what="the cell to start")

    started = time.monotonic()
    cancelling = await h.engine.cancel_run(thread_id, handle.run.id)
    assert cancelling.status == "cancelling"
    run = await finished(handle, 40)
    assert time.monotonic() - started < 30
    assert run.status == "cancelled"
    assert run.cancelled_at is not None and run.expires_at is None
    assert h.store.get_run(thread_id, run.id).status == "cancelled"
    [step] = h.tool_steps(run)
    assert step.status == "cancelled" and step.cancelled_at is not None
    assert h.messages(run) == []
    names = [e.event for e in await collect(handle)]
    assert names[-1] == "thread.run.cancelled"
    assert "thread.run.cancelling" in names

    after = await h.run(
        "after cancel", [code("print('kept is', kept)"), text("ok")], thread_id=thread_id
    )
    assert after.status == "completed"
    assert "kept is 7" in h.logs(after)


async def test_cancel_of_a_finished_run_is_refused(h: Harness) -> None:
    run = await h.run("quick", [text("hi")])
    with pytest.raises(InvalidRequestError):
        await h.engine.cancel_run(run.thread_id, run.id)


# ---------------------------------------------------------------- 7. kernel death


async def test_kernel_death_is_reported_to_the_model(h: Harness) -> None:
    prompt = "kill the kernel"
    run = await h.run(
        prompt,
        [
            code("x = 1\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
            code("print('alive again', 'x' in globals())"),
            text("Recovered."),
        ],
    )
    assert run.status == "completed"
    calls = h.backend.calls_for(prompt)
    assert len(calls) == 3
    report = calls[1].messages[-1]
    assert report.role == "tool"
    assert "restarted" in report.content
    assert "gone" in report.content
    assert "alive again False" in h.logs(run)


# ---------------------------------------------------------------- 8. engine restart


async def test_restart_over_the_same_data_folder_keeps_everything(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "persist"
    h = await make_harness(data_dir)
    upload = h.upload("input.txt", b"hello")
    run = await h.run(
        "persist me",
        [
            code(
                "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
                "open('/mnt/data/result.txt', 'w').write('R')"
            ),
            text("[result](sandbox:/mnt/data/result.txt)"),
        ],
        attachments=[upload.id],
    )
    assert run.status == "completed"

    def snapshot(harness: Harness) -> dict[str, Any]:
        store = harness.store
        threads = store.list_threads(limit=100).data
        out: dict[str, Any] = {
            "assistants": store.list_assistants(limit=100).data,
            "threads": threads,
            "files": store.list_files(limit=100).data,
        }
        for thread in threads:
            runs = store.list_runs(thread.id, limit=100).data
            out[thread.id] = {
                "messages": store.list_messages(thread.id, limit=100).data,
                "runs": runs,
                "steps": {
                    r.id: store.list_run_steps(thread.id, r.id, limit=100).data for r in runs
                },
            }
        out["contents"] = {f.id: harness.file_bytes(f.id) for f in out["files"]}
        return out

    before = snapshot(h)
    assert len(before["files"]) == 3  # the upload, the image, result.txt
    await h.engine.aclose()
    h2 = await make_harness(data_dir)
    after = snapshot(h2)
    after["assistants"] = [a for a in after["assistants"] if a.id != h2.assistant.id]
    assert after == before
    run_again = h2.store.get_run(run.thread_id, run.id)
    assert run_again.status == "completed"


# ---------------------------------------------------------------- 9. files in /mnt/data

LIST_FILES = """\
import os
print(sorted(os.listdir('/mnt/data')))
for name in ['assistant.txt', 'thread.txt', 'data.csv', 'data_2.csv']:
    print(name, '=', open('/mnt/data/' + name).read())
"""


async def test_assistant_thread_and_message_files_are_staged(h: Harness) -> None:
    from engine.schemas import AssistantCreate, CodeInterpreterTool

    a_file = h.upload("assistant.txt", b"from the assistant")
    t_file = h.upload("thread.txt", b"from the thread")
    m1 = h.upload("data.csv", b"first,csv")
    m2 = h.upload("data.csv", b"second,csv")
    assistant = h.store.create_assistant(
        AssistantCreate.model_validate(
            {
                "model": "scripted",
                "tools": [CodeInterpreterTool()],
                "tool_resources": {"code_interpreter": {"file_ids": [a_file.id]}},
            }
        )
    )
    thread = await h.thread(tool_resources={"code_interpreter": {"file_ids": [t_file.id]}})
    prompt = "list the files"
    run = await h.run(
        prompt,
        [code(LIST_FILES), text("Listed.")],
        thread_id=thread.id,
        assistant_id=assistant.id,
        attachments=[m1.id, m2.id],
    )
    assert run.status == "completed"
    logs = h.logs(run)
    assert "['assistant.txt', 'data.csv', 'data_2.csv', 'thread.txt']" in logs
    assert "assistant.txt = from the assistant" in logs
    assert "thread.txt = from the thread" in logs
    assert "data.csv = first,csv" in logs
    assert "data_2.csv = second,csv" in logs

    first = h.backend.calls_for(prompt)[0]
    system = first.messages[0]
    assert system.role == "system"
    for path in (
        "/mnt/data/assistant.txt",
        "/mnt/data/thread.txt",
        "/mnt/data/data.csv",
        "/mnt/data/data_2.csv",
    ):
        assert path in system.content
    assert "'data.csv'" in system.content
    assert "/mnt/data/data_2.csv" in first.user_prompt  # the message says what it attached
    # An upload is not an output of the run.
    assert {f.purpose for f in h.store.list_files(limit=100).data} == {"assistants"}


async def test_link_to_an_uploaded_file_points_at_the_upload(h: Harness) -> None:
    upload = h.upload("report.txt", b"original")
    run = await h.run(
        "link the upload",
        [
            code("print(open('/mnt/data/report.txt').read())"),
            text("[report](sandbox:/mnt/data/report.txt)"),
        ],
        attachments=[upload.id],
    )
    [message] = h.messages(run)
    [annotation] = message.content[-1].text.annotations  # type: ignore[union-attr]
    assert annotation.file_path.file_id == upload.id  # type: ignore[union-attr]


# ---------------------------------------------------------------- 10. stream order


async def test_stream_order_matches_the_spec(h: Harness) -> None:
    cell = "x = 2\nprint(x * 21)"
    answer = "The result is 42, see above."
    handle = await h.start("stream me", [code(cell), text(answer)])
    events = await collect(handle)
    names = [e.event for e in events]

    collapsed: list[str] = []
    for name in names:
        if not (collapsed and collapsed[-1] == name and name.endswith(".delta")):
            collapsed.append(name)
    assert collapsed == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]

    tool_created = events[names.index("thread.run.step.created")].data
    assert tool_created["type"] == "tool_calls"
    assert tool_created["step_details"] == {"type": "tool_calls", "tool_calls": []}
    step_id = tool_created["id"]

    deltas = [e.data for e in events if e.event == "thread.run.step.delta"]
    assert all(d["id"] == step_id for d in deltas)
    calls = [d["delta"]["step_details"]["tool_calls"] for d in deltas]
    assert all(len(c) == 1 and c[0]["index"] == 0 for c in calls)
    first = calls[0][0]
    assert first["id"].startswith("call_")
    assert first["code_interpreter"] == {"input": "", "outputs": []}
    assert sum("id" in c[0] for c in calls) == 1  # the id is sent once
    fragments = [c[0]["code_interpreter"].get("input", "") for c in calls[1:]]
    assert len([f for f in fragments if f]) >= 2  # streamed in pieces
    assert "".join(fragments) == cell
    assert "outputs" not in calls[1][0]["code_interpreter"]
    last = calls[-1][0]["code_interpreter"]
    assert "input" not in last
    assert last["outputs"] == [{"index": 0, "type": "logs", "logs": "42\n"}]

    completed_step = events[names.index("thread.run.step.completed")].data
    assert completed_step["step_details"]["tool_calls"][0]["id"] == first["id"]

    created_message = events[names.index("thread.message.created")].data
    assert created_message["content"] == [] and created_message["status"] == "in_progress"
    message_id = created_message["id"]
    text_deltas = [e.data for e in events if e.event == "thread.message.delta"]
    assert all(d["id"] == message_id for d in text_deltas)
    assert "".join(d["delta"]["content"][0]["text"].get("value", "") for d in text_deltas) == answer
    assert all(d["delta"]["content"][0]["index"] == 0 for d in text_deltas)
    assert events[-1].data["status"] == "completed"
    assert events[-1].data["usage"]["total_tokens"] > 0

    # A late reader replays the same events.
    assert [e.event for e in await collect(handle)] == names


async def test_message_delta_carries_annotations_once(h: Harness) -> None:
    answer = "File: [out](sandbox:/mnt/data/o.txt)"
    handle = await h.start(
        "annotated stream", [code("open('/mnt/data/o.txt', 'w').write('o')"), text(answer)]
    )
    events = await collect(handle)
    annotation_deltas = [
        a
        for e in events
        if e.event == "thread.message.delta"
        for block in e.data["delta"]["content"]
        for a in block.get("text", {}).get("annotations", [])
    ]
    assert len(annotation_deltas) == 1
    delta = annotation_deltas[0]
    assert delta["index"] == 0 and delta["type"] == "file_path"
    assert answer[delta["start_index"] : delta["end_index"]] == "sandbox:/mnt/data/o.txt"


# ---------------------------------------------------------------- 11. active run, idle expiry


async def test_second_run_on_a_busy_thread_is_refused(h: Harness) -> None:
    handle = await h.start("busy", [code(SLEEPY), text("never")])
    thread_id = handle.run.thread_id
    with pytest.raises(InvalidRequestError):
        await h.start("second", [text("no")], thread_id=thread_id)
    await h.engine.cancel_run(thread_id, handle.run.id)
    run = await finished(handle, 40)
    assert run.status == "cancelled"
    # The refused run left nothing behind.
    assert [r.id for r in h.store.list_runs(thread_id, limit=10).data] == [run.id]
    prompts = [
        message_text(m) for m in h.store.list_messages(thread_id, limit=10).data if m.role == "user"
    ]
    assert prompts == ["busy"]


async def test_idle_session_is_reaped_and_the_next_run_gets_its_state_back(h: Harness) -> None:
    upload = h.upload("keep.txt", b"kept content")
    run1 = await h.run(
        "before idle",
        [code("marker = 'here'\nprint(open('/mnt/data/keep.txt').read())"), text("ok")],
        attachments=[upload.id],
    )
    assert "kept content" in h.logs(run1)
    thread_id = run1.thread_id
    old = h.engine.sessions.get(thread_id)
    assert old is not None

    h.engine.sessions.idle_seconds = 0.0
    assert await h.engine.sessions.reap_idle() == [thread_id]
    assert h.engine.sessions.get(thread_id) is None
    h.engine.sessions.idle_seconds = 3600.0

    run2 = await h.run(
        "after idle",
        [
            code(
                "import os\nprint(marker, sorted(os.listdir('/mnt/data')))\n"
                "print(open('/mnt/data/keep.txt').read())"
            ),
            text("ok"),
        ],
        thread_id=thread_id,
    )
    assert run2.status == "completed"
    logs = h.logs(run2)
    # A new kernel, with the variables of the old one (its checkpoint) and the upload once.
    assert "here ['keep.txt']" in logs and "kept content" in logs
    assert "restored from its checkpoint: marker" in logs
    new = h.engine.sessions.get(thread_id)
    assert new is not None and new.session is not old.session


async def test_reaper_leaves_a_busy_session_alone(h: Harness) -> None:
    handle = await h.start("busy reaper", [code(SLEEPY), text("never")])
    thread_id = handle.run.thread_id
    await wait_for(_marker_written(h, thread_id, "started"), what="the cell to start")
    h.engine.sessions.idle_seconds = 0.0
    assert await h.engine.sessions.reap_idle() == []
    h.engine.sessions.idle_seconds = 3600.0
    await h.engine.cancel_run(thread_id, handle.run.id)
    assert (await finished(handle, 40)).status == "cancelled"


# ---------------------------------------------------------------- more edges


async def test_files_written_by_a_cancelled_run_are_kept(h: Harness) -> None:
    handle = await h.start("cancel keeps files", [code(SLEEPY), text("never")])
    thread_id = handle.run.thread_id
    await wait_for(_marker_written(h, thread_id, "started"), what="the cell to start")
    assert handle.run.status == "in_progress" and handle.run.expires_at is not None
    await h.engine.cancel_run(thread_id, handle.run.id)
    assert (await finished(handle, 40)).status == "cancelled"
    outputs = h.store.list_files(purpose="assistants_output", limit=100).data
    assert [f.filename for f in outputs] == ["started"]


@pytest.mark.parametrize(
    "second_run_codes",
    [
        pytest.param(True, id="after-a-cell"),
        pytest.param(False, id="text-only"),
    ],
)
async def test_link_to_a_file_of_an_earlier_run_is_annotated(
    h: Harness, second_run_codes: bool
) -> None:
    run1 = await h.run(
        "write it", [code("open('/mnt/data/early.txt', 'w').write('E1')"), text("written")]
    )
    answer = "Earlier: [early](sandbox:/mnt/data/early.txt)."
    script = [code("print('looking')"), text(answer)] if second_run_codes else [text(answer)]
    run2 = await h.run("link it", script, thread_id=run1.thread_id)
    [message] = h.messages(run2)
    [annotation] = message.content[-1].text.annotations  # type: ignore[union-attr]
    assert answer[annotation.start_index : annotation.end_index] == "sandbox:/mnt/data/early.txt"
    assert h.file_bytes(annotation.file_path.file_id) == b"E1"  # type: ignore[union-attr]


async def test_escaped_link_names_the_file_with_a_space(h: Harness) -> None:
    answer = "Get [it](sandbox:/mnt/data/my%20file.csv)!"
    run = await h.run(
        "space", [code("open('/mnt/data/my file.csv', 'w').write('s')"), text(answer)]
    )
    [message] = h.messages(run)
    [annotation] = message.content[-1].text.annotations  # type: ignore[union-attr]
    assert (
        answer[annotation.start_index : annotation.end_index] == "sandbox:/mnt/data/my%20file.csv"
    )
    assert h.file_bytes(annotation.file_path.file_id) == b"s"  # type: ignore[union-attr]


async def test_link_to_an_upload_changed_by_an_earlier_run_gives_its_current_content(
    h: Harness,
) -> None:
    upload = h.upload("data.csv", b"old")
    run1 = await h.run(
        "change upload",
        [code("open('/mnt/data/data.csv', 'w').write('new')"), text("changed")],
        attachments=[upload.id],
    )
    run2 = await h.run(
        "link upload",
        [
            code("print(open('/mnt/data/data.csv').read())"),
            text("[data](sandbox:/mnt/data/data.csv)"),
        ],
        thread_id=run1.thread_id,
    )
    assert "new" in h.logs(run2)
    [message] = h.messages(run2)
    [annotation] = message.content[-1].text.annotations  # type: ignore[union-attr]
    assert h.file_bytes(annotation.file_path.file_id) == b"new"  # type: ignore[union-attr]


async def test_a_new_attachment_does_not_clobber_a_file_the_code_wrote(h: Harness) -> None:
    run1 = await h.run(
        "write data", [code("open('/mnt/data/data.csv', 'w').write('mine')"), text("ok")]
    )
    upload = h.upload("data.csv", b"uploaded")
    run2 = await h.run(
        "attach later",
        [
            code(
                "import os\nprint(sorted(os.listdir('/mnt/data')))\n"
                "print(open('/mnt/data/data.csv').read(), open('/mnt/data/data_2.csv').read())"
            ),
            text("ok"),
        ],
        thread_id=run1.thread_id,
        attachments=[upload.id],
    )
    logs = h.logs(run2)
    assert "['data.csv', 'data_2.csv']" in logs
    assert "mine uploaded" in logs
    system = h.backend.calls_for("attach later")[0].messages[0].content
    assert "/mnt/data/data_2.csv" in system


async def test_run_instructions_reach_the_model(h: Harness) -> None:
    await h.run(
        "instructed",
        [text("ok")],
        instructions="Answer in French.",
        additional_instructions="Be terse.",
    )
    system = h.backend.calls_for("instructed")[0].messages[0]
    assert "Answer in French." in system.content and "Be terse." in system.content


async def test_tool_choice_none_sends_no_tool_and_runs_no_code(h: Harness) -> None:
    run = await h.run("no tools", [code("print('should not run')")], tool_choice="none")
    assert run.status == "completed"
    assert h.tool_steps(run) == []
    assert h.backend.calls_for("no tools")[0].code_tool is False
    assert message_text(h.messages(run)[0]) == "print('should not run')"


async def test_tool_choice_required_forces_code_on_the_first_call_only(h: Harness) -> None:
    await h.run("required", [code("print(1)"), text("ok")], tool_choice="required")
    calls = h.backend.calls_for("required")
    assert [c.code_tool for c in calls] == ["required", True]


async def test_a_deleted_attachment_does_not_break_the_thread(h: Harness) -> None:
    upload = h.upload("gone.txt", b"x")
    thread = await h.thread(tool_resources={"code_interpreter": {"file_ids": [upload.id]}})
    h.store.delete_file(upload.id)
    run = await h.run(
        "missing file", [code("print('still works')"), text("ok")], thread_id=thread.id
    )
    assert run.status == "completed", run.last_error


async def test_max_code_calls_zero_runs_no_code(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_code_calls=0)
    run = await h.run("zero calls", [code("open('/mnt/data/ran', 'w').write('1')"), text("ok")])
    assert h.tool_steps(run) == []


async def test_engine_close_ends_a_run_in_flight(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "closing"
    h = await make_harness(data_dir)
    handle = await h.start("closing", [code(SLEEPY), text("never")])
    thread_id = handle.run.thread_id
    await wait_for(_marker_written(h, thread_id, "started"), what="the cell to start")
    started = time.monotonic()
    await asyncio.wait_for(h.engine.aclose(), 40)
    assert time.monotonic() - started < 30
    assert handle.finished and handle.run.status == "cancelled"
    h2 = await make_harness(data_dir)
    assert h2.store.get_run(thread_id, handle.run.id).status == "cancelled"
    run = await h2.run(
        "after reopen",
        [code("print('restored', 'kept' in globals())"), text("ok")],
        thread_id=thread_id,
    )
    # A new engine, a new kernel: the one closed with the engine was checkpointed first.
    assert "restored True" in h2.logs(run)


async def test_cancel_of_a_queued_run(h: Harness) -> None:
    handle = await h.start("cancel at once", [text("never")])
    cancelling = await h.engine.cancel_run(handle.run.thread_id, handle.run.id)
    assert cancelling.status == "cancelling"
    run = await finished(handle)
    assert run.status == "cancelled" and run.cancelled_at is not None
    assert h.messages(run) == [] and h.steps(run) == []
    names = [e.event for e in await collect(handle)]
    assert names[0] == "thread.run.created" and names[-1] == "thread.run.cancelled"
    assert names.count("thread.run.cancelling") == 1


async def test_a_cancelled_run_never_goes_back_in_progress(h: Harness) -> None:
    handle = await h.start("cancel before start", [text("never")])
    await h.engine.cancel_run(handle.run.thread_id, handle.run.id)
    await finished(handle)
    names = [e.event for e in await collect(handle)]
    after_cancel = names[names.index("thread.run.cancelling") :]
    assert "thread.run.in_progress" not in after_cancel


# ---------------------------------------------------------------- what the model is sent


async def test_long_output_is_cut_for_the_model_but_kept_in_the_step(
    make_harness: HarnessFactory,
) -> None:
    # Without the answer reminder that ends a clean cell's description (see test_engine_assist).
    h = await make_harness(max_output_chars=400, assist=AssistPolicy(answer_reminder=False))
    cell = "print('HEAD')\nprint('x' * 5000)\nprint('TAIL')"
    run = await h.run("long output", [code(cell), text("ok")])
    logs = h.logs(run)
    assert "HEAD" in logs and "TAIL" in logs and logs.count("x") >= 5000
    seen = h.backend.calls_for("long output")[1].messages[-1]
    assert seen.role == "tool"
    assert len(seen.content) <= 400 + 50
    assert seen.content.startswith("HEAD") and seen.content.rstrip().endswith("TAIL")
    assert "characters cut" in seen.content


async def test_long_traceback_keeps_its_end_for_the_model(make_harness: HarnessFactory) -> None:
    h = await make_harness(max_output_chars=400)
    cell = "print('y' * 3000)\nraise ValueError('the real problem')"
    await h.run("long error", [code(cell), text("ok")])
    seen = h.backend.calls_for("long error")[1].messages[-1].content
    assert len(seen) <= 400 + 100
    assert "ValueError: the real problem" in seen


async def test_old_thread_messages_are_dropped_to_fit_the_budget(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(prompt_token_budget=400)
    thread_id = (await h.thread()).id
    for name in ("alpha", "beta"):
        prompt = f"{name} " + " ".join(f"{name}{i}" for i in range(150))
        await h.run(prompt, [text(f"reply to {name}")], thread_id=thread_id)
    await h.run("gamma question", [text("ok")], thread_id=thread_id)
    [call] = h.backend.calls_for("gamma question")
    users = [m.content for m in call.messages if m.role == "user"]
    assert users[-1] == "gamma question"
    assert not any(u.startswith("alpha") for u in users)
    assert call.messages[0].role == "system"


async def test_truncation_strategy_last_messages(h: Harness) -> None:
    thread_id = (await h.thread()).id
    await h.run("one", [text("first reply")], thread_id=thread_id)
    await h.run("two", [text("second reply")], thread_id=thread_id)
    await h.run(
        "three",
        [text("ok")],
        thread_id=thread_id,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
    )
    [call] = h.backend.calls_for("three")
    assert [(m.role, m.content) for m in call.messages[1:]] == [
        ("assistant", "second reply"),
        ("user", "three"),
    ]


# ---------------------------------------------------------------- links that must not leak


async def test_links_outside_the_workspace_get_no_annotation(h: Harness) -> None:
    cell = (
        "import os\nos.makedirs('/mnt/data/sub', exist_ok=True)\n"
        "open('/mnt/data/sub/x.csv', 'w').write('sx')\n"
        "os.symlink('/etc/passwd', '/mnt/data/link')"
    )
    answer = (
        "a [s](sandbox:/mnt/data/sub/x.csv) b sandbox:/mnt/data/../../../etc/passwd "
        "c [l](sandbox:/mnt/data/link) d sandbox:/mnt/data/sub"
    )
    run = await h.run("escape", [code(cell), text(answer)])
    assert run.status == "completed"
    [message] = h.messages(run)
    annotations = message.content[-1].text.annotations  # type: ignore[union-attr]
    assert [a.text for a in annotations] == ["sandbox:/mnt/data/sub/x.csv"]
    assert h.file_bytes(annotations[0].file_path.file_id) == b"sx"  # type: ignore[union-attr]
    stored = h.store.list_files(limit=100).data
    assert [f.filename for f in stored] == ["x.csv"]
    assert all(b"root:" not in h.file_bytes(f.id) for f in stored)


async def test_a_pooled_kernel_serves_a_thread(tmp_path: Path) -> None:
    from engine.core import EngineSettings
    from sandbox import SandboxConfig
    from tests.conftest import TEST_LIMITS

    backend = RecordingScripted()
    engine = await open_engine(
        backend,
        tmp_path / "pool",
        EngineSettings(sandbox=SandboxConfig(limits=TEST_LIMITS), kernel_pool_size=1),
    )
    try:
        h = Harness(engine, backend)
        upload = h.upload("p.txt", b"pooled")
        run = await h.run(
            "pool",
            [code("print(open('/mnt/data/p.txt').read())"), text("ok")],
            attachments=[upload.id],
        )
        assert run.status == "completed" and "pooled" in h.logs(run)
    finally:
        await engine.aclose()


async def test_cancel_of_a_cell_that_ignores_interrupts(h: Harness) -> None:
    stubborn = (
        "import pathlib, time\nlost = 1\n"
        "pathlib.Path('/mnt/data/started').write_text('x')\n"
        "while True:\n    try:\n        time.sleep(60)\n    except KeyboardInterrupt:\n"
        "        pass"
    )
    handle = await h.start("stubborn", [code(stubborn), text("never")])
    thread_id = handle.run.thread_id
    await wait_for(_marker_written(h, thread_id, "started"), what="the cell to start")
    started = time.monotonic()
    await h.engine.cancel_run(thread_id, handle.run.id)
    run = await finished(handle, 60)
    assert time.monotonic() - started < 45
    assert run.status == "cancelled"
    after = await h.run(
        "after stubborn", [code("print('lost' in globals())"), text("ok")], thread_id=thread_id
    )
    assert after.status == "completed"
    assert "False" in h.logs(after)


# ---------------------------------------------------------------- errors are logged, not lost


async def test_files_that_cannot_be_kept_are_logged_and_the_run_still_ends(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.core.generated import GeneratedFiles

    def broken(*args: object) -> list[object]:
        raise OSError("disk full")

    monkeypatch.setattr(GeneratedFiles, "store_all", broken)
    run = await h.run("unkept", [code("open('/mnt/data/a.txt', 'w').write('a')"), text("done")])
    assert run.status == "failed"  # the answer could not link its files: a server error
    assert "disk full" in (run.last_error.message if run.last_error else "")
    assert any("could not keep the files its code wrote" in r.getMessage() for r in caplog.records)


async def test_closing_logs_a_run_task_that_broke(
    make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.core import RunHandle
    from engine.schemas import Run

    h = await make_harness()

    async def bug() -> None:
        raise RuntimeError("a bug in the loop")

    handle = RunHandle(
        Run(thread_id="thread_x", assistant_id="asst_x", model="m", instructions=None, tools=[])
    )
    handle.task = asyncio.create_task(bug())
    h.engine._runs[handle.run.id] = handle
    await h.engine.aclose()  # does not raise
    assert any(
        "ended with an error while the engine closed" in r.getMessage() for r in caplog.records
    )


def test_terminal_run_events_are_one_per_terminal_status() -> None:
    from engine.core.events import TERMINAL_RUN_EVENTS, RunEvent
    from engine.schemas import TERMINAL_RUN_STATUSES

    assert {e.removeprefix("thread.run.") for e in TERMINAL_RUN_EVENTS} == TERMINAL_RUN_STATUSES
    assert RunEvent("thread.run.expired", {}).ends_run
    assert not RunEvent("thread.run.step.completed", {}).ends_run
    assert not RunEvent("thread.run.cancelling", {}).ends_run
