"""Containers through the SDK: list/retrieve/delete, memory limits, expiry after idle minutes
(lazily on access and by the sweep), and kernels shared by the responses bound to them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI
from responses_fixtures import AUTO_TOOL, OUTPUTS, container_tool, script
from server_fixtures import RunningServer, running_server

from engine.responses.service import ResponsesService


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("containers") / "server") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> OpenAI:
    return server.client()


def service(server: RunningServer) -> ResponsesService:
    return ResponsesService.for_engine(server.engine)


def test_list_retrieve_delete(client: OpenAI, server: RunningServer) -> None:
    made = [client.containers.create(name="listing") for _ in range(3)]
    client.containers.create(name="other")
    listed = list(client.containers.list(name="listing", order="asc", limit=2))
    assert [c.id for c in listed] == [c.id for c in made]
    first = client.containers.retrieve(made[0].id)
    assert first.object == "container" and first.name == "listing"
    assert first.expires_after is not None
    assert (first.expires_after.anchor, first.expires_after.minutes) == ("last_active_at", 20)
    assert first.last_active_at is not None and first.memory_limit == "1g"
    client.containers.files.create(made[0].id, file=("a.txt", b"a"))
    client.containers.delete(made[0].id)
    with pytest.raises(openai.NotFoundError):
        client.containers.retrieve(made[0].id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.list(made[0].id)
    assert made[0].id not in [c.id for c in client.containers.list(name="listing")]


def test_memory_limit_sets_the_kernel(
    client: OpenAI, server: RunningServer, tmp_path: Path
) -> None:
    container = client.containers.create(
        name="big", memory_limit="4g", expires_after={"anchor": "last_active_at", "minutes": 5}
    )
    assert container.memory_limit == "4g" and container.expires_after is not None
    assert container.expires_after.minutes == 5
    model = script(tmp_path, {"code": "print('hi')"}, {"text": "hi"})
    client.responses.create(model=model, tools=[container_tool(container.id)], input="hi")
    session = server.engine.sessions.get(container.id)
    assert session is not None
    assert session.session.config.limits.memory_mb == 4096
    auto = client.responses.create(
        model=script(tmp_path, {"code": "print(1)"}, {"text": "1"}),
        input="1",
        tools=[{"type": "code_interpreter", "container": {"type": "auto", "memory_limit": "16g"}}],
    )
    call = next(item for item in auto.output if item.type == "code_interpreter_call")
    assert client.containers.retrieve(call.container_id).memory_limit == "16g"
    with pytest.raises(openai.BadRequestError):
        client.containers.create(name="x", memory_limit="3g")  # type: ignore[arg-type]


def _age(server: RunningServer, container_id: str, seconds: int) -> None:
    """Make the container look idle for `seconds`: its record and its kernel's clock."""
    responses = service(server)
    record = responses.db.get_container(container_id)
    responses.db.save_container(
        record.model_copy(update={"last_active_at": record.last_active_at - seconds})
    )
    session = server.engine.sessions.get(container_id)
    if session is not None:
        session.last_used -= seconds


def test_idle_container_expires_on_access(
    client: OpenAI, server: RunningServer, tmp_path: Path
) -> None:
    container = client.containers.create(
        name="short", expires_after={"anchor": "last_active_at", "minutes": 1}
    )
    client.responses.create(
        model=script(tmp_path, {"code": "y = 1"}, {"text": "ok"}),
        tools=[container_tool(container.id)],
        input="go",
    )
    assert server.engine.sessions.get(container.id) is not None
    _age(server, container.id, 30)
    assert client.containers.retrieve(container.id).status == "running"
    _age(server, container.id, 90)
    assert client.containers.retrieve(container.id).status == "expired"
    assert server.engine.sessions.get(container.id) is None
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model=script(tmp_path, {"text": "x"}),
            input="again",
            tools=[container_tool(container.id)],
        )
    with pytest.raises(openai.BadRequestError):
        client.containers.files.create(container.id, file=("late.txt", b"late"))


def test_sweep_expires_idle_containers(client: OpenAI, server: RunningServer) -> None:
    container = client.containers.create(
        name="swept", expires_after={"anchor": "last_active_at", "minutes": 1}
    )
    _age(server, container.id, 120)
    responses = service(server)
    assert responses.loop is not None
    expired = asyncio.run_coroutine_threadsafe(responses.containers.reap(), responses.loop).result(
        timeout=30
    )
    assert container.id in expired
    stored = responses.db.get_container(container.id)
    assert stored.status == "expired"


def test_previous_response_after_expiry_gets_a_new_container(
    client: OpenAI, server: RunningServer, tmp_path: Path
) -> None:
    first = client.responses.create(
        model=script(tmp_path, {"code": "z = 1"}, {"text": "ok"}), tools=[AUTO_TOOL], input="go"
    )
    old = next(item for item in first.output if item.type == "code_interpreter_call")
    _age(server, old.container_id, 3600)
    second = client.responses.create(
        model=script(tmp_path, {"code": "print('z' in globals())"}, {"text": "no"}),
        tools=[AUTO_TOOL],
        input="again",
        previous_response_id=first.id,
        include=[OUTPUTS],
    )
    call = next(item for item in second.output if item.type == "code_interpreter_call")
    assert call.container_id != old.container_id
    assert call.outputs is not None and getattr(call.outputs[0], "logs", None) == "False\n"
    assert client.containers.retrieve(old.container_id).status == "expired"


def test_two_responses_share_an_explicit_container(client: OpenAI, tmp_path: Path) -> None:
    container = client.containers.create(name="shared")
    client.responses.create(
        model=script(tmp_path, {"code": "shared = 'yes'"}, {"text": "k"}),
        tools=[container_tool(container.id)],
        input="set",
    )
    other = client.responses.create(
        model=script(tmp_path, {"code": "print(shared)"}, {"text": "yes"}),
        tools=[container_tool(container.id)],
        input="get",
        include=[OUTPUTS],
    )
    call = next(item for item in other.output if item.type == "code_interpreter_call")
    assert call.outputs is not None and getattr(call.outputs[0], "logs", None) == "yes\n"
    before = client.containers.retrieve(container.id).last_active_at
    assert before is not None and before >= int(time.time()) - 5
