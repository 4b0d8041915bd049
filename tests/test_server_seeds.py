"""The code snippets of the two seed documents (shared/seeds), run against the REST server.

Each snippet is the guide's text (OpenAI's guide lost its newlines in the capture; they are put
back), executed with `exec` in a namespace holding what the guide assumes (`client`, `file`,
`thread`, `os`), with only the endpoint and key pointed at the server through the environment
the guides read (OPENAI_BASE_URL/OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT/AZURE_OPENAI_API_KEY).
Placeholder ids ("file-abc123", "thread_abc123", ...) become the ids this run created. The model
names the guides use ("gpt-4o", "gpt-4-1106-preview") are mapped to scripted models that do what
the guides describe: analyse an uploaded CSV, plot, save a shuffled copy, solve 3x + 11 = 14.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
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
SHUFFLED = ("The rows of the CSV file have been shuffled and saved to a new CSV file. You can "
            "download the shuffled CSV file from the following link:\n\n"
            "[Download Shuffled CSV File](sandbox:/mnt/data/shuffled_file.csv)")
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

# ------------------------------------------------------------------ OpenAI's guide

OPENAI_ENABLE = """\
assistant = client.beta.assistants.create(
  instructions="You are a personal math tutor. When asked a math question, write and run code to answer the question.",
  model="gpt-4o",
  tools=[{"type": "code_interpreter"}]
)
"""  # noqa: E501
OPENAI_ASSISTANT_FILES = """\
# Upload a file with an "assistants" purpose
file = client.files.create(
  file=open("mydata.csv", "rb"),
  purpose='assistants'
)

# Create an assistant using the file ID
assistant = client.beta.assistants.create(
  instructions="You are a personal math tutor. When asked a math question, write and run code to answer the question.",
  model="gpt-4o",
  tools=[{"type": "code_interpreter"}],
  tool_resources={
    "code_interpreter": {
      "file_ids": [file.id]
    }
  }
)
"""  # noqa: E501
OPENAI_THREAD_FILES = """\
thread = client.beta.threads.create(
  messages=[
    {
      "role": "user",
      "content": "I need to solve the equation `3x + 11 = 14`. Can you help me?",
      "attachments": [
        {
          "file_id": file.id,
          "tools": [{"type": "code_interpreter"}]
        }
      ]
    }
  ]
)
"""
OPENAI_DOWNLOAD = """\
from openai import OpenAI

client = OpenAI()

image_data = client.files.content("file-abc123")
image_data_bytes = image_data.read()

with open("./my-image.png", "wb") as file:
    file.write(image_data_bytes)
"""
OPENAI_STEPS = """\
run_steps = client.beta.threads.runs.steps.list(
  thread_id=thread.id,
  run_id=run.id
)
"""
OPENAI_CURL_ENABLE = """\
curl https://api.openai.com/v1/assistants \\
  -u :$OPENAI_API_KEY \\
  -H 'Content-Type: application/json' \\
  -H 'OpenAI-Beta: assistants=v2' \\
  -d '{
    "instructions": "You are a personal math tutor. When asked a math question, write and run code to answer the question.",
    "tools": [
      { "type": "code_interpreter" }
    ],
    "model": "gpt-4o"
  }'
"""  # noqa: E501
OPENAI_CURL_UPLOAD = """\
# Upload a file with an "assistants" purpose
curl https://api.openai.com/v1/files \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -F purpose="assistants" \\
  -F file="@/path/to/mydata.csv"
"""
OPENAI_CURL_ASSISTANT_FILE = """\
# Create an assistant using the file ID
curl https://api.openai.com/v1/assistants \\
  -u :$OPENAI_API_KEY \\
  -H 'Content-Type: application/json' \\
  -H 'OpenAI-Beta: assistants=v2' \\
  -d '{
    "instructions": "You are a personal math tutor. When asked a math question, write and run code to answer the question.",
    "tools": [{"type": "code_interpreter"}],
    "model": "gpt-4o",
    "tool_resources": {
      "code_interpreter": {
        "file_ids": ["file-BK7bzQj3FfZFXr7DbL6xJwfo"]
      }
    }
  }'
"""  # noqa: E501
OPENAI_CURL_MESSAGE = """\
curl https://api.openai.com/v1/threads/thread_abc123/messages \\
  -u :$OPENAI_API_KEY \\
  -H 'Content-Type: application/json' \\
  -H 'OpenAI-Beta: assistants=v2' \\
  -d '{
    "role": "user",
    "content": "I need to solve the equation `3x + 11 = 14`. Can you help me?",
    "attachments": [
      {
        "file_id": "file-ACq8OjcLQm2eIG0BvRM4z5qX",
        "tools": [{"type": "code_interpreter"}]
      }
    ]
  }'
