"""One engine underneath: a Responses call and an Assistants run doing the same work produce
the same code, the same outputs and the same files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from openai.types.beta.threads import TextContentBlock
from responses_fixtures import AUTO_TOOL, OUTPUTS, script
from server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server

pytestmark = pytest.mark.filterwarnings(BETA_WARNING_FILTER)

FIRST = "import math\nrows = [math.factorial(n) for n in range(6)]\nprint(rows)"
SECOND = (
    "with open('/mnt/data/facts.txt', 'w') as f:\n    f.write('\\n'.join(map(str, rows)))\n"
    "print(len(rows), 'rows written')"
)
ANSWER = "Wrote [facts.txt](sandbox:/mnt/data/facts.txt)."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("parity") / "server") as running:
        yield running


def test_same_work_same_results(server: RunningServer, tmp_path: Path) -> None:
    client: OpenAI = server.client()
    items = ({"code": FIRST}, {"code": SECOND}, {"text": ANSWER})

    assistant = client.beta.assistants.create(
        model=script(tmp_path, *items), tools=[{"type": "code_interpreter"}]
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Factorials."}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    run_calls = [
        (
            call.code_interpreter.input,
            [o.logs for o in call.code_interpreter.outputs if o.type == "logs"],
        )
        for step in steps
        if step.step_details.type == "tool_calls"
        for call in step.step_details.tool_calls
        if call.type == "code_interpreter"
    ]
    [reply] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    block = reply.content[-1]
    assert isinstance(block, TextContentBlock)
    [link] = block.text.annotations
    assert link.type == "file_path"
    run_file = client.files.content(link.file_path.file_id).read()

    response = client.responses.create(
        model=script(tmp_path, *items), tools=[AUTO_TOOL], input="Factorials.", include=[OUTPUTS]
    )
    assert response.status == "completed"
    response_calls = [
        (item.code, [o.logs for o in item.outputs or [] if o.type == "logs"])
        for item in response.output
        if item.type == "code_interpreter_call"
    ]
    assert response_calls == run_calls
    assert [code for code, _ in run_calls] == [FIRST, SECOND]
    assert response.output_text == block.text.value == ANSWER
    message = response.output[-1]
    assert message.type == "message"
    [citation] = message.content[0].annotations  # type: ignore[union-attr]
    assert citation.type == "container_file_citation"
    assert (citation.start_index, citation.end_index) == (link.start_index, link.end_index)
    response_file = client.containers.files.content.retrieve(
        citation.file_id, container_id=citation.container_id
    ).read()
    assert response_file == run_file == b"1\n1\n2\n6\n24\n120"
    assert run.usage is not None and response.usage is not None
    assert response.usage.output_tokens == run.usage.completion_tokens
