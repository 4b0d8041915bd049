"""The code snippets of the two seed documents (shared/seeds), run against the REST server.

The snippets are read from the documents at test time (`seed_snippets`: OpenAI's guide lost its
newlines in the capture; they are put back), and these tests skip, saying so, where the documents
are missing. Each is executed with `exec` in a namespace holding what the guide assumes (`client`,
`file`, `thread`, `os`), with only the endpoint and key pointed at the server through the
environment the guides read (OPENAI_BASE_URL/OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT/
AZURE_OPENAI_API_KEY). Placeholder ids ("file-abc123", "thread_abc123", ...) become the ids this
run created. The model names the guides use ("gpt-4o", "gpt-4-1106-preview") are mapped to
scripted models that do what the guides describe: analyse an uploaded CSV, plot, save a shuffled
copy, solve 3x + 11 = 14.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import seed_snippets
from openai import OpenAI
from seed_snippets import AZURE_HOST, OPENAI_HOST, Guide
from server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server

pytestmark = [
    pytest.mark.filterwarnings(BETA_WARNING_FILTER),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),  # the guides never close open(...)
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

KEY = "sk-seed-test"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CSV = "x,y\n" + "".join(f"{i},{i * i}\n" for i in range(10))

ANALYSIS = """\
import pandas as pd
import matplotlib.pyplot as plt
df = pd.read_csv('/mnt/data/mydata.csv')
print(df.shape)
plt.plot(df['x'], df['y'])
plt.show()
df.sample(frac=1, random_state=0).to_csv('/mnt/data/shuffled_file.csv', index=False)
"""
SHUFFLED = (
    "Done: the rows are in a random order now, saved as "
    "[shuffled_file.csv](sandbox:/mnt/data/shuffled_file.csv)."
)
EQUATION = """\
x = (14 - 11) / 3
print(f"x = {x}")
import matplotlib.pyplot as plt
plt.plot([0, 2], [11, 17]); plt.axhline(14); plt.show()
"""
MODELS = {
    "gpt-4o": [{"code": ANALYSIS}, {"text": SHUFFLED}],
    "gpt-4-1106-preview": [{"code": EQUATION}, {"text": "3x + 11 = 14 gives x = 1."}],
}


@pytest.fixture(scope="module")
def openai_guide() -> Guide:
    return seed_snippets.load_openai(_seeds())


@pytest.fixture(scope="module")
def azure_guide() -> Guide:
    return seed_snippets.load_azure(_seeds())


def _seeds() -> Path:
    if not seed_snippets.SEEDS.is_dir():
        pytest.skip(f"seed documents not found: {seed_snippets.SEEDS}")
    return seed_snippets.SEEDS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("seeds") / "server", api_key=KEY, models=MODELS
    ) as running:
        yield running


def run_python(snippet: str, namespace: dict[str, Any], **placeholders: str) -> dict[str, Any]:
    for placeholder, value in placeholders.items():
        assert placeholder in snippet, placeholder
        snippet = snippet.replace(placeholder, value)
    exec(compile(snippet, "<seed snippet>", "exec"), namespace)
    return namespace


def run_curl(
    script: str, cwd: Path, env: dict[str, str], host: str, url: str, **placeholders: str
) -> Any:
    """The guide's curl command with the host replaced (and told to fail on an error status);
    the JSON it printed, or None for a download."""
    script = script.replace(host, url).replace("curl https", "curl -sS --fail-with-body https")
    for placeholder, value in placeholders.items():
        assert placeholder in script, placeholder
        script = script.replace(placeholder, value)
    result = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (script, result.stdout, result.stderr)
    return json.loads(result.stdout) if result.stdout else None


@pytest.fixture
def openai_env(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    import os

    return dict(os.environ)


def test_openai_guide_python(
    openai_guide: Guide, server: RunningServer, tmp_path: Path, openai_env: dict[str, str]
) -> None:
    snippets = openai_guide.python
    (tmp_path / "mydata.csv").write_text(CSV)
    ns = run_python("from openai import OpenAI\nclient = OpenAI()\n", {})
    client: OpenAI = ns["client"]

    run_python(snippets["enable"], ns)
    assert [tool.type for tool in ns["assistant"].tools] == ["code_interpreter"]

    run_python(snippets["assistant_files"], ns)
    file, assistant = ns["file"], ns["assistant"]
    assert (file.filename, file.bytes, file.purpose) == ("mydata.csv", len(CSV), "assistants")
    assert assistant.tool_resources.code_interpreter.file_ids == [file.id]

    run_python(snippets["thread_files"], ns)
    thread = ns["thread"]
    # Between the guide's snippets: a run (the quickstart's create_and_poll).
    ns["run"] = run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "completed", run.last_error

    run_python(snippets["steps"], ns)
    steps = list(ns["run_steps"])
    tool_step = next(step for step in steps if step.type == "tool_calls")
    call = tool_step.step_details.tool_calls[0]
    assert call.code_interpreter.input == ANALYSIS
    logs = [o.logs for o in call.code_interpreter.outputs if o.type == "logs"]
    assert logs == ["(10, 2)\n"]

    reply = client.beta.threads.messages.list(thread.id).data[0]
    image = next(block for block in reply.content if block.type == "image_file")
    text = next(block for block in reply.content if block.type == "text")
    [annotation] = text.text.annotations
    assert annotation.type == "file_path"
    assert annotation.text == "sandbox:/mnt/data/shuffled_file.csv"
    assert text.text.value[annotation.start_index : annotation.end_index] == annotation.text
    shuffled = client.files.content(annotation.file_path.file_id).read().decode()
    assert sorted(shuffled.splitlines()[1:]) == sorted(CSV.splitlines()[1:])

    run_python(snippets["download"], ns, **{"file-abc123": image.image_file.file_id})
    assert (tmp_path / "my-image.png").read_bytes().startswith(PNG_MAGIC)


def test_openai_guide_curl(
    openai_guide: Guide, server: RunningServer, tmp_path: Path, openai_env: dict[str, str]
) -> None:
    commands = openai_guide.curl
    (tmp_path / "mydata.csv").write_text(CSV)
    host = OPENAI_HOST
    assistant = run_curl(commands["enable"], tmp_path, openai_env, host, server.url)
    assert assistant["object"] == "assistant"
    file = run_curl(
        commands["upload"],
        tmp_path,
        openai_env,
        host,
        server.url,
        **{"/path/to/mydata.csv": str(tmp_path / "mydata.csv")},
    )
    assert file["filename"] == "mydata.csv"
    with_file = run_curl(
        commands["assistant_file"],
        tmp_path,
        openai_env,
        host,
        server.url,
        **{"file-BK7bzQj3FfZFXr7DbL6xJwfo": file["id"]},
    )
    assert with_file["tool_resources"]["code_interpreter"]["file_ids"] == [file["id"]]

    client = OpenAI()
    thread = client.beta.threads.create()
    message = run_curl(
        commands["message"],
        tmp_path,
        openai_env,
        host,
        server.url,
        thread_abc123=thread.id,
        **{"file-ACq8OjcLQm2eIG0BvRM4z5qX": file["id"]},
    )
    assert message["attachments"][0]["file_id"] == file["id"]
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant["id"]
    )
    assert run.status == "completed"
    steps = run_curl(
        commands["steps"],
        tmp_path,
        openai_env,
        host,
        server.url,
        thread_abc123=thread.id,
        RUN_ID=run.id,
    )
    assert steps["object"] == "list" and steps["data"]
    image_id = next(
        block["image_file"]["file_id"]
        for block in client.beta.threads.messages.list(thread.id).model_dump()["data"][0]["content"]
        if block["type"] == "image_file"
    )
    run_curl(
        commands["download"], tmp_path, openai_env, host, server.url, **{"file-abc123": image_id}
    )
    assert (tmp_path / "image.png").read_bytes().startswith(PNG_MAGIC)


def _image_and_text(client: Any, thread_id: str) -> tuple[str, str]:
    reply = client.beta.threads.messages.list(thread_id).data[0]
    image = next(block.image_file.file_id for block in reply.content if block.type == "image_file")
    text = "".join(block.text.value for block in reply.content if block.type == "text")
    return image, text


def test_azure_guide_python(
    azure_guide: Guide, server: RunningServer, tmp_path: Path, openai_env: dict[str, str]
) -> None:
    snippets = azure_guide.python
    import os

    (tmp_path / "speech.py").write_text("print('3x + 11 = 14')\n")
    # The guide's snippets use os without importing it.
    ns = run_python(snippets["enable"], {"os": os})
    assert ns["assistant"].model == "<REPLACE WITH MODEL DEPLOYMENT NAME>"

    # The v1 `file_ids=` keyword: every SDK since 1.21 refuses it itself, before any request
    # (the server would take it: see the curl test). The upload before it works.
    with pytest.raises(TypeError, match="file_ids"):
        run_python(snippets["upload"], ns)
    file = ns["file"]
    assert (file.filename, file.purpose) == ("speech.py", "assistants")
    client = ns["client"]
    assistant = client.beta.assistants.create(
        instructions="Answer math questions by writing and running code.",
        model="gpt-4-1106-preview",
        tools=[{"type": "code_interpreter"}],
        extra_body={"file_ids": [file.id]},
    )
    assert assistant.tool_resources.code_interpreter.file_ids == [file.id]

    # "file.id" stands for the id itself (the comment says what one looks like).
    run_python(snippets["thread"], ns, **{'"file.id"': "file.id"})
    thread = ns["thread"]
    [message] = client.beta.threads.messages.list(thread.id).data
    assert [(a.file_id, a.tools[0].type) for a in message.attachments] == [
        (file.id, "code_interpreter")
    ]
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    image_id, text = _image_and_text(client, thread.id)
    assert text == "3x + 11 = 14 gives x = 1."
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
    logs = [
        o.logs
        for step in steps
        if step.type == "tool_calls"
        for call in step.step_details.tool_calls
        for o in call.code_interpreter.outputs
        if o.type == "logs"
    ]
    assert logs == ["x = 1.0\n"]

    run_python(snippets["download"], ns, **{"assistant-abc123": image_id})
    assert (tmp_path / "my-image.png").read_bytes().startswith(PNG_MAGIC)


def test_azure_guide_curl(
    azure_guide: Guide, server: RunningServer, tmp_path: Path, openai_env: dict[str, str]
) -> None:
    commands = azure_guide.curl
    host = AZURE_HOST
    (tmp_path / "file.csv").write_text(CSV)
    assistant = run_curl(commands["enable"], tmp_path, openai_env, host, server.url)
    assert assistant["model"] == "gpt-4-1106-preview"
    file = run_curl(
        commands["upload"],
        tmp_path,
        openai_env,
        host,
        server.url,
        **{"c:\\\\path_to_file\\\\file.csv": str(tmp_path / "file.csv")},
    )
    assert (file["filename"], file["bytes"]) == ("file.csv", len(CSV))
    with_file = run_curl(
        commands["assistant_file"],
        tmp_path,
        openai_env,
        host,
        server.url,
        **{"assistant-123abc456": file["id"]},
    )
    assert with_file["tool_resources"]["code_interpreter"]["file_ids"] == [file["id"]]

    client = OpenAI()
    thread = client.beta.threads.create()
    message = run_curl(
        commands["message"],
        tmp_path,
        openai_env,
        host,
        server.url,
        **{"<YOUR-THREAD-ID>": thread.id, "asssistant-123abc456": file["id"]},
    )
    assert message["attachments"] == [
        {"file_id": file["id"], "tools": [{"type": "code_interpreter"}]}
    ]
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=with_file["id"]
    )
    assert run.status == "completed", run.last_error
    image_id, _text = _image_and_text(client, thread.id)
    assert (
        run_curl(
            commands["download"],
            tmp_path,
            openai_env,
            host,
            server.url,
            **{"<YOUR-FILE-ID>": image_id},
        )
        is None
    )
    assert (tmp_path / "image.png").read_bytes().startswith(PNG_MAGIC)