"""
OPENAI_CURL_DOWNLOAD = """\
curl https://api.openai.com/v1/files/file-abc123/content \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  --output image.png
"""
OPENAI_CURL_STEPS = """\
curl https://api.openai.com/v1/threads/thread_abc123/runs/RUN_ID/steps \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -H "OpenAI-Beta: assistants=v2" \\
"""

# ------------------------------------------------------------------ Azure's how-to

AZURE_ENABLE = """\
from openai import AzureOpenAI
    
client = AzureOpenAI(
    api_key=os.getenv("AZURE_OPENAI_API_KEY"),  
    api_version="2024-05-01-preview",
    azure_endpoint = os.getenv("AZURE_OPENAI_ENDPOINT")
    )

assistant = client.beta.assistants.create(
  instructions="You are an AI assistant that can write code to help answer math questions",
  model="<REPLACE WITH MODEL DEPLOYMENT NAME>", # replace with model deployment name. 
  tools=[{"type": "code_interpreter"}]
)
"""  # noqa: W291, W293
AZURE_UPLOAD = """\
from openai import AzureOpenAI
    
client = AzureOpenAI(
    api_key=os.getenv("AZURE_OPENAI_API_KEY"),  
    api_version="2024-05-01-preview",
    azure_endpoint = os.getenv("AZURE_OPENAI_ENDPOINT")
    )

# Upload a file with an "assistants" purpose
file = client.files.create(
  file=open("speech.py", "rb"),
  purpose='assistants'
)

# Create an assistant using the file ID
assistant = client.beta.assistants.create(
  instructions="You are an AI assistant that can write code to help answer math questions.",
  model="gpt-4-1106-preview",
  tools=[{"type": "code_interpreter"}],
  file_ids=[file.id]
)
"""  # noqa: W291, W293
AZURE_THREAD = """\
from openai import AzureOpenAI
    
client = AzureOpenAI(
    api_key=os.getenv("AZURE_OPENAI_API_KEY"),  
    api_version="2024-05-01-preview",
    azure_endpoint = os.getenv("AZURE_OPENAI_ENDPOINT")
    )

thread = client.beta.threads.create(
  messages=[
    {
      "role": "user",
      "content": "I need to solve the equation `3x + 11 = 14`. Can you help me?",
      "file_ids": ["file.id"] # file id will look like: "assistant-R9uhPxvRKGH3m0x5zBOhMjd2" 
    }
  ]
)
"""  # noqa: W291, W293
AZURE_DOWNLOAD = """\
from openai import AzureOpenAI
    
client = AzureOpenAI(
    api_key=os.getenv("AZURE_OPENAI_API_KEY"),  
    api_version="2024-05-01-preview",
    azure_endpoint = os.getenv("AZURE_OPENAI_ENDPOINT")
    )

image_data = client.files.content("assistant-abc123")
image_data_bytes = image_data.read()

with open("./my-image.png", "wb") as file:
    file.write(image_data_bytes)
"""  # noqa: W291, W293
AZURE_CURL_ENABLE = """\
curl https://YOUR_RESOURCE_NAME.openai.azure.com/openai/assistants?api-version=2024-05-01-preview \\
  -H "api-key: $AZURE_OPENAI_API_KEY" \\
  -H 'Content-Type: application/json' \\
  -d '{
    "instructions": "You are an AI assistant that can write code to help answer math questions.",
    "tools": [
      { "type": "code_interpreter" }
    ],
    "model": "gpt-4-1106-preview"
  }'
"""
AZURE_CURL_UPLOAD = """\
# Upload a file with an "assistants" purpose

curl https://YOUR_RESOURCE_NAME.openai.azure.com/openai/files?api-version=2024-05-01-preview \\
  -H "api-key: $AZURE_OPENAI_API_KEY" \\
  -F purpose="assistants" \\
  -F file="@c:\\\\path_to_file\\\\file.csv"
"""
AZURE_CURL_ASSISTANT_FILE = """\
# Create an assistant using the file ID

curl https://YOUR_RESOURCE_NAME.openai.azure.com/openai/assistants?api-version=2024-05-01-preview \\
  -H "api-key: $AZURE_OPENAI_API_KEY" \\
  -H 'Content-Type: application/json' \\
  -d '{
    "instructions": "You are an AI assistant that can write code to help answer math questions.",
    "tools": [
      { "type": "code_interpreter" }
    ],
    "model": "gpt-4-1106-preview",
    "file_ids": ["assistant-123abc456"]
  }'
