"""What `run`, `chat` and `demo` share: opening an Interpreter from the command line's options,
streaming one run into a `RunView` with Ctrl-C cancelling it, and saving what a run generated.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rich.console import Console

from models import ModelError

from ..core import EngineSettings
from ..core.filenames import save_path
from ..library.interpreter import RunResult
from ..library.sync_interpreter import Interpreter
from ..schemas import File, Run, TextContent
from ..store import StoreError
from .options import CliError, ModelChoice, fail, warn
from .render import RunView


def open_interpreter(
    choice: ModelChoice, data_dir: Path, console: Console, settings: EngineSettings | None = None
) -> Interpreter:
    """The interpreter (loading the model: a spinner while a GGUF is read); CliError when the
    model cannot be loaded."""
    status = (
        console.status(f"loading model {choice.spec}…", spinner="dots")
        if console.is_terminal and not console.is_dumb_terminal
        else contextlib.nullcontext()
    )
    try:
        with status:
            interpreter = Interpreter(
                choice.spec, data_dir, settings=settings, models_config=choice.config
            )
    except (ModelError, ImportError) as exc:
        raise CliError(f"cannot load model {choice.spec!r} ({choice.origin}): {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot open the data folder {data_dir}: {exc}") from None
    check_isolation(interpreter)
    return interpreter


def check_isolation(interpreter: Interpreter) -> None:
    """Probe the isolation levels now (cached for the process), not during the first run: a
    Ctrl-C meant to cancel that run would also reach the probe's processes, which share our
    process group. Warns when kernels would run without isolation."""
    from sandbox import IsolationLevel, probe

    # The same arguments as the sessions' own call, so that theirs finds this one cached.
    report = probe(interpreter.engine.settings.sandbox.python)
    available = [c.level for c in report.checks if c.available]
    if available and available[0] is IsolationLevel.NONE:
        warn("kernels run NOT ISOLATED (level 'none'); see 'airlock doctor'")


@dataclass
class Cancel:
    """Ctrl-C during a run: the first asks the engine to cancel it; with `hard`, a second one
    raises KeyboardInterrupt (the program ends), else it asks again."""

    interpreter: Interpreter
    view: RunView
    hard: bool = False
    run: Run | None = None
    presses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.hard and self.presses > 1:
            raise KeyboardInterrupt
        self.view.mark_cancelling()
        self._send()

    def started(self, run: Run) -> None:
        self.run = run
        if self.presses:
            self._send()

    def _send(self) -> None:
        run = self.run
        if run is None:
            return  # sent once the run exists
        # Not from the signal handler itself: it interrupts the main thread, which may hold
        # the interpreter's result wait; a helper thread asks the engine and returns.
        threading.Thread(
            target=self._cancel, args=(run,), name="airlock-cancel", daemon=True
        ).start()

    def _cancel(self, run: Run) -> None:
        with self._lock, contextlib.suppress(StoreError, RuntimeError):
            self.interpreter.cancel(run)  # refused once the run has ended: nothing to do


@contextlib.contextmanager
def sigint_cancels(cancel: Cancel) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, cancel.on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stream_run(
    interpreter: Interpreter,
    view: RunView,
    prompt: str,
    *,
    files: Sequence[Path] = (),
    thread: str | None = None,
    hard_interrupt: bool = False,
) -> RunResult:
    """Run `prompt`, drawing its events; Ctrl-C cancels it. Returns the finished run."""
    cancel = Cancel(interpreter, view, hard=hard_interrupt)
    run: Run | None = None
    try:
        with sigint_cancels(cancel):
            for event in interpreter.stream(prompt, files=list(files), thread=thread):
                if event.event == "thread.run.created":
                    run = Run.model_validate(event.data)
                    cancel.started(run)
                view.handle(event)
    finally:
        view.close()
    if run is None:
        raise CliError("the run did not start", 1)
    # The engine remembers what the run produced, unlinked written files included.
    return interpreter.result(run)


def stream_or_exit(
    interpreter: Interpreter,
    view: RunView,
    prompt: str,
    *,
    files: Sequence[Path] = (),
    thread: str | None = None,
) -> RunResult:
    """`stream_run` for a one-shot command: errors and a second Ctrl-C end the command."""
    try:
        return stream_run(
            interpreter, view, prompt, files=files, thread=thread, hard_interrupt=True
        )
    except CliError as exc:
        raise fail(str(exc), exc.code) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


class FileSaver:
    """Saves generated files under one folder: each file once, under its own name, numbered
    (`chart_2.png`) when another file of this session or one already in the folder has it: the
    library's rule (`core.filenames.save_path`), nothing is overwritten."""

    def __init__(self, interpreter: Interpreter, folder: Path) -> None:
        self.interpreter = interpreter
        self.folder = folder
        self.saved: dict[str, Path] = {}

    def save(self, file: File | str) -> Path:
        file_id = file if isinstance(file, str) else file.id
        if file_id in self.saved:
            return self.saved[file_id]
        if isinstance(file, str):
            file = self.interpreter.engine.store.get_file(file_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = save_path(self.folder, file.filename, default=file.id, used=set(self.saved.values()))
        self.saved[file_id] = self.interpreter.download(file_id, path)
        return path

    def save_image(self, file_id: str) -> Path | None:
        try:
            return self.save(file_id)
        except (StoreError, OSError):
            return None

    def save_all(self, result: RunResult) -> list[tuple[File, Path]]:
        return [(file, self.save(file)) for file in result.files]


def answer_links(result: RunResult) -> dict[str, str]:
    """file id -> the `sandbox:/mnt/data/...` link the answer gave it."""
    links: dict[str, str] = {}
    for message in result.messages:
        for block in message.content:
            if isinstance(block, TextContent):
                for annotation in block.text.annotations:
                    if annotation.type == "file_path":
                        links.setdefault(annotation.file_path.file_id, annotation.text)
    return links


def exit_code(result: RunResult) -> int:
    return 0 if result.status == "completed" else 1
