"""The library API: `Interpreter` (the synchronous facade) and `AsyncInterpreter`, on a real
store in tmp_path, a real kernel and the scripted model (the recording one of engine_fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from engine.library.interpreter import AsyncInterpreter, RunResult
from engine.library.sync_interpreter import Interpreter
from engine.schemas import ImageFileContent
from tests.engine_fixtures import RecordingScripted, code, settings, text

PLOT_AND_CSV = """\
import pandas as pd
import matplotlib.pyplot as plt
df = pd.read_csv('/mnt/data/numbers.csv')
total = int(df['n'].sum())
print('total', total)
plt.plot(df['n'])
plt.show()
df.assign(double=df['n'] * 2).to_csv('/mnt/data/doubled.csv', index=False)
"""


def first_logs(result: RunResult, step: int = 0) -> str:
    """The logs output of the `step`-th step's code call."""
    details: Any = result.steps[step].step_details
    output: Any = details.tool_calls[0].code_interpreter.outputs[0]
    assert output.type == "logs"
    return str(output.logs)


def read_notebook(path: Path) -> Any:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


@pytest.fixture
def backend() -> RecordingScripted:
    return RecordingScripted()


@pytest.fixture
def interpreter(backend: RecordingScripted, tmp_path: Path) -> Iterator[Interpreter]:
    with Interpreter(
        backend, tmp_path / "data", settings=settings(), instructions="Be brief."
    ) as opened:
        yield opened


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.csv"
    path.write_text("n\n1\n2\n3\n4\n")
    return path


def test_run_returns_everything_the_run_produced(
    interpreter: Interpreter, backend: RecordingScripted, numbers: Path, tmp_path: Path
) -> None:
    backend.script(
        "Double the numbers",
        [code(PLOT_AND_CSV), text("Total 10. [doubled](sandbox:/mnt/data/doubled.csv)")],
    )
    result = interpreter.run("Double the numbers", files=[numbers])

    assert isinstance(result, RunResult)
    assert result.status == "completed" and result.run.status == "completed"
    assert result.thread_id == result.run.thread_id
    assert result.answer == "Total 10. [doubled](sandbox:/mnt/data/doubled.csv)"
    assert result.code == [PLOT_AND_CSV]
    assert [s.type for s in result.steps] == ["tool_calls", "message_creation"]
    assert len(result.messages) == 1 and result.messages[0].role == "assistant"
    assert any(isinstance(b, ImageFileContent) for b in result.messages[0].content)
    assert "total 10" in first_logs(result)
    # The generated files: the plot and the CSV; not the upload.
    assert sorted(f.filename.rsplit(".", 1)[-1] for f in result.files) == ["csv", "png"]
    assert {f.purpose for f in result.files} == {"assistants_output"}
    assert "numbers.csv" not in {f.filename for f in result.files}
    # The instructions reached the model, and the upload was listed for it.
    system = backend.calls_for("Double the numbers")[0].messages[0]
    assert "Be brief." in system.content and "/mnt/data/numbers.csv" in system.content

    saved = interpreter.save_files(result, tmp_path / "out")
    assert sorted(p.name for p in saved) == sorted(f.filename for f in result.files)
    csv = next(p for p in saved if p.suffix == ".csv")
    assert csv.read_text().splitlines() == ["n,double", "1,2", "2,4", "3,6", "4,8"]
    png = next(p for p in saved if p.suffix == ".png")
    assert png.read_bytes().startswith(b"\x89PNG")

    # A second save into the same folder numbers the copies instead of overwriting.
    again = interpreter.save_files(result, tmp_path / "out")
    assert set(again).isdisjoint(saved) and all(p.exists() for p in again)

    notebook_path = interpreter.export_notebook(result.thread_id, tmp_path / "thread.ipynb")
    notebook = read_notebook(notebook_path)
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert "df.assign(double" in sources and "Double the numbers" in sources


def test_thread_keeps_state_between_runs(
    interpreter: Interpreter, backend: RecordingScripted
) -> None:
    backend.script("set", [code("value = 41"), text("set")])
    backend.script("use", [code("print(value + 1)"), text("used")])
    first = interpreter.run("set")
    second = interpreter.run("use", thread=first.thread_id)
    assert second.thread_id == first.thread_id
    assert second.status == "completed"
    assert first_logs(second).strip() == "42"
    # The second run's model call saw the whole thread.
    seen = [m.content for m in backend.calls_for("use")[0].messages if m.role == "user"]
    assert seen == ["set", "use"]
    assert [m.role for m in interpreter.messages(first.thread_id)] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    # A new run without `thread=` is a fresh thread with a fresh kernel.
    backend.script("fresh", [code("print('value' in globals())"), text("ok")])
    fresh = interpreter.run("fresh")
    assert fresh.thread_id != first.thread_id
    assert first_logs(fresh).strip() == "False"


def test_stream_yields_the_run_events(interpreter: Interpreter, backend: RecordingScripted) -> None:
    backend.script("stream it", [code("print(1 + 1)"), text("Two.")])
    events = list(interpreter.stream("stream it"))
    names = [e.event for e in events]
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-1] == "thread.run.completed"
    assert "thread.run.step.delta" in names and "thread.message.delta" in names
    assert (
        "".join(
            e.data["delta"]["content"][0]["text"].get("value", "")
            for e in events
            if e.event == "thread.message.delta"
        )
        == "Two."
    )
    # The run is stored as the stream said it ended.
    run_id = events[0].data["id"]
    result = interpreter.result(
        interpreter.engine.store.get_run(events[0].data["thread_id"], run_id)
    )
    assert result.status == "completed" and result.answer == "Two."


