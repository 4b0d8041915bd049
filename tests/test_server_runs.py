"""Runs through the REST server and the official SDK: polling, raw SSE, `runs.stream()` with an
event handler, generated images, cancel, and a busy thread. Each test's assistant names its own
`scripted:PATH` model, so one server replays a different script per test."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AssistantEventHandler, OpenAI
from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import ImageFile, Message, Text, TextDelta
from openai.types.beta.threads.runs import RunStep, ToolCall, ToolCallDelta
from server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server, write_script

pytestmark = [
    pytest.mark.filterwarnings(BETA_WARNING_FILTER),
    pytest.mark.skipif(
        importlib.util.find_spec("engine.runner") is None, reason="engine/runner.py not landed yet"
    ),
]

CODE = "print(1 + 1)"
ANSWER = "The answer is 2."
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('plotted')"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("runs") / "server") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> OpenAI:
    return server.client()


def make_assistant(
    client: OpenAI, tmp_path: Path, items: list[dict[str, str]], **kwargs: Any
) -> Assistant:
    model = write_script(tmp_path / f"script-{len(list(tmp_path.iterdir()))}.json", items)
    return client.beta.assistants.create(
        model=model,
        tools=[{"type": "code_interpreter"}],
        instructions="You are a personal math tutor. When asked a math question, write and "
        "run code to answer the question.",
        **kwargs,
    )


def ask(client: OpenAI, question: str = "What is 1 + 1?") -> Thread:
    return client.beta.threads.create(messages=[{"role": "user", "content": question}])


def test_create_and_poll_completes_with_steps(client: OpenAI, tmp_path: Path) -> None:
    assistant = make_assistant(client, tmp_path, [{"code": CODE}, {"text": ANSWER}])
    thread = ask(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert run.usage is not None and run.usage.total_tokens > 0
    assert run.completed_at is not None and run.expires_at is None

    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert raw.headers["openai-poll-after-ms"] == "200"
    assert raw.parse().status == "completed"
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run.id]

    steps = client.beta.threads.runs.steps.list(
        thread_id=thread.id,
        run_id=run.id,
        order="asc",
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    )
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
    tool_step = steps.data[0]
    assert tool_step.status == "completed"
    assert tool_step.step_details.type == "tool_calls"
    call = tool_step.step_details.tool_calls[0]
    assert call.type == "code_interpreter"
    assert call.code_interpreter.input == CODE
    logs = [o for o in call.code_interpreter.outputs if o.type == "logs"]
    assert logs and logs[0].logs == "2\n"
    again = client.beta.threads.runs.steps.retrieve(
        tool_step.id, thread_id=thread.id, run_id=run.id
    )
    assert again == tool_step

    messages = client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.role for m in messages.data] == ["user", "assistant"]
    reply = messages.data[1]
    assert (reply.run_id, reply.assistant_id) == (run.id, assistant.id)
    assert reply.content[0].type == "text" and reply.content[0].text.value == ANSWER
    only_run = client.beta.threads.messages.list(thread.id, run_id=run.id)
    assert [m.id for m in only_run.data] == [reply.id]

    # Metadata of an ended run can change; nothing else.
    updated = client.beta.threads.runs.update(
        run.id, thread_id=thread.id, metadata={"checked": "yes"}
    )
    assert updated.metadata == {"checked": "yes"}
    assert updated.status == "completed"


def test_create_and_run_poll(client: OpenAI, tmp_path: Path) -> None:
    assistant = make_assistant(client, tmp_path, [{"text": "Hi."}])
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hello"}]}
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(run.thread_id).data[0]
    assert reply.content[0].type == "text" and reply.content[0].text.value == "Hi."


EXPECTED_ORDER = [
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


def _collapse(names: list[str]) -> list[str]:
    """Runs of the same event (deltas) as one."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def test_raw_stream_follows_the_spec_order(client: OpenAI, tmp_path: Path) -> None:
    assistant = make_assistant(client, tmp_path, [{"code": CODE}, {"text": ANSWER}])
    thread = ask(client)
    stream = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, stream=True
    )
    events = list(stream)
    assert _collapse([e.event for e in events]) == EXPECTED_ORDER
    assert events[-1].event == "thread.run.completed"
    assert events[-1].data.status == "completed"
    # Deltas carry each fragment once: merged, they give the code and the answer.
    code = "".join(
        call.code_interpreter.input or ""
        for e in events
        if e.event == "thread.run.step.delta"
        for call in (e.data.delta.step_details.tool_calls or [])  # type: ignore[union-attr]
        if call.type == "code_interpreter" and call.code_interpreter is not None
    )
    assert code == CODE
    text = "".join(
        block.text.value or ""
        for e in events
        if e.event == "thread.message.delta"
        for block in (e.data.delta.content or [])  # type: ignore[union-attr]
        if block.type == "text" and block.text is not None
    )
    assert text == ANSWER


