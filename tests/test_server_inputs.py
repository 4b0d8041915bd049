"""Input gaps a reliability run found, each answered with a clear 4xx and nothing stored:
metadata over OpenAI's limits, upload names (RFC 5987 `filename*`, control characters), and a
request body that never arrives."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server

pytestmark = pytest.mark.filterwarnings(BETA_WARNING_FILTER)

#: Seconds a body may stall before the server answers 408 (short, for the test).
BODY_TIMEOUT = 1.5

TOO_MANY = {f"k{i}": "v" for i in range(17)}
LONG_KEY = {"k" * 65: "v"}
LONG_VALUE = {"k": "v" * 513}
AT_THE_LIMITS = {**{f"k{i}": "v" for i in range(14)}, "k" * 64: "v", "big": "v" * 512}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("inputs") / "server", app_options={"body_timeout": BODY_TIMEOUT}
    ) as running:
        yield running


def _error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


# -- metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        (TOO_MANY, "at most 16 properties"),
        (LONG_KEY, "at most 64 characters"),
        (LONG_VALUE, "maximum length 512"),
    ],
)
def test_metadata_over_the_limits_is_refused_everywhere(
    server: RunningServer, metadata: dict[str, str], says: str
) -> None:
    http = httpx.Client(base_url=f"{server.url}/v1", timeout=30)
    assistant = http.post("/assistants", json={"model": "m"}).json()
    thread = http.post("/threads", json={}).json()
    message = http.post(
        f"/threads/{thread['id']}/messages", json={"role": "user", "content": "hi"}
    ).json()
    run = http.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
    assert run.status_code == 200, run.text
    run_path = f"/threads/{thread['id']}/runs/{run.json()['id']}"
    deadline = time.monotonic() + 60  # its answer is a message: count once it is written
    while http.get(run_path).json()["status"] in ("queued", "in_progress"):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)
    counts = {
        path: len(http.get(path).json()["data"])
        for path in (
            "/assistants",
            f"/threads/{thread['id']}/messages",
            f"/threads/{thread['id']}/runs",
        )
    }
    refusals = {
        "create assistant": http.post("/assistants", json={"model": "m", "metadata": metadata}),
        "update assistant": http.post(
            f"/assistants/{assistant['id']}", json={"metadata": metadata}
        ),
        "create thread": http.post("/threads", json={"metadata": metadata}),
        "update thread": http.post(f"/threads/{thread['id']}", json={"metadata": metadata}),
        "message in a new thread": http.post(
            "/threads", json={"messages": [{"role": "user", "content": "hi", "metadata": metadata}]}
        ),
        "create message": http.post(
            f"/threads/{thread['id']}/messages",
            json={"role": "user", "content": "x", "metadata": metadata},
        ),
        "update message": http.post(
            f"/threads/{thread['id']}/messages/{message['id']}", json={"metadata": metadata}
        ),
        "create run": http.post(
            f"/threads/{thread['id']}/runs",
            json={"assistant_id": assistant["id"], "metadata": metadata},
        ),
        "update run": http.post(run_path, json={"metadata": metadata}),
        "thread and run": http.post(
            "/threads/runs",
            json={"assistant_id": assistant["id"], "thread": {"metadata": metadata}},
        ),
        "create response": http.post(
            "/responses", json={"model": "m", "input": "hi", "metadata": metadata}
        ),
    }
    for what, response in refusals.items():
        error = _error(response)
        assert says in error["message"], (what, error)
        assert error["param"] is not None and error["param"].startswith(
            ("metadata", "thread.metadata", "messages[0].metadata")
        ), (what, error)
    # Nothing was stored or changed.
    for path, count in counts.items():
        assert len(http.get(path).json()["data"]) == count, path
    assert http.get(f"/assistants/{assistant['id']}").json()["metadata"] == {}
    assert http.get(f"/threads/{thread['id']}").json()["metadata"] == {}
    assert http.get(run_path).json()["metadata"] == {}


def test_metadata_at_the_limits_is_kept(server: RunningServer) -> None:
    client = server.client()
    assistant = client.beta.assistants.create(model="m", metadata=AT_THE_LIMITS)
    assert assistant.metadata == AT_THE_LIMITS
    thread = client.beta.threads.create(metadata=AT_THE_LIMITS)
    assert client.beta.threads.retrieve(thread.id).metadata == AT_THE_LIMITS
    with pytest.raises(openai.BadRequestError, match="at most 16 properties"):
        client.beta.threads.update(thread.id, metadata=TOO_MANY)


# -- upload names --------------------------------------------------------------------------


def _multipart(disposition: bytes, content: bytes = b"a,b\n1,2\n") -> tuple[bytes, str]:
    boundary = "airlockboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
        f"assistants\r\n--{boundary}\r\n"
    ).encode()
    body += b'Content-Disposition: form-data; name="file"; ' + disposition + b"\r\n"
    body += b"Content-Type: text/csv\r\n\r\n" + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _file_count(server: RunningServer) -> int:
    return len(httpx.get(f"{server.url}/v1/files", timeout=30).json()["data"])


def test_an_rfc5987_file_name_alone_gets_a_clear_400(server: RunningServer) -> None:
    before = _file_count(server)
    body, content_type = _multipart(b"filename*=UTF-8''na%C3%AFve.csv")
    response = httpx.post(
        f"{server.url}/v1/files", content=body, timeout=30, headers={"content-type": content_type}
    )
    error = _error(response)
    assert error["param"] == "file"
    assert "filename=" in error["message"] and "RFC 5987" in error["message"]
    assert "Expected UploadFile" not in error["message"]
    # Beside a plain filename it is harmless: the plain one is the name.
    body, content_type = _multipart(b"filename=\"naive.csv\"; filename*=UTF-8''na%C3%AFve.csv")
    fine = httpx.post(
        f"{server.url}/v1/files", content=body, timeout=30, headers={"content-type": content_type}
    )
    assert fine.status_code == 200 and fine.json()["filename"] == "naive.csv"
    assert _file_count(server) == before + 1


@pytest.mark.parametrize("name", [b"a\x00b.csv", b"tab\there.csv", b"esc\x1b[31m.csv"])
def test_control_characters_in_an_upload_name_are_refused(
    server: RunningServer, name: bytes
) -> None:
    before = _file_count(server)
    body, content_type = _multipart(b'filename="' + name + b'"')
    response = httpx.post(
        f"{server.url}/v1/files", content=body, timeout=30, headers={"content-type": content_type}
    )
    error = _error(response)
    assert error["param"] == "file" and "control characters" in error["message"]
    assert _file_count(server) == before


# -- bodies that never arrive ----------------------------------------------------------------


def _stall(server: RunningServer, head: bytes, sent_body: bytes = b"") -> tuple[bytes, float]:
    """Send a request head announcing a body, then part of it (or none) and nothing more;
    return everything the server sent until it closed the connection, and how long it took."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=BODY_TIMEOUT + 30) as sock:
        started = time.monotonic()
        sock.sendall(head + sent_body)
        received = b""
        while chunk := sock.recv(65536):  # b"" once the server closed the connection
            received += chunk
        return received, time.monotonic() - started


