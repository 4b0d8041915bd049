"""The REST server's objects through the official SDK: files, assistants, threads, messages,
pages, and the errors bad input gets (always 4xx in OpenAI's shape, never 5xx)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server

pytestmark = pytest.mark.filterwarnings(BETA_WARNING_FILTER)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("crud") / "server") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> OpenAI:
    return server.client()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# ------------------------------------------------------------------ files


def test_file_round_trip(client: OpenAI, tmp_path: Path) -> None:
    data = b"x,y\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(1000))
    path = tmp_path / "squares.csv"
    path.write_bytes(data)
    with path.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="assistants")
    assert uploaded.object == "file"
    assert uploaded.filename == "squares.csv"
    assert uploaded.bytes == len(data)
    assert uploaded.purpose == "assistants"
    assert uploaded.status == "processed"
    assert uploaded.expires_at is None

    assert client.files.retrieve(uploaded.id) == uploaded
    assert uploaded.id in [f.id for f in client.files.list(purpose="assistants")]
    assert uploaded.id not in [f.id for f in client.files.list(purpose="batch")]
    content = client.files.content(uploaded.id)
    assert content.read() == data
    assert content.response.headers["content-type"].startswith("text/csv")

    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (uploaded.id, "file", True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(uploaded.id)


def test_file_expiry_and_binary_content(client: OpenAI) -> None:
    payload = bytes(range(256)) * 50
    uploaded = client.files.create(
        file=("blob.bin", io.BytesIO(payload)),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert uploaded.expires_at == uploaded.created_at + 7200
    response = client.files.with_raw_response.content(uploaded.id)
    assert response.http_response.headers["content-type"] == "application/octet-stream"
    assert response.http_response.headers["content-length"] == str(len(payload))
    assert response.parse().read() == payload


def test_file_list_pages(client: OpenAI) -> None:
    ids = [
        client.files.create(file=(f"p{i}.txt", f"{i}".encode()), purpose="vision").id
        for i in range(5)
    ]
    page = client.files.list(purpose="vision", limit=2, order="asc")
    assert [f.id for f in page.data] == ids[:2]
    assert page.has_more
    assert [f.id for f in page] == ids  # auto-pagination follows `after`
    assert [f.id for f in client.files.list(purpose="vision")] == ids[::-1]


def test_bad_uploads_are_400(server: RunningServer) -> None:
    url = f"{server.url}/v1/files"
    bad_purpose = httpx.post(url, files={"file": ("a.txt", b"a")}, data={"purpose": "nope"})
    assert bad_purpose.status_code == 400
    assert error_of(bad_purpose)["param"] == "purpose"
    # Only the service gives files this purpose.
    output = httpx.post(url, files={"file": ("a.txt", b"a")}, data={"purpose": "assistants_output"})
    assert output.status_code == 400
    no_file = httpx.post(url, data={"purpose": "assistants"})
    assert no_file.status_code == 400
    assert error_of(no_file)["param"] == "file"
    no_purpose = httpx.post(url, files={"file": ("a.txt", b"a")})
    assert no_purpose.status_code == 400
    assert error_of(no_purpose)["param"] == "purpose"
    as_json = httpx.post(url, json={"file": "abc", "purpose": "assistants"})
    assert as_json.status_code == 400
    short = httpx.post(
        url,
        files={"file": ("a.txt", b"a")},
        data={
            "purpose": "assistants",
            "expires_after[anchor]": "created_at",
            "expires_after[seconds]": "10",
        },
    )
    assert short.status_code == 400
    assert error_of(short)["param"] == "expires_after[seconds]"
    anchor = httpx.post(
        url,
        files={"file": ("a.txt", b"a")},
        data={"purpose": "assistants", "expires_after[anchor]": "last_used"},
    )
    assert anchor.status_code == 400


def test_bad_purpose_through_the_sdk(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.txt", b"a"), purpose="nonsense")  # type: ignore[arg-type]
    assert caught.value.param == "purpose"


def test_oversized_upload_is_413(server: RunningServer, client: OpenAI) -> None:
    store = server.engine.store
    before = store.max_file_bytes
    store.max_file_bytes = 1000
    try:
        # Under the multipart slack: spooled, then refused by the store.
        with pytest.raises(openai.APIStatusError) as caught:
            client.files.create(file=("big.bin", b"\0" * 5000), purpose="assistants")
        assert caught.value.status_code == 413
        # Content-Length already over the limit: drained and refused before spooling.
        with pytest.raises(openai.APIStatusError) as caught:
            client.files.create(file=("huge.bin", b"\0" * (3 << 20)), purpose="assistants")
        assert caught.value.status_code == 413
        assert caught.value.code == "file_too_large"
        ok = client.files.create(file=("small.bin", b"\0" * 1000), purpose="assistants")
        assert ok.bytes == 1000
    finally:
        store.max_file_bytes = before
    names = {f.filename for f in client.files.list(purpose="assistants")}
    assert not names & {"big.bin", "huge.bin"}


# ------------------------------------------------------------------ assistants


def test_assistant_crud(client: OpenAI) -> None:
    file = client.files.create(file=("data.csv", b"a\n1\n"), purpose="assistants")
    created = client.beta.assistants.create(
        name="Data bot",
        instructions="Analyse data with python.",
        model="gpt-4o",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [file.id]}},
        metadata={"team": "x"},
    )
    assert created.object == "assistant"
    assert created.tools[0].type == "code_interpreter"
    assert created.tool_resources is not None
    assert created.tool_resources.code_interpreter is not None
    assert created.tool_resources.code_interpreter.file_ids == [file.id]
    assert (created.temperature, created.top_p, created.response_format) == (1.0, 1.0, "auto")
    assert client.beta.assistants.retrieve(created.id) == created

    updated = client.beta.assistants.update(
        created.id, name="Renamed", temperature=0.5, description=None
    )
    assert (updated.name, updated.temperature) == ("Renamed", 0.5)
    assert updated.instructions == "Analyse data with python."  # keys not sent are kept
    assert updated.metadata == {"team": "x"}

    assert created.id in [a.id for a in client.beta.assistants.list()]
    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "assistant.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.update(created.id, name="x")


def test_assistant_refusals(client: OpenAI, server: RunningServer) -> None:
    # The store answers 404 for a body naming a file it does not have (400 might be truer).
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)) as missing_file:
        client.beta.assistants.create(
            model="gpt-4o", tool_resources={"code_interpreter": {"file_ids": ["file-missing"]}}
        )
    assert "file-missing" in missing_file.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", tools=[{"type": "web_browser"}])  # type: ignore[list-item]
    assert caught.value.param is not None and caught.value.param.startswith("tools[0]")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model=42)  # type: ignore[arg-type]
    assert caught.value.param == "model"
    missing = httpx.post(f"{server.url}/v1/assistants", json={"name": "no model"})
    assert missing.status_code == 400
    assert error_of(missing) == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    nested = httpx.post(
        f"{server.url}/v1/assistants",
        json={"model": "m", "tools": [{"type": "function", "function": {"name": 3}}]},
    )
    assert nested.status_code == 400
    assert error_of(nested)["param"] == "tools[0].function.name"


# ------------------------------------------------------------------ threads and messages


def test_thread_crud(client: OpenAI) -> None:
    file = client.files.create(file=("speech.py", b"print('hi')\n"), purpose="assistants")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "I need to solve `3x + 11 = 14`.",
                "attachments": [{"file_id": file.id, "tools": [{"type": "code_interpreter"}]}],
            }
        ],
        metadata={"k": "v"},
    )
    assert thread.object == "thread"
    assert thread.metadata == {"k": "v"}
    assert client.beta.threads.retrieve(thread.id) == thread
    messages = client.beta.threads.messages.list(thread.id)
    assert len(messages.data) == 1
    first = messages.data[0]
    assert first.content[0].type == "text"
    assert first.content[0].text.value == "I need to solve `3x + 11 = 14`."
    assert first.attachments is not None
    assert first.attachments[0].file_id == file.id

    updated = client.beta.threads.update(thread.id, metadata={"k": "w"})
    assert updated.metadata == {"k": "w"}
    empty = client.beta.threads.create()
    assert empty.tool_resources is not None

    deleted = client.beta.threads.delete(thread.id)
    assert (deleted.object, deleted.deleted) == ("thread.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list(thread.id)


def test_message_crud(client: OpenAI) -> None:
    thread = client.beta.threads.create()
    file = client.files.create(file=("in.txt", b"data"), purpose="assistants")
    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content=[{"type": "text", "text": "look at this"}],
        attachments=[{"file_id": file.id, "tools": [{"type": "code_interpreter"}]}],
        metadata={"n": "1"},
    )
    assert (message.object, message.role, message.status) == ("thread.message", "user", "completed")
    assert message.thread_id == thread.id
    assert message.content[0].type == "text"
    assert message.content[0].text.value == "look at this"
    assert message.content[0].text.annotations == []
    got = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert got == message
    updated = client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"n": "2"}
    )
    assert updated.metadata == {"n": "2"}
    deleted = client.beta.threads.messages.delete(message.id, thread_id=thread.id)
    assert (deleted.object, deleted.deleted) == ("thread.message.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)


def test_message_refusals(client: OpenAI, server: RunningServer) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.create("thread_missing", role="user", content="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(
            thread.id,
            role="system",  # type: ignore[arg-type]
            content="hi",
        )
    assert caught.value.param == "role"
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)):
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="hi",
            attachments=[{"file_id": "file-missing", "tools": [{"type": "code_interpreter"}]}],
        )
    number = httpx.post(
        f"{server.url}/v1/threads/{thread.id}/messages", json={"role": "user", "content": 5}
    )
    assert number.status_code == 400
    assert error_of(number)["param"] == "content"
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve("msg_missing", thread_id=thread.id)


def test_message_pages(client: OpenAI) -> None:
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
        for i in range(25)
    ]
    first = client.beta.threads.messages.list(thread.id)
    assert len(first.data) == 20 and first.has_more
    assert [m.id for m in first.data] == ids[::-1][:20]
    assert first.first_id == ids[-1] and first.last_id == ids[5]
    assert [m.id for m in client.beta.threads.messages.list(thread.id)] == ids[::-1]
    assert [m.id for m in client.beta.threads.messages.list(thread.id, order="asc", limit=7)] == ids
    after = client.beta.threads.messages.list(thread.id, order="asc", after=ids[9], limit=5)
    assert [m.id for m in after.data] == ids[10:15]
    before = client.beta.threads.messages.list(thread.id, order="asc", before=ids[9], limit=3)
    assert [m.id for m in before.data] == ids[6:9]
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.list(thread.id, after="msg_missing")
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.list(thread.id, limit=101)
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.list(thread.id, order="sideways")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the HTTP surface


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/nothing/here", None),
        ("GET", "/v1/assistants/asst_missing", None),
        ("GET", "/v1/threads/thread_missing/runs/run_missing", None),
        ("GET", "/v1/threads/thread_missing/runs/run_missing/steps", None),
        ("POST", "/v1/threads/thread_missing/runs", {"assistant_id": "asst_missing"}),
        ("POST", "/v1/threads/thread_missing/runs/run_missing/cancel", None),
    ],
)
def test_unknown_is_404(server: RunningServer, method: str, path: str, body: Any) -> None:
    response = httpx.request(method, server.url + path, json=body)
    assert response.status_code == 404
    assert error_of(response)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/assistants", b"{not json"),
        ("/v1/assistants", b"[1, 2]"),
        ("/v1/assistants", b'"model"'),
        ("/v1/assistants", b""),
        ("/v1/assistants", b'{"model": "m", "temperature": "hot"}'),
        ("/v1/assistants", b'{"model": "m", "metadata": {"a": 1}}'),
        ("/v1/assistants", b'{"model": "m", "tools": "code_interpreter"}'),
        ("/v1/assistants", b'{"model": "m", "response_format": {"type": "yaml"}}'),
        ("/v1/threads", b'{"messages": [{"role": "user"}]}'),
        ("/v1/threads", b'{"messages": "hello"}'),
        ("/v1/threads/runs", b'{"thread": {"messages": [1]}}'),
        ("/v1/threads/runs", b"{}"),
    ],
)
def test_malformed_bodies_are_400(server: RunningServer, path: str, content: bytes) -> None:
    response = httpx.post(
        server.url + path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["type"] == "invalid_request_error"


def test_bad_query_parameters_are_400(server: RunningServer) -> None:
    for query in ("limit=0", "limit=abc", "limit=1000", "order=up", "after=asst_nope"):
        response = httpx.get(f"{server.url}/v1/assistants?{query}")
        assert response.status_code == 400, (query, response.text)
        error_of(response)


def test_openapi_describes_the_api(server: RunningServer) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    paths = schema["paths"]
    for path, methods in {
        "/v1/files": {"get", "post"},
        "/v1/files/{file_id}": {"get", "delete"},
        "/v1/files/{file_id}/content": {"get"},
        "/v1/assistants": {"get", "post"},
        "/v1/assistants/{assistant_id}": {"get", "post", "delete"},
        "/v1/threads": {"post"},
        "/v1/threads/{thread_id}": {"get", "post", "delete"},
        "/v1/threads/runs": {"post"},
        "/v1/threads/{thread_id}/messages": {"get", "post"},
        "/v1/threads/{thread_id}/messages/{message_id}": {"get", "post", "delete"},
        "/v1/threads/{thread_id}/runs": {"get", "post"},
        "/v1/threads/{thread_id}/runs/{run_id}": {"get", "post"},
        "/v1/threads/{thread_id}/runs/{run_id}/cancel": {"post"},
        "/v1/threads/{thread_id}/runs/{run_id}/steps": {"get"},
        "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}": {"get"},
        "/openai/assistants": {"get", "post"},
        "/openai/files": {"get", "post"},
    }.items():
        assert methods <= set(paths[path]), path
    assert "requestBody" in paths["/v1/assistants"]["post"]
    assert "multipart/form-data" in paths["/v1/files"]["post"]["requestBody"]["content"]
    create_run = paths["/v1/threads/{thread_id}/runs"]["post"]
    assert "requestBody" in create_run
    assert "text/event-stream" in create_run["responses"]["200"]["content"]
    components = schema["components"]["schemas"]
    assert {"AssistantCreate", "RunCreate", "ThreadAndRunCreate", "MessageCreate"} <= set(
        components
    )


def test_wrong_method_is_405_with_every_allowed_method(server: RunningServer) -> None:
    response = httpx.request("PUT", f"{server.url}/v1/threads/thread_x/messages/msg_x")
    assert response.status_code == 405
    error_of(response)
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "DELETE"}


def test_error_names_the_deepest_problem(server: RunningServer) -> None:
    thread = httpx.post(f"{server.url}/v1/threads").json()["id"]
    response = httpx.post(
        f"{server.url}/v1/threads/{thread}/messages",
        json={"role": "user", "content": [{"type": "text", "text": "ok"}, {"type": "video"}]},
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "content[1]"


def test_openapi_documents_400_not_422(server: RunningServer) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            if path.startswith(("/v1/", "/openai/")):
                assert {"400", "404"} <= set(responses), (method, path)
    error = schema["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    upload = schema["paths"]["/v1/files"]["post"]["responses"]
    assert "413" in upload


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/assistants", {"model": "m", "file_ids": 5}),
        ("/v1/assistants", {"model": "m", "file_ids": "file-abc"}),
        ("/v1/threads", {"file_ids": 5}),
        ("/v1/threads", {"messages": [{"role": "user", "content": "x", "file_ids": 5}]}),
        ("/v1/assistants", {"model": "m", "temperature": 7}),
        ("/v1/assistants", {"model": "m", "top_p": -1}),
    ],
)
def test_non_list_file_ids_are_400(server: RunningServer, path: str, body: Any) -> None:
    response = httpx.post(server.url + path, json=body)
    assert response.status_code == 400


def test_json_bodies_have_a_size_limit(server: RunningServer) -> None:
    big = httpx.post(
        f"{server.url}/v1/assistants",
        timeout=60,
        json={"model": "m", "instructions": "x" * (17 << 20)},
    )
    assert big.status_code == 413
    error_of(big)
    fine = httpx.post(
        f"{server.url}/v1/assistants",
        timeout=60,
        json={"model": "m", "instructions": "x" * (1 << 20)},
    )
    assert fine.status_code == 200
    assert len(fine.json()["instructions"]) == 1 << 20


def test_a_chunked_json_body_is_cut_off_at_the_limit(server: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "m", "instructions": "'
        for _ in range(17):
            yield b"x" * (1 << 20)
        yield b'"}'

    response = httpx.post(
        f"{server.url}/v1/assistants",
        content=chunks(),
        timeout=60,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    error_of(response)


def test_non_ascii_file_names_survive(client: OpenAI) -> None:
    uploaded = client.files.create(file=("données été.csv", b"a\n"), purpose="assistants")
    assert uploaded.filename == "données été.csv"
    response = client.files.with_raw_response.content(uploaded.id)
    disposition = response.http_response.headers["content-disposition"]
    assert "filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9.csv" in disposition
    assert response.parse().read() == b"a\n"
