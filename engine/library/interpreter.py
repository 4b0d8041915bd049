"""The library API: Code Interpreter in a few lines, for programs that embed Airlock.

    with Interpreter("model.gguf", data_dir="airlock-data") as interpreter:
        result = interpreter.run("Plot the second column", files=["data.csv"])
        print(result.answer)
        interpreter.save_files(result, "out/")

With no model (`Interpreter()`) it runs the default catalogue model once pulled (`airlock models
pull`); a catalogue name (`Interpreter("qwen2.5-coder-0.5b")`) runs that model's pulled file.

`AsyncInterpreter` is the core (every method a coroutine, `stream()` an async iterator of the
events the REST stream sends); `Interpreter` is its synchronous facade on a background loop.
Each `run()` starts a new thread unless `thread=` names one; `conversation()` gives a handle for
multi-turn work on one thread (one kernel, variables kept between turns).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from models import ModelBackend, ModelError, ModelsConfig, default_spec, resolve_spec

from ..core import Engine, EngineSettings, RunHandle
from ..core.events import RunEvent
from ..core.filenames import save_path
from ..schemas import (
    Assistant,
    AssistantCreate,
    CodeInterpreterTool,
    File,
    Message,
    MessageCreate,
    Run,
    RunCreate,
    RunStep,
    Thread,
    ThreadCreate,
)
from .notebook import write_notebook

T = TypeVar("T")
FileArg = str | os.PathLike[str]


@dataclass
class RunResult:
    """A finished run with everything it produced."""

    run: Run
    #: In the order they happened.
    steps: list[RunStep]
    #: The assistant's messages of this run, oldest first.
    messages: list[Message]
    #: Files the code generated (images shown, files written), as stored.
    files: list[File]

    @property
    def thread_id(self) -> str:
        return self.run.thread_id

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def answer(self) -> str:
        """The text of the run's last message ("" when it ended without one)."""
        for message in reversed(self.messages):
            text = message.text
            if text:
                return text
        return ""

    @property
    def code(self) -> list[str]:
        """The code of every cell the run executed."""
        return [
            call.code_interpreter.input
            for step in self.steps
            if step.step_details.type == "tool_calls"
            for call in step.step_details.tool_calls
            if call.type == "code_interpreter"
        ]