def test_raw_http_stream_ends_with_done(
    server: RunningServer, client: OpenAI, tmp_path: Path
) -> None:
    assistant = make_assistant(client, tmp_path, [{"text": "Done."}])
    with httpx.stream(
        "POST",
        f"{server.url}/v1/threads/runs",
        timeout=60,
        json={
            "assistant_id": assistant.id,
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    blocks = [b for b in body.split("\n\n") if b]
    names = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    assert names[0] == "thread.created"
    assert names[1] == "thread.run.created"
    assert names[-2] == "thread.run.completed"
    assert blocks[-1] == "event: done\ndata: [DONE]"
    for block in blocks[:-1]:
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        json.loads(data_line.removeprefix("data: "))


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.code = ""
        self.text = ""
        self.images: list[str] = []
        self.logs: list[str] = []

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.calls.append("tool_call_created")

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        self.calls.append("tool_call_delta")
        if delta.type == "code_interpreter" and delta.code_interpreter is not None:
            self.code += delta.code_interpreter.input or ""
            for output in delta.code_interpreter.outputs or []:
                if output.type == "logs":
                    self.logs.append(output.logs or "")

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        self.calls.append("tool_call_done")

    def on_run_step_done(self, run_step: RunStep) -> None:
        self.calls.append(f"step_done:{run_step.type}")

    def on_message_created(self, message: Message) -> None:
        self.calls.append("message_created")

    def on_image_file_done(self, image_file: ImageFile) -> None:
        self.calls.append("image_file_done")
        self.images.append(image_file.file_id)

    def on_text_created(self, text: Text) -> None:
        self.calls.append("text_created")

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.calls.append("text_delta")
        self.text += delta.value or ""

    def on_message_done(self, message: Message) -> None:
        self.calls.append("message_done")

    def on_end(self) -> None:
        self.calls.append("end")


def test_stream_with_event_handler_and_image_download(client: OpenAI, tmp_path: Path) -> None:
    answer = "Here is the plot."
    assistant = make_assistant(client, tmp_path, [{"code": PLOT}, {"text": answer}])
    thread = ask(client, "Plot y = x + 1 for x in 1..2.")
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
        final_messages = stream.get_final_messages()
    assert final.status == "completed", final.last_error
    assert recorder.code == PLOT
    assert "".join(recorder.logs) == "plotted\n"
    assert recorder.text == answer
    calls = _collapse(recorder.calls)
    first = calls.index
    assert first("tool_call_created") < first("tool_call_delta") < first("tool_call_done")
    assert first("tool_call_done") < first("step_done:tool_calls") < first("message_created")
    # The SDK reports an image block done when the next block's first delta arrives (after
    # handing that delta to on_text_delta), so the image comes amid the text deltas.
    assert first("message_created") < first("text_created") < first("text_delta")
    assert first("message_created") < first("image_file_done") < first("message_done")
    assert first("message_done") < first("step_done:message_creation")
    assert calls[-1] == "end"

    assert len(recorder.images) == 1
    image_id = recorder.images[0]
    [message] = final_messages
    assert message.content[0].type == "image_file"
    assert message.content[0].image_file.file_id == image_id
    image = client.files.retrieve(image_id)
    assert image.purpose == "assistants_output"
    data = client.files.content(image_id).read()
    assert data.startswith(PNG_MAGIC) and len(data) == image.bytes
    # The step shows the image among the call's outputs too.
    step = client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=final.id, order="asc"
    ).data[0]
    assert step.step_details.type == "tool_calls"
    call = step.step_details.tool_calls[0]
    assert call.type == "code_interpreter"
    images = [o.image.file_id for o in call.code_interpreter.outputs if o.type == "image"]
    assert images == [image_id]


def test_create_and_run_stream_starts_with_the_thread(client: OpenAI, tmp_path: Path) -> None:
    assistant = make_assistant(client, tmp_path, [{"text": "Streamed."}])
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]}
    ) as stream:
        names = [event.event for event in stream]
    assert names[0] == "thread.created"
    assert names[-1] == "thread.run.completed"