"""
AZURE_CURL_MESSAGE = """\
curl https://YOUR_RESOURCE_NAME.openai.azure.com/openai/threads/<YOUR-THREAD-ID>/messages?api-version=2024-05-01-preview \\
  -H "api-key: $AZURE_OPENAI_API_KEY" \\
  -H 'Content-Type: application/json' \\
  -d '{
    "role": "user",
    "content": "I need to solve the equation `3x + 11 = 14`. Can you help me?",
    "file_ids": ["asssistant-123abc456"]
  }'
"""  # noqa: E501
AZURE_CURL_DOWNLOAD = """\
curl https://YOUR_RESOURCE_NAME.openai.azure.com/openai/files/<YOUR-FILE-ID>/content?api-version=2024-05-01-preview \\
  -H "api-key: $AZURE_OPENAI_API_KEY" \\
  --output image.png
"""  # noqa: E501


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("seeds") / "server", api_key=KEY,
                        models=MODELS) as running:
        yield running


def run_python(snippet: str, namespace: dict[str, Any], **placeholders: str) -> dict[str, Any]:
    for placeholder, value in placeholders.items():
        assert placeholder in snippet, placeholder
        snippet = snippet.replace(placeholder, value)
    exec(compile(snippet, "<seed snippet>", "exec"), namespace)
    return namespace


def run_curl(script: str, cwd: Path, env: dict[str, str], host: str, url: str,
             **placeholders: str) -> Any:
    """The guide's curl command with the host replaced (and told to fail on an error status);
    the JSON it printed, or None for a download."""
    script = script.replace(host, url).replace("curl https", "curl -sS --fail-with-body https")
    for placeholder, value in placeholders.items():
        assert placeholder in script, placeholder
        script = script.replace(placeholder, value)
    result = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, (script, result.stdout, result.stderr)
    return json.loads(result.stdout) if result.stdout else None


@pytest.fixture
def openai_env(server: RunningServer, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    import os

    return dict(os.environ)


def test_openai_guide_python(server: RunningServer, tmp_path: Path,
                             openai_env: dict[str, str]) -> None:
    (tmp_path / "mydata.csv").write_text(CSV)
    ns = run_python("from openai import OpenAI\nclient = OpenAI()\n", {})
    client: OpenAI = ns["client"]

    run_python(OPENAI_ENABLE, ns)
    assert [tool.type for tool in ns["assistant"].tools] == ["code_interpreter"]

    run_python(OPENAI_ASSISTANT_FILES, ns)
    file, assistant = ns["file"], ns["assistant"]
    assert (file.filename, file.bytes, file.purpose) == ("mydata.csv", len(CSV), "assistants")
    assert assistant.tool_resources.code_interpreter.file_ids == [file.id]

    run_python(OPENAI_THREAD_FILES, ns)
    thread = ns["thread"]
    # Between the guide's snippets: a run (the quickstart's create_and_poll).
    ns["run"] = run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                               assistant_id=assistant.id)
    assert run.status == "completed", run.last_error

    run_python(OPENAI_STEPS, ns)
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
    assert text.text.value[annotation.start_index:annotation.end_index] == annotation.text
    shuffled = client.files.content(annotation.file_path.file_id).read().decode()
    assert sorted(shuffled.splitlines()[1:]) == sorted(CSV.splitlines()[1:])

    run_python(OPENAI_DOWNLOAD, ns, **{"file-abc123": image.image_file.file_id})
    assert (tmp_path / "my-image.png").read_bytes().startswith(PNG_MAGIC)


def test_openai_guide_curl(server: RunningServer, tmp_path: Path,
                           openai_env: dict[str, str]) -> None:
    (tmp_path / "mydata.csv").write_text(CSV)
    host = "https://api.openai.com"
    assistant = run_curl(OPENAI_CURL_ENABLE, tmp_path, openai_env, host, server.url)
    assert assistant["object"] == "assistant"
    file = run_curl(OPENAI_CURL_UPLOAD, tmp_path, openai_env, host, server.url,
                    **{"/path/to/mydata.csv": str(tmp_path / "mydata.csv")})
    assert file["filename"] == "mydata.csv"
    with_file = run_curl(OPENAI_CURL_ASSISTANT_FILE, tmp_path, openai_env, host, server.url,
                         **{"file-BK7bzQj3FfZFXr7DbL6xJwfo": file["id"]})
    assert with_file["tool_resources"]["code_interpreter"]["file_ids"] == [file["id"]]

    client = OpenAI()
    thread = client.beta.threads.create()
    message = run_curl(OPENAI_CURL_MESSAGE, tmp_path, openai_env, host, server.url,
                         thread_abc123=thread.id,
                         **{"file-ACq8OjcLQm2eIG0BvRM4z5qX": file["id"]})
    assert message["attachments"][0]["file_id"] == file["id"]
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant["id"])
    assert run.status == "completed"
    steps = run_curl(OPENAI_CURL_STEPS, tmp_path, openai_env, host, server.url,
                       thread_abc123=thread.id, RUN_ID=run.id)
    assert steps["object"] == "list" and steps["data"]
    image_id = next(block["image_file"]["file_id"]
                    for block in client.beta.threads.messages.list(thread.id).model_dump()[
                        "data"][0]["content"] if block["type"] == "image_file")
    run_curl(OPENAI_CURL_DOWNLOAD, tmp_path, openai_env, host, server.url,
             **{"file-abc123": image_id})
    assert (tmp_path / "image.png").read_bytes().startswith(PNG_MAGIC)


def _image_and_text(client: Any, thread_id: str) -> tuple[str, str]:
    reply = client.beta.threads.messages.list(thread_id).data[0]
    image = next(block.image_file.file_id for block in reply.content
                 if block.type == "image_file")
    text = "".join(block.text.value for block in reply.content if block.type == "text")
    return image, text


def test_azure_guide_python(server: RunningServer, tmp_path: Path,
                            openai_env: dict[str, str]) -> None:
    import os

    (tmp_path / "speech.py").write_text("print('3x + 11 = 14')\n")
    ns = run_python(AZURE_ENABLE, {"os": os})  # the guide's snippets use os without importing it
    assert ns["assistant"].model == "<REPLACE WITH MODEL DEPLOYMENT NAME>"

    # The v1 `file_ids=` keyword: every SDK since 1.21 refuses it itself, before any request
    # (the server would take it: see the curl test). The upload before it works.
    with pytest.raises(TypeError, match="file_ids"):
        run_python(AZURE_UPLOAD, ns)
    file = ns["file"]
    assert (file.filename, file.purpose) == ("speech.py", "assistants")
    client = ns["client"]
    assistant = client.beta.assistants.create(
        instructions="You are an AI assistant that can write code to help answer math questions.",
        model="gpt-4-1106-preview", tools=[{"type": "code_interpreter"}],
        extra_body={"file_ids": [file.id]})
    assert assistant.tool_resources.code_interpreter.file_ids == [file.id]

    # "file.id" stands for the id itself (the comment says what one looks like).
    run_python(AZURE_THREAD, ns, **{'"file.id"': "file.id"})
    thread = ns["thread"]
    [message] = client.beta.threads.messages.list(thread.id).data
    assert [(a.file_id, a.tools[0].type) for a in message.attachments] == [
        (file.id, "code_interpreter")]
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    image_id, text = _image_and_text(client, thread.id)
    assert text == "3x + 11 = 14 gives x = 1."
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
    logs = [o.logs for step in steps if step.type == "tool_calls"
            for call in step.step_details.tool_calls
            for o in call.code_interpreter.outputs if o.type == "logs"]
    assert logs == ["x = 1.0\n"]

    run_python(AZURE_DOWNLOAD, ns, **{"assistant-abc123": image_id})
    assert (tmp_path / "my-image.png").read_bytes().startswith(PNG_MAGIC)


def test_azure_guide_curl(server: RunningServer, tmp_path: Path,
                          openai_env: dict[str, str]) -> None:
    host = "https://YOUR_RESOURCE_NAME.openai.azure.com"
    (tmp_path / "file.csv").write_text(CSV)
    assistant = run_curl(AZURE_CURL_ENABLE, tmp_path, openai_env, host, server.url)
    assert assistant["model"] == "gpt-4-1106-preview"
    file = run_curl(AZURE_CURL_UPLOAD, tmp_path, openai_env, host, server.url,
                    **{"c:\\\\path_to_file\\\\file.csv": str(tmp_path / "file.csv")})
    assert (file["filename"], file["bytes"]) == ("file.csv", len(CSV))
    with_file = run_curl(AZURE_CURL_ASSISTANT_FILE, tmp_path, openai_env, host, server.url,
                         **{"assistant-123abc456": file["id"]})
    assert with_file["tool_resources"]["code_interpreter"]["file_ids"] == [file["id"]]

    client = OpenAI()
    thread = client.beta.threads.create()
    message = run_curl(AZURE_CURL_MESSAGE, tmp_path, openai_env, host, server.url,
                       **{"<YOUR-THREAD-ID>": thread.id, "asssistant-123abc456": file["id"]})
    assert message["attachments"] == [{"file_id": file["id"],
                                       "tools": [{"type": "code_interpreter"}]}]
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=with_file["id"])
    assert run.status == "completed", run.last_error
    image_id, _text = _image_and_text(client, thread.id)
    assert run_curl(AZURE_CURL_DOWNLOAD, tmp_path, openai_env, host, server.url,
                    **{"<YOUR-FILE-ID>": image_id}) is None
    assert (tmp_path / "image.png").read_bytes().startswith(PNG_MAGIC)
