"""How a run's end shows on its Response: failed with `error`, incomplete with
`incomplete_details`, background responses polled and cancelled, a deleted container."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI
from responses_fixtures import AUTO_TOOL, OUTPUTS, script
from server_fixtures import RunningServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("outcomes") / "server") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> OpenAI:
    return server.client()


def poll(client: OpenAI, response_id: str, timeout: float = 60) -> openai.types.responses.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress") or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_failing_code_fails_the_response(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, *[{"code": "1 / 0"}] * 5)
    response = client.responses.create(
        model=model, tools=[AUTO_TOOL], input="divide", include=[OUTPUTS]
    )
    assert response.status == "failed"
    assert response.error is not None and response.error.code == "server_error"
    assert "ZeroDivisionError" in response.error.message
    calls = [item for item in response.output if item.type == "code_interpreter_call"]
    assert len(calls) == 5
    assert calls[0].outputs is not None and "ZeroDivisionError" in calls[0].outputs[0].logs  # type: ignore[union-attr]


def test_token_limit_makes_it_incomplete(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"code": "print(1)"}, {"text": "done"})
    response = client.responses.create(
        model=model, tools=[AUTO_TOOL], input="go", max_output_tokens=1
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 1


def test_background_response_is_polled(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"code": "print('bg')"}, {"text": "background done"})
    started = client.responses.create(model=model, tools=[AUTO_TOOL], input="go", background=True)
    assert started.background is True
    assert started.status in ("queued", "in_progress", "completed")
    finished = poll(client, started.id)
    assert finished.status == "completed" and finished.output_text == "background done"


def test_background_response_is_cancelled(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"code": "import time\ntime.sleep(30)"}, {"text": "late"})
    started = client.responses.create(model=model, tools=[AUTO_TOOL], input="wait", background=True)
    deadline = time.monotonic() + 30
    while not any(
        item.type == "code_interpreter_call"
        for item in client.responses.retrieve(started.id).output
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cancelled = client.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    [call] = [item for item in cancelled.output if item.type == "code_interpreter_call"]
    assert call.status == "incomplete"
    with pytest.raises(openai.BadRequestError):  # only background responses are cancelled
        done = client.responses.create(model=script(tmp_path, {"text": "x"}), input="x")
        client.responses.cancel(done.id)


def test_response_outlives_its_container(client: OpenAI, tmp_path: Path) -> None:
    code = "open('/mnt/data/o.txt', 'w').write('o')"
    model = script(tmp_path, {"code": code}, {"text": "See sandbox:/mnt/data/o.txt"})
    response = client.responses.create(model=model, tools=[AUTO_TOOL], input="go")
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    client.containers.delete(call.container_id)
    again = client.responses.retrieve(response.id)
    assert again.status == "completed" and again.output_text == response.output_text
    message = again.output[-1]
    assert message.type == "message" and message.content[0].annotations == []  # type: ignore[union-attr]