def _wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_cancel_a_sleeping_cell_and_busy_thread(client: OpenAI, tmp_path: Path) -> None:
    assistant = make_assistant(
        client,
        tmp_path,
        [
            {"code": "import time\nprint('sleeping', flush=True)\ntime.sleep(120)"},
            {"text": "woke up"},
        ],
    )
    thread = ask(client, "Sleep.")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "queued"

    def cell_running() -> bool:
        steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
        return any(s.type == "tool_calls" and s.status == "in_progress" for s in steps.data)

    _wait_for(cell_running)
    # A thread with an active run takes no second run and no user message: 400, never 409.
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread.id, role="user", content="hurry up")
    # Metadata can change mid-run, and the run loop's own saves keep it.
    updated = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"a": "b"})
    assert updated.metadata == {"a": "b"}

    started = time.monotonic()
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status in ("cancelling", "cancelled")
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert final.status == "cancelled"
    assert final.cancelled_at is not None
    assert final.metadata == {"a": "b"}
    assert time.monotonic() - started < 30
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    # The thread is free again.
    assert client.beta.threads.messages.create(thread.id, role="user", content="ok").id


def test_run_refusals(client: OpenAI, server: RunningServer) -> None:
    thread = ask(client)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_missing")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve("run_missing", thread_id=thread.id)
    bad = httpx.post(
        f"{server.url}/v1/threads/{thread.id}/runs", json={"assistant_id": 5, "stream": "maybe"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "assistant_id"


def test_a_client_leaving_a_stream_does_not_stop_the_run(
    server: RunningServer, client: OpenAI, tmp_path: Path
) -> None:
    assistant = make_assistant(
        client,
        tmp_path,
        [{"code": "import time\ntime.sleep(1)\nprint('slept')"}, {"text": "Rested."}],
    )
    thread = ask(client, "Rest a second.")
    with httpx.stream(
        "POST",
        f"{server.url}/v1/threads/{thread.id}/runs",
        timeout=60,
        json={"assistant_id": assistant.id, "stream": True},
    ) as response:
        lines = response.iter_lines()
        assert next(lines) == "event: thread.run.created"
        run_id = json.loads(next(lines).removeprefix("data: "))["id"]
    final = client.beta.threads.runs.poll(run_id, thread_id=thread.id)
    assert final.status == "completed"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].type == "text" and reply.content[0].text.value == "Rested."


def test_submit_tool_outputs_is_refused(client: OpenAI, tmp_path: Path) -> None:
    assistant = make_assistant(client, tmp_path, [{"text": "No tools needed."}])
    thread = ask(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_1", "output": "1"}]
        )
    assert "completed" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.submit_tool_outputs(
            "run_missing", thread_id=thread.id, tool_outputs=[]
        )