class AsyncInterpreter:
    def __init__(self, engine: Engine, assistant: Assistant, *, owns_engine: bool) -> None:
        self.engine = engine
        self.assistant = assistant
        self._owns_engine = owns_engine

    @classmethod
    async def open(
        cls,
        model: str | ModelBackend | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        instructions: str | None = None,
        settings: EngineSettings | None = None,
        models_config: ModelsConfig | None = None,
    ) -> AsyncInterpreter:
        """`model`: a spec, a catalogue name, a name in `models_config` or a loaded backend;
        None: the default catalogue model (ModelError saying how to pull it when absent)."""
        engine = await Engine.open(
            resolve_model_arg(model, models_config),
            data_dir,
            settings=settings,
            models_config=models_config,
        )
        return await cls.over(engine, instructions=instructions, owns_engine=True)

    @classmethod
    async def over(
        cls, engine: Engine, *, instructions: str | None = None, owns_engine: bool = False
    ) -> AsyncInterpreter:
        """An interpreter on an engine that is already open (shared with a server, say)."""
        assistant = await asyncio.to_thread(_interpreter_assistant, engine, instructions)
        return cls(engine, assistant, owns_engine=owns_engine)

    async def aclose(self) -> None:
        if self._owns_engine:
            await self.engine.aclose()

    async def __aenter__(self) -> AsyncInterpreter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ runs

    async def run(
        self, prompt: str, *, files: Sequence[FileArg] = (), thread: str | None = None
    ) -> RunResult:
        handle = await self.start(prompt, files=files, thread=thread)
        await handle.wait()
        return await asyncio.to_thread(self._collect, handle.run, handle.generated_file_ids)

    async def stream(
        self, prompt: str, *, files: Sequence[FileArg] = (), thread: str | None = None
    ) -> AsyncIterator[RunEvent]:
        """The run's events as they happen (`thread.run.created` ... its terminal event)."""
        handle = await self.start(prompt, files=files, thread=thread)
        async for event in handle.events():
            yield event

    async def start(
        self, prompt: str, *, files: Sequence[FileArg] = (), thread: str | None = None
    ) -> RunHandle:
        """Upload the files, add the prompt to the thread (a new one by default), start."""
        uploaded = [await self.upload(path) for path in files]
        message = MessageCreate.model_validate(
            {
                "role": "user",
                "content": prompt,
                "attachments": [
                    {"file_id": f.id, "tools": [{"type": "code_interpreter"}]} for f in uploaded
                ],
            }
        )
        body = RunCreate(assistant_id=self.assistant.id, additional_messages=[message])
        thread_id = thread or (await self.new_thread()).id
        return await self.engine.create_run(thread_id, body)

    async def cancel(self, run: Run) -> Run:
        return await self.engine.cancel_run(run.thread_id, run.id)

    async def result(self, run: Run) -> RunResult:
        """The result of any finished run. Its `files` are all the run produced when it ran in
        this engine; for older runs, those its steps and messages name."""
        return await asyncio.to_thread(self._collect, run, self.engine.produced_files(run.id))

    def _collect(self, run: Run, file_ids: list[str] | None) -> RunResult:
        store = self.engine.store
        run = store.get_run(run.thread_id, run.id)
        steps = store.all_run_steps(run.thread_id, run.id)
        messages = store.all_messages(run.thread_id, run_id=run.id)
        if file_ids is None:
            file_ids = _generated_file_ids(steps, messages)
        files = []
        for file_id in file_ids:
            try:
                file = store.get_file(file_id)
            except LookupError:
                continue  # deleted since
            if file.purpose == "assistants_output":  # not an upload the answer linked
                files.append(file)
        return RunResult(run, steps, [m for m in messages if m.role == "assistant"], files)

    # ------------------------------------------------------------ threads and files

    async def new_thread(self) -> Thread:
        return await asyncio.to_thread(self.engine.store.create_thread, ThreadCreate())

    async def upload(self, path: FileArg, *, purpose: str = "assistants") -> File:
        return await asyncio.to_thread(self._upload, Path(path), purpose)

    def _upload(self, source: Path, purpose: str) -> File:
        with source.open("rb") as content:
            return self.engine.store.create_file(
                content, source.name, purpose, size=source.stat().st_size
            )

    async def download(self, file: File | str, target: FileArg) -> Path:
        """Copy a stored file's content to `target` (a folder keeps the file's name)."""
        file_id = file if isinstance(file, str) else file.id
        return await asyncio.to_thread(self._download, file_id, Path(target))

    def _download(self, file_id: str, target: Path) -> Path:
        store = self.engine.store
        if target.is_dir():
            target = target / Path(store.get_file(file_id).filename).name
        with store.open_file_content(file_id) as source, target.open("wb") as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
        return target

    async def save_files(self, result: RunResult, folder: FileArg) -> list[Path]:
        """Every file the run generated, into `folder` under its own name, numbered when two
        share one or the name is taken there (`core.filenames.save_path`: nothing is
        overwritten); returns the paths written."""
        return await asyncio.to_thread(self._save_files, result, Path(folder))

    def _save_files(self, result: RunResult, target: Path) -> list[Path]:
        target.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for file in result.files:
            path = save_path(target, file.filename, default=file.id, used=written)
            written.append(self._download(file.id, path))
        return written

    async def export_notebook(self, thread_id: str, path: FileArg) -> Path:
        return await asyncio.to_thread(write_notebook, self.engine.store, thread_id, Path(path))

    async def messages(self, thread_id: str) -> list[Message]:
        """Every message of the thread, oldest first."""
        return await asyncio.to_thread(self.engine.store.all_messages, thread_id)


_ASSISTANT_NAME = "Airlock interpreter"


def _interpreter_assistant(engine: Engine, instructions: str | None) -> Assistant:
    """The data folder's interpreter assistant for this model and instructions, made once (not
    one more row each time a script or command opens the folder)."""
    model = engine.models.default_name
    after: str | None = None
    while True:
        page = engine.store.list_assistants(order="asc", limit=100, after=after)
        for assistant in page.data:
            if (assistant.name, assistant.model, assistant.instructions) == (
                _ASSISTANT_NAME,
                model,
                instructions,
            ) and assistant.has_code_interpreter:
                return assistant
        if not page.has_more:
            break
        after = page.last_id
    return engine.store.create_assistant(
        AssistantCreate(
            model=model,
            name=_ASSISTANT_NAME,
            instructions=instructions,
            tools=[CodeInterpreterTool()],
        )
    )


def _generated_file_ids(steps: list[RunStep], messages: list[Message]) -> list[str]:
    ids: list[str] = []
    for step in steps:
        if step.step_details.type == "tool_calls":
            for call in step.step_details.tool_calls:
                if call.type == "code_interpreter":
                    ids += [
                        o.image.file_id for o in call.code_interpreter.outputs if o.type == "image"
                    ]
    for message in messages:
        for block in message.content:
            if block.type == "image_file":
                ids.append(block.image_file.file_id)
            elif block.type == "text":
                ids += [
                    a.file_path.file_id for a in block.text.annotations if a.type == "file_path"
                ]
    return list(dict.fromkeys(ids))


def resolve_model_arg(
    model: str | ModelBackend | None, models_config: ModelsConfig | None = None
) -> str | ModelBackend:
    """A name as `models.resolve` reads it (a catalogue name as its pulled, verified file); None
    as the default model once pulled."""
    if isinstance(model, str):
        return resolve_spec(model, models_config)
    if model is not None:
        return model
    try:
        return default_spec(any_gguf=False)[0]
    except ModelError as error:
        raise ModelError(
            f"no model was given, and {error}; or pass a model, e.g. Interpreter('PATH.gguf')"
        ) from None