def test_stream_left_early_does_not_break_the_interpreter(
    interpreter: Interpreter, backend: RecordingScripted
) -> None:
    backend.script("leave early", [code("print('x')"), text("done")])
    stream: Any = interpreter.stream("leave early")
    first = next(stream)
    assert first.event == "thread.run.created"
    stream.close()
    backend.script("next one", [text("still fine")])
    assert interpreter.run("next one").answer == "still fine"


def test_close_twice_is_harmless(backend: RecordingScripted, tmp_path: Path) -> None:
    interpreter = Interpreter(backend, tmp_path / "data", settings=settings())
    interpreter.close()
    interpreter.close()


async def test_async_interpreter(backend: RecordingScripted, tmp_path: Path, numbers: Path) -> None:
    backend.script(
        "async sum",
        [
            code(
                "import pandas as pd\ns = int(pd.read_csv('/mnt/data/numbers.csv')['n'].sum())\n"
                "print(s)"
            ),
            text("Ten."),
        ],
    )
    backend.script("async again", [code("print(s * 2)"), text("Twenty.")])
    async with await AsyncInterpreter.open(
        backend, tmp_path / "data", settings=settings()
    ) as interpreter:
        result = await interpreter.run("async sum", files=[numbers])
        assert result.status == "completed" and result.answer == "Ten."
        assert result.code == [backend.scripts["async sum"][0]["code"]]
        names = [
            event.event
            async for event in interpreter.stream("async again", thread=result.thread_id)
        ]
        assert names[0] == "thread.run.created" and names[-1] == "thread.run.completed"
        messages = await interpreter.messages(result.thread_id)
        assert messages[-1].content[0].text.value == "Twenty."  # type: ignore[union-attr]
        runs = interpreter.engine.store.list_runs(result.thread_id, limit=10).data
        second = await interpreter.result(runs[0])
        assert first_logs(second).strip() == "20"
        path = await interpreter.export_notebook(result.thread_id, tmp_path / "a.ipynb")
        read_notebook(path)
    # Closed with its engine: the kernels are gone.
    assert interpreter.engine.sessions.active_threads == []


def test_result_files_include_written_files_not_linked(
    interpreter: Interpreter, backend: RecordingScripted
) -> None:
    backend.script(
        "write quietly", [code("open('/mnt/data/quiet.csv', 'w').write('q')"), text("Done.")]
    )
    result = interpreter.run("write quietly")
    assert "quiet.csv" in [f.filename for f in result.files]
    # result() of the same run, later, knows them too.
    assert "quiet.csv" in [f.filename for f in interpreter.result(result.run).files]


def test_reopening_a_data_folder_reuses_its_interpreter_assistant(
    backend: RecordingScripted, tmp_path: Path
) -> None:
    ids = []
    for instructions in ("Be brief.", "Be brief.", "Be thorough."):
        with Interpreter(
            backend, tmp_path / "data", settings=settings(), instructions=instructions
        ) as opened:
            ids.append(opened._core.assistant.id)
            count = len(opened.engine.store.list_assistants().data)
    assert ids[0] == ids[1] != ids[2]
    assert count == 2


def test_result_files_leave_out_linked_uploads(
    interpreter: Interpreter, backend: RecordingScripted, numbers: Path
) -> None:
    backend.script(
        "link input", [code("print(1)"), text("Your [input](sandbox:/mnt/data/numbers.csv).")]
    )
    result = interpreter.run("link input", files=[numbers])
    assert result.messages[0].content[-1].text.annotations  # type: ignore[union-attr]
    assert [f.filename for f in result.files] == []


def test_no_model_means_the_pulled_default_and_says_how_to_pull_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import ModelError

    monkeypatch.setenv("AIRLOCK_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(ModelError) as caught:
        Interpreter(data_dir=tmp_path / "data")
    assert str(caught.value).startswith(
        "no model was given, and model qwen2.5-coder-1.5b is not pulled"
    )
    assert "airlock models pull qwen2.5-coder-1.5b" in str(caught.value)
    with pytest.raises(ModelError, match=r"model qwen2\.5-coder-0\.5b is not pulled"):
        Interpreter("qwen2.5-coder-0.5b", tmp_path / "data")


def test_long_threads_are_listed_and_collected_whole(
    interpreter: Interpreter, backend: RecordingScripted
) -> None:
    """More than a page (100) of messages and of steps: nothing is cut."""
    from engine.schemas.ids import new_id

    backend.script("long", [code("print(1)"), text("done")])
    result = interpreter.run("long")
    store = interpreter.engine.store
    [message] = result.messages
    for n in range(110):  # as if the run had written a long series of messages and steps
        store.add_message(message.model_copy(update={"id": new_id("msg_")}))
        store.add_run_step(
            result.steps[n % len(result.steps)].model_copy(update={"id": new_id("step_")})
        )
    collected = interpreter.result(result.run)
    assert len(collected.steps) == len(result.steps) + 110
    assert len(collected.messages) == 111
    assert len(interpreter.messages(result.thread_id)) == 1 + 111  # the question, the answers