def _status(raw: bytes) -> int:
    return int(raw.split(b"\r\n", 1)[0].split()[1])


@pytest.mark.parametrize(
    "kind",
    ["json, nothing sent", "json, half sent", "upload, half sent", "too large, nothing sent"],
)
def test_a_body_that_never_arrives_is_answered_and_the_connection_closed(
    server: RunningServer, kind: str
) -> None:
    before = _file_count(server)
    if kind.startswith("json"):
        body = b'{"model": "m", "name": "never"}'
        head = (
            b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        sent = b"" if "nothing" in kind else body[:10]
    elif kind.startswith("upload"):
        body, content_type = _multipart(b'filename="slow.csv"', b"x" * 10000)
        head = (
            b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n\r\n" % (content_type.encode(), len(body))
        )
        sent = body[:5000]
    else:
        head = (
            b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (64 << 20)
        )
        sent = b""
    raw, seconds = _stall(server, head, sent)
    expected = 413 if kind.startswith("too large") else 408
    assert _status(raw) == expected, raw[:300]
    assert seconds < BODY_TIMEOUT + 10
    if expected == 408:
        assert b"stopped arriving" in raw
    # Nothing was stored.
    names = [a["name"] for a in httpx.get(f"{server.url}/v1/assistants", timeout=30).json()["data"]]
    assert "never" not in names
    assert _file_count(server) == before


def test_container_uploads_follow_the_same_rules(server: RunningServer) -> None:
    client = server.client()
    container = client.containers.create(name="names")
    url = f"{server.url}/v1/containers/{container.id}/files"
    for disposition, says in [
        (b"filename*=UTF-8''na%C3%AFve.csv", "RFC 5987"),
        (b'filename="a\x00b.csv"', "control characters"),
    ]:
        body, content_type = _multipart(disposition)
        error = _error(
            httpx.post(url, content=body, timeout=30, headers={"content-type": content_type})
        )
        assert error["param"] == "file" and says in error["message"]
    assert list(client.containers.files.list(container.id)) == []
    client.containers.delete(container.id)
