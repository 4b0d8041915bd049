"""API keys (OpenAI's bearer and Azure's `api-key`), the Azure flavour of the routes, and the
`airlock serve` command's refusals and start-up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server, write_script

pytestmark = pytest.mark.filterwarnings(BETA_WARNING_FILTER)

KEY = "sk-airlock-test"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("auth") / "server", api_key=KEY) as running:
        yield running


def test_key_required(keyed: RunningServer) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        keyed.client(api_key="wrong").beta.assistants.list()
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        keyed.client(api_key="wrong").files.list()
    bare = httpx.get(f"{keyed.url}/v1/assistants")
    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "missing_api_key"
    assert set(bare.json()["error"]) == {"message", "type", "param", "code"}
    # The right key, either way.
    assert keyed.client().beta.assistants.list().data == []
    assert httpx.get(f"{keyed.url}/v1/files", headers={"api-key": KEY}).status_code == 200
    assert (
        httpx.get(f"{keyed.url}/v1/files", headers={"Authorization": f"Bearer {KEY}"}).status_code
        == 200
    )
    # curl -u :KEY, as OpenAI's guides write it: Basic auth with the key as password.
    assert httpx.get(f"{keyed.url}/v1/files", auth=("", KEY)).status_code == 200
    assert httpx.get(f"{keyed.url}/v1/files", auth=("", "wrong")).status_code == 401
    assert (
        httpx.get(f"{keyed.url}/v1/files", headers={"Authorization": "Basic !!!"}).status_code
        == 401
    )
    # Refused before the body is looked at; no key needed for the health check.
    assert httpx.post(f"{keyed.url}/v1/assistants", json={}).status_code == 401
    assert httpx.get(f"{keyed.url}/health").status_code == 200


def test_azure_with_key(keyed: RunningServer) -> None:
    assert keyed.azure_client().beta.assistants.list().data is not None
    with pytest.raises(openai.AuthenticationError):
        keyed.azure_client(api_key="wrong").beta.assistants.list()


def test_without_a_configured_key_any_bearer_passes(tmp_path: Path) -> None:
    with running_server(tmp_path / "open") as server:
        assert server.client(api_key="anything").files.list().data == []
        assert httpx.get(f"{server.url}/v1/files").status_code == 200


def test_azure_flavour(tmp_path: Path) -> None:
    """The Azure guide's snippets: AzureOpenAI client, v1 `file_ids`, generated-file download."""
    with running_server(tmp_path / "azure") as server:
        client = server.azure_client()
        speech = tmp_path / "speech.py"
        speech.write_text("print('hello')\n")
        with speech.open("rb") as handle:
            file = client.files.create(file=handle, purpose="assistants")
        assert file.filename == "speech.py"
        assistant = client.beta.assistants.create(
            instructions="You are an AI assistant that can write code to help answer math "
            "questions.",
            model="gpt-4-1106-preview",
            tools=[{"type": "code_interpreter"}],
            # The guide's v1 `file_ids=[...]` keyword is refused by the SDK itself since 1.21
            # (TypeError, before any request); the same body field through extra_body works.
            extra_body={"file_ids": [file.id]},
        )
        assert assistant.tool_resources is not None
        assert assistant.tool_resources.code_interpreter is not None
        assert assistant.tool_resources.code_interpreter.file_ids == [file.id]
        thread = client.beta.threads.create(
            messages=[
                {
                    "role": "user",
                    "content": "I need to solve the equation `3x + 11 = 14`. Can you help me?",
                    "file_ids": [file.id],  # type: ignore[typeddict-unknown-key]
                }
            ]
        )
        message = client.beta.threads.messages.list(thread.id).data[0]
        assert message.attachments is not None
        assert [a.file_id for a in message.attachments] == [file.id]
        assert message.attachments[0].tools is not None
        assert message.attachments[0].tools[0].type == "code_interpreter"
        assert client.files.content(file.id).read() == b"print('hello')\n"
        assert client.beta.threads.retrieve(thread.id).id == thread.id
        assert [a.id for a in client.beta.assistants.list()] == [assistant.id]
        assert client.files.delete(file.id).deleted

        # curl, as the guide's REST tabs do it: api-key header, api-version query.
        version = {"api-version": "2024-02-15-preview"}
        upload = httpx.post(
            f"{server.url}/openai/files",
            params=version,
            headers={"api-key": "x"},
            files={"file": ("file.csv", b"a,b\n")},
            data={"purpose": "assistants"},
        )
        assert upload.status_code == 200, upload.text
        created = httpx.post(
            f"{server.url}/openai/assistants",
            params=version,
            headers={"api-key": "x"},
            json={
                "instructions": "math",
                "tools": [{"type": "code_interpreter"}],
                "model": "gpt-4-1106-preview",
                "file_ids": [upload.json()["id"]],
            },
        )
        assert created.status_code == 200, created.text
        missing = httpx.get(f"{server.url}/openai/threads/thread_missing", params=version)
        assert missing.status_code == 404


# ------------------------------------------------------------------ airlock serve


def _airlock(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIRLOCK_MODEL", "AIRLOCK_API_KEY")}
    return {**env, **extra}


def test_serve_needs_a_model(tmp_path: Path) -> None:
    # No settings file and an empty models folder: no default model to fall back on.
    result = _airlock(
        "serve",
        env=_env(
            XDG_CONFIG_HOME=str(tmp_path / "config"), AIRLOCK_MODELS_DIR=str(tmp_path / "models")
        ),
    )
    assert result.returncode == 2
    assert "--model" in result.stderr and "AIRLOCK_MODEL" in result.stderr
    assert "airlock models pull qwen2.5-coder-1.5b" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_open_host_without_key(tmp_path: Path) -> None:
    result = _airlock(
        "serve", "--host", "0.0.0.0", "--model", "scripted:/nonexistent.json", env=_env()
    )
    assert result.returncode == 2
    assert "API key" in result.stderr
    bad_spec = _airlock("serve", "--model", "not-a-model", env=_env())
    assert bad_spec.returncode == 2
    assert "unknown model 'not-a-model'" in bad_spec.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_runs_a_server(tmp_path: Path) -> None:
    model = write_script(tmp_path / "script.json", [{"text": "hi"}])
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=_env(AIRLOCK_MODEL=model, AIRLOCK_API_KEY=KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "airlock serve did not come up"
            time.sleep(0.1)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
        assistant = client.beta.assistants.create(model="gpt-4o")
        assert client.beta.assistants.retrieve(assistant.id).id == assistant.id
        assert httpx.get(f"http://127.0.0.1:{port}/v1/assistants").status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # uvicorn re-raises the signal once it has shut down (lifespan included): 130 or -SIGINT.
    assert process.returncode in (0, 130, -signal.SIGINT)
    assert (tmp_path / "data" / "airlock.db").exists()
