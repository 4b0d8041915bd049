"""The raw JSON validated strictly against the SDK's own types (the SDK itself only constructs,
so a missing required key would pass unnoticed there): Response, every stream event, containers
and container files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types import ContainerCreateResponse, ContainerListResponse
from openai.types.containers import FileCreateResponse, FileListResponse
from openai.types.responses import Response, ResponseItem, ResponseStreamEvent
from pydantic import TypeAdapter
from responses_fixtures import AUTO_TOOL, OUTPUTS, script
from server_fixtures import RunningServer, running_server

CODE = (
    "import matplotlib.pyplot as plt\nplt.plot([3, 1])\nplt.show()\n"
    "open('/mnt/data/r.txt', 'w').write('r')\nprint('ok')"
)
ANSWER = "Done: [r.txt](sandbox:/mnt/data/r.txt)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("shapes") / "server") as running:
        yield running


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{server.url}/v1", headers={"Authorization": "Bearer x"}, timeout=120
    ) as client:
        yield client


def strict(model: Any, data: Any) -> None:
    TypeAdapter(model).validate_python(data, strict=False)


def body(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model": script(tmp_path, {"code": CODE}, {"text": ANSWER}),
        "input": "go",
        "tools": [AUTO_TOOL],
        "include": [OUTPUTS],
        **extra,
    }


def test_response_and_items_validate(http: httpx.Client, tmp_path: Path) -> None:
    answer = http.post("/responses", json=body(tmp_path))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    strict(Response, data)
    kinds = [
        (item["type"], sorted(o["type"] for o in item.get("outputs") or []))
        for item in data["output"]
    ]
    assert kinds == [("code_interpreter_call", ["image", "logs"]), ("message", [])]
    assert data["output"][1]["content"][0]["annotations"][0]["type"] == "container_file_citation"
    container_id = data["output"][0]["container_id"]
    container = http.get(f"/containers/{container_id}").json()
    strict(ContainerCreateResponse, container)
    listed = http.get("/containers").json()
    for item in listed["data"]:
        strict(ContainerListResponse, item)
    files = http.get(f"/containers/{container_id}/files").json()
    assert {f["source"] for f in files["data"]} == {"assistant"}
    for item in files["data"]:
        strict(FileListResponse, item)
    made = http.post(f"/containers/{container_id}/files", files={"file": ("x.txt", b"x")}).json()
    strict(FileCreateResponse, made)
    items = http.get(f"/responses/{data['id']}/input_items").json()
    for item in items["data"]:
        strict(ResponseItem, item)
    assert http.delete(f"/responses/{data['id']}").json() == {
        "id": data["id"],
        "object": "response.deleted",
        "deleted": True,
    }


def test_stream_events_validate(http: httpx.Client, tmp_path: Path) -> None:
    events = []
    with http.stream("POST", "/responses", json=body(tmp_path, stream=True)) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                assert event["type"] == name
                events.append(event)
    for event in events:
        strict(ResponseStreamEvent, event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
