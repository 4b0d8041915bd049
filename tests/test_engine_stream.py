"""The stream's deltas, merged the way the official SDK merges them, rebuild the stored objects.

A client that only reads the stream must end with what a client polling the store sees: the
step's code and outputs (logs sent live, images, the traceback sent at the end) and the
message's blocks and annotations.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai.lib.streaming._deltas import accumulate_delta

from engine.engine import Engine
from engine.schemas import AssistantCreate, CodeInterpreterTool, RunCreate, ThreadCreate
from engine.settings import EngineSettings
from models.scripted import ScriptedBackend
from sandbox import SandboxConfig
from tests.conftest import TEST_LIMITS

CELL = (
    "import matplotlib\n"
    "import matplotlib.pyplot as plt\n"
    "print('first line', flush=True)\n"
    "plt.plot([1, 3, 2]); plt.show()\n"
    "print('second line')\n"
    "with open('/mnt/data/table.csv', 'w') as f:\n"
    "    f.write('a,b\\n1,2\\n')\n"
    "1 / 0\n"
)
ANSWER = "The table is at [table](sandbox:/mnt/data/table.csv); the plot is above."


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    backend = ScriptedBackend([{"code": CELL}, {"code": "print('fixed')"}, {"text": ANSWER}])
    settings = EngineSettings(sandbox=SandboxConfig(limits=TEST_LIMITS))
    async with await Engine.open(backend, tmp_path / "data", settings=settings) as opened:
        yield opened


async def test_merged_deltas_equal_the_stored_steps_and_message(engine: Engine) -> None:
    store = engine.store
    assistant = store.create_assistant(AssistantCreate(model="m", tools=[CodeInterpreterTool()]))
    thread = store.create_thread(
        ThreadCreate.model_validate({"messages": [{"role": "user", "content": "plot and save"}]})
    )
    handle = await engine.create_run(thread.id, RunCreate(assistant_id=assistant.id))
    steps: dict[str, dict[str, Any]] = {}
    messages: dict[str, dict[str, Any]] = {}
    names: list[str] = []
    async for event in handle.events():
        names.append(event.event)
        data = copy.deepcopy(event.data)
        if event.event == "thread.run.step.created":
            steps[data["id"]] = data
        elif event.event == "thread.run.step.delta":
            steps[data["id"]] = accumulate_delta(steps[data["id"]], data["delta"])
        elif event.event == "thread.message.created":
            messages[data["id"]] = data
        elif event.event == "thread.message.delta":
            messages[data["id"]] = accumulate_delta(messages[data["id"]], data["delta"])
    run = await handle.wait()
    assert run.status == "completed", run.last_error
    assert names[-1] == "thread.run.completed"

    stored_steps = store.list_run_steps(thread.id, run.id, order="asc").data
    tool_steps = [s for s in stored_steps if s.type == "tool_calls"]
    assert len(tool_steps) == 2
    for stored in tool_steps:
        streamed = steps[stored.id]["step_details"]["tool_calls"]
        expected = stored.model_dump(mode="json")["step_details"]["tool_calls"]
        for call in streamed:
            call.pop("index")
            for output in call["code_interpreter"]["outputs"]:
                output.pop("index")
        assert streamed == expected
    first = tool_steps[0].model_dump(mode="json")["step_details"]["tool_calls"][0]
    kinds = [o["type"] for o in first["code_interpreter"]["outputs"]]
    assert kinds == ["logs", "image"]  # text came first, live; the traceback was added to it
    assert "ZeroDivisionError" in first["code_interpreter"]["outputs"][0]["logs"]

    stored_message = store.list_messages(thread.id, run_id=run.id).data[0]
    streamed_message = messages[stored_message.id]
    content = json.loads(json.dumps(streamed_message["content"]))
    for block in content:
        block.pop("index", None)
        for annotation in block.get("text", {}).get("annotations", []):
            annotation.pop("index")
    expected_content = stored_message.model_dump(mode="json")["content"]
    assert content == expected_content
    kinds = [block["type"] for block in expected_content]
    assert kinds == ["image_file", "text"]  # the plot shown during the run opens the answer
    annotation = expected_content[1]["text"]["annotations"][0]
    assert (
        ANSWER[annotation["start_index"] : annotation["end_index"]] == "sandbox:/mnt/data/table.csv"
    )
    with store.open_file_content(annotation["file_path"]["file_id"]) as saved:
        assert saved.read() == b"a,b\n1,2\n"
