"""The Responses API through the official SDK against a real server: code_interpreter calls,
outputs, containers with files, generated files, previous_response_id keeping the kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.responses import ResponseCodeInterpreterToolCall, ResponseOutputMessage
from responses_fixtures import AUTO_TOOL, OUTPUTS, container_tool, script
from server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("responses") / "server") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> OpenAI:
    return server.client()


def calls(response: openai.types.responses.Response) -> list[ResponseCodeInterpreterToolCall]:
    return [item for item in response.output if item.type == "code_interpreter_call"]


def message(response: openai.types.responses.Response) -> ResponseOutputMessage:
    messages = [item for item in response.output if item.type == "message"]
    assert messages, response.output
    return messages[-1]


def test_auto_container_runs_code(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"code": "print(6 * 7)"}, {"text": "It is 42."})
    response = client.responses.create(
        model=model, tools=[AUTO_TOOL], input="What is 6 * 7?", include=[OUTPUTS]
    )
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    [call] = calls(response)
    assert call.id.startswith("ci_")
    assert call.code == "print(6 * 7)"
    assert call.status == "completed"
    assert call.container_id.startswith("cntr_")
    assert call.outputs is not None
    assert [(o.type, getattr(o, "logs", None)) for o in call.outputs] == [("logs", "42\n")]
    assert response.output_text == "It is 42."
    assert response.output[-1].type == "message"
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.model == model
    # Without the include, outputs are null; the object is the same otherwise.
    again = client.responses.retrieve(response.id)
    assert calls(again)[0].outputs is None
    assert calls(again)[0].code == call.code
    assert client.responses.retrieve(response.id, include=[OUTPUTS]).output == response.output
    container = client.containers.retrieve(call.container_id)
    assert container.status == "running"
    assert container.memory_limit == "1g"


def test_message_input_and_input_items(client: OpenAI, tmp_path: Path) -> None:
    model = script(tmp_path, {"text": "Hi."})
    response = client.responses.create(
        model=model,
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
        ],
    )
    assert response.status == "completed"
    assert response.instructions == "Be brief."
    assert response.output_text == "Hi."
    items = client.responses.input_items.list(response.id)
    assert [(i.type, i.role) for i in items.data] == [("message", "user")]
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_uploaded_files_are_read_from_mnt_data(client: OpenAI, tmp_path: Path) -> None:
    container = client.containers.create(name="data")
    assert container.id.startswith("cntr_") and container.status == "running"
    uploaded = client.containers.files.create(container.id, file=("data.csv", b"a,b\n1,2\n3,4\n"))
    assert uploaded.path == "/mnt/data/data.csv"
    assert uploaded.source == "user" and uploaded.bytes == 12
    stored = client.files.create(file=("data.csv", b"x\n9\n"), purpose="assistants")
    copied = client.containers.files.create(container.id, file_id=stored.id)
    assert copied.path == "/mnt/data/data_2.csv"  # the name was taken: collision-safe
    code = (
        "import pandas as pd\nprint(pd.read_csv('/mnt/data/data.csv')['b'].sum(), "
        "pd.read_csv('/mnt/data/data_2.csv')['x'].sum())"
    )
    model = script(tmp_path, {"code": code}, {"text": "6 and 9."})
    response = client.responses.create(
        model=model, tools=[container_tool(container.id)], input="Sum them.", include=[OUTPUTS]
    )
    [call] = calls(response)
    assert call.container_id == container.id
    assert call.outputs is not None and getattr(call.outputs[0], "logs", None) == "6 9\n"
    listed = client.containers.files.list(container.id, order="asc")
    assert [f.id for f in listed.data] == [uploaded.id, copied.id]
    assert (
        client.containers.files.retrieve(copied.id, container_id=container.id).path == copied.path
    )
    content = client.containers.files.content.retrieve(uploaded.id, container_id=container.id)
    assert content.read() == b"a,b\n1,2\n3,4\n"
    client.containers.files.delete(copied.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.retrieve(copied.id, container_id=container.id)


def test_generated_file_is_cited_and_downloadable(client: OpenAI, tmp_path: Path) -> None:
    code = "open('/mnt/data/out.csv', 'w').write('n\\n1\\n2\\n')\nprint('saved')"
    answer = "Saved [out.csv](sandbox:/mnt/data/out.csv)."
    model = script(tmp_path, {"code": code}, {"text": answer})
    response = client.responses.create(model=model, tools=[AUTO_TOOL], input="Write a csv.")
    text = message(response).content[0]
    assert text.type == "output_text" and text.text == answer
    [citation] = text.annotations
    assert citation.type == "container_file_citation"
    container_id = calls(response)[0].container_id
    assert citation.container_id == container_id
    assert citation.file_id.startswith("cfile_")
    assert citation.filename == "out.csv"
    assert answer[citation.start_index : citation.end_index] == "sandbox:/mnt/data/out.csv"
    content = client.containers.files.content.retrieve(citation.file_id, container_id=container_id)
    assert content.read() == b"n\n1\n2\n"
    record = client.containers.files.retrieve(citation.file_id, container_id=container_id)
    assert record.source == "assistant" and record.path == "/mnt/data/out.csv"
    assert [f.id for f in client.containers.files.list(container_id)] == [citation.file_id]


def test_image_output_is_a_url_the_server_serves(
    client: OpenAI, server: RunningServer, tmp_path: Path
) -> None:
    plot = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('plotted')"
    model = script(tmp_path, {"code": plot}, {"text": "Here is the plot."})
    response = client.responses.create(
        model=model, tools=[AUTO_TOOL], input="Plot.", include=[OUTPUTS]
    )
    [call] = calls(response)
    assert call.outputs is not None
    images = [o for o in call.outputs if o.type == "image"]
    assert len(images) == 1
    url = images[0].url
    assert url.startswith(f"{server.url}/v1/containers/{call.container_id}/files/cfile_")
    fetched = httpx.get(url, headers={"Authorization": "Bearer x"})
    assert fetched.status_code == 200 and fetched.content.startswith(PNG_MAGIC)


def test_previous_response_keeps_the_kernel(client: OpenAI, tmp_path: Path) -> None:
    first = client.responses.create(
        model=script(tmp_path, {"code": "x = 41"}, {"text": "Set."}),
        tools=[AUTO_TOOL],
        input="Set x.",
    )
    second = client.responses.create(
        model=script(tmp_path, {"code": "print(x + 1)"}, {"text": "42."}),
        tools=[AUTO_TOOL],
        input="Print x + 1.",
        previous_response_id=first.id,
        include=[OUTPUTS],
    )
    assert second.previous_response_id == first.id
    [call] = calls(second)
    assert call.container_id == calls(first)[0].container_id
    assert call.outputs is not None and getattr(call.outputs[0], "logs", None) == "42\n"


def test_errors_are_openai_shaped(client: OpenAI, tmp_path: Path) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")
    with pytest.raises(openai.NotFoundError):
        client.responses.create(
            model=script(tmp_path, {"text": "x"}), input="hi", previous_response_id="resp_nope"
        )
    with pytest.raises(openai.NotFoundError):
        client.responses.create(
            model=script(tmp_path, {"text": "x"}), input="hi", tools=[container_tool("cntr_nope")]
        )
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model=script(tmp_path, {"text": "x"}), input="hi", tools=[{"type": "web_search"}]
        )
    with pytest.raises(openai.NotFoundError):
        client.containers.retrieve("cntr_nope")


@pytest.mark.filterwarnings(BETA_WARNING_FILTER)
def test_runs_share_one_hidden_assistant(client: OpenAI, tmp_path: Path) -> None:
    for _ in range(2):
        client.responses.create(model=script(tmp_path, {"text": "x"}), input="x")
    hidden = [a for a in client.beta.assistants.list() if a.name == "Responses API"]
    assert len(hidden) == 1
    client.beta.assistants.delete(hidden[0].id)  # a client may delete it: it comes back
    assert (
        client.responses.create(model=script(tmp_path, {"text": "y"}), input="y").output_text == "y"
    )
