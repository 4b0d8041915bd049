"""Streamed responses: the SDK parses every event, code deltas add up to the item's code, the
message streams as output_text deltas, and `responses.stream()` yields the final Response."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from responses_fixtures import AUTO_TOOL, OUTPUTS, script
from server_fixtures import RunningServer, running_server

CODE = "total = 0\nfor i in range(5):\n    total += i\nprint(total)"
ANSWER = "The total is 10; see [t.txt](sandbox:/mnt/data/t.txt)."
WRITE = "open('/mnt/data/t.txt', 'w').write('10')\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("responses-stream") / "server") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> OpenAI:
    return server.client()


def test_raw_stream_events(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"code": WRITE + CODE}, {"text": ANSWER})
    events: list[Any] = list(
        client.responses.create(
            model=model, tools=[AUTO_TOOL], input="Sum 0..4.", include=[OUTPUTS], stream=True
        )
    )
    types = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    expected = [
        "response.output_item.added",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.annotation.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    positions = [types.index(name, types.index(expected[0])) for name in expected[:7]]
    assert positions == sorted(positions)
    for name in expected:
        assert name in types, name
    final = events[-1].response
    assert final.status == "completed"
    [call] = [item for item in final.output if item.type == "code_interpreter_call"]
    deltas = [e for e in events if e.type == "response.code_interpreter_call_code.delta"]
    assert len(deltas) > 1
    assert "".join(e.delta for e in deltas) == call.code == WRITE + CODE
    assert {e.item_id for e in deltas} == {call.id}
    assert {e.output_index for e in deltas} == {0}
    done = next(e for e in events if e.type == "response.code_interpreter_call_code.done")
    assert done.code == call.code
    item_done = [e for e in events if e.type == "response.output_item.done"]
    assert [e.item.id for e in item_done] == [item.id for item in final.output]
    assert item_done[0].item.outputs is not None
    assert item_done[0].item.outputs[0].logs == "10\n"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == ANSWER == final.output_text
    [annotation] = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert annotation.annotation is not None
    assert annotation.annotation.type == "container_file_citation"
    assert annotation.annotation.file_id == final.output[-1].content[0].annotations[0].file_id
    # The stored response is what the stream ended with.
    assert client.responses.retrieve(final.id, include=[OUTPUTS]).output == final.output


def test_stream_helper_final_response(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"code": CODE}, {"text": "Ten."})
    deltas: list[str] = []
    with client.responses.stream(model=model, tools=[AUTO_TOOL], input="Sum 0..4.") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert "".join(deltas) == "Ten." == final.output_text
    [call] = [item for item in final.output if item.type == "code_interpreter_call"]
    assert call.code == CODE and call.outputs is None
