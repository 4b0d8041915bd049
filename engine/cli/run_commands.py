"""`airlock run` (one question, shown live) and `airlock chat` (a conversation on one thread)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from ..core import EngineSettings
from ..core.sizes import human_size
from ..schemas import File
from ..store import NotFoundError, Store, StoreError
from .options import (
    CellTimeoutOption,
    CliError,
    DataDirOption,
    ModelChoice,
    ModelOption,
    ModelsConfigOption,
    data_dir_for,
    engine_settings_for,
    fail,
    load_settings,
    note,
    out_dir_for,
    resolve_model,
    stdout,
)
from .render import RunView, safe_text
from .session import (
    FileSaver,
    answer_links,
    exit_code,
    open_interpreter,
    stream_or_exit,
)

FileOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--file",
        "-f",
        help="A file for the code to read in /mnt/data (repeatable).",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Setup:
    """What `run` and `chat` resolve alike."""

    files: list[Path]
    choice: ModelChoice
    data_dir: Path
    out_dir: Path
    engine: EngineSettings


def _setup(
    file: list[Path] | None,
    model: str | None,
    models_config: Path | None,
    data_dir: Path | None,
    out: Path | None,
    cell_timeout: float | None,
) -> Setup:
    settings = load_settings()
    files = check_files(file)
    choice = resolve_model(model, models_config, settings)
    assert choice is not None
    return Setup(
        files,
        choice,
        data_dir_for(data_dir, settings),
        out_dir_for(out, settings, "airlock-out"),
        engine_settings_for(cell_timeout, settings),
    )


def check_files(paths: list[Path] | None) -> list[Path]:
    for path in paths or []:
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    return list(paths or [])


def check_thread(data_dir: Path, thread_id: str) -> None:
    try:
        with Store(data_dir) as store:
            store.get_thread(thread_id)
    except NotFoundError:
        raise CliError(
            f"no thread {thread_id!r} in {data_dir} ('airlock threads list' shows them)"
        ) from None
    except (OSError, StoreError) as exc:
        raise CliError(f"cannot open the data folder {data_dir}: {exc}") from None


def run(
    question: Annotated[
        str,
        typer.Argument(
            help="What to ask; the model answers by writing and running Python.", show_default=False
        ),
    ],
    file: FileOption = None,
    model: ModelOption = None,
    models_config: ModelsConfigOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where the images and files the code makes are saved "
            "(default: the settings file's 'out', else ./airlock-out).",
            show_default=False,
        ),
    ] = None,
    thread: Annotated[
        str | None,
        typer.Option(
            help="Continue this thread (an earlier run's thread id): its variables and "
            "files come back from the checkpoint saved when its last session ended.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print {run, steps, messages, files} in the Assistants API's shapes "
            "instead of drawing the run.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
    cell_timeout: CellTimeoutOption = None,
) -> None:
    """Ask one question: watch the model write code, the sandbox run it, and the answer.

    Exit status: 0 when the run completed, 1 when it failed, was cancelled (Ctrl-C), expired
    or stopped incomplete, 2 for a usage error.

    Flags win over $AIRLOCK_MODEL and $AIRLOCK_DATA_DIR, which win over the settings file
    ($AIRLOCK_CONFIG, else config.toml in the user's config folder; keys: model, data_dir, out,
    models_config, cell_timeout).
    """
    try:
        setup = _setup(file, model, models_config, data_dir, out, cell_timeout)
        files, out_dir = setup.files, setup.out_dir
        if thread is not None:
            check_thread(setup.data_dir, thread)
        console = Console(file=io.StringIO()) if as_json else stdout
        interpreter = open_interpreter(setup.choice, setup.data_dir, console, setup.engine)
    except CliError as exc:
        raise fail(str(exc), exc.code) from None
    with interpreter:
        if thread is not None and not as_json:
            note(
                f"continuing {thread} in a new process: its variables and files come back "
                "from its checkpoint (the first cell's logs say what did not)"
            )
        saver = FileSaver(interpreter, out_dir)
        view = RunView(console, save_image=saver.save_image)
        result = stream_or_exit(interpreter, view, question, files=files, thread=thread)
        saved = saver.save_all(result)
        if as_json:
            print(
                json.dumps(
                    {
                        "run": result.run.model_dump(mode="json"),
                        "steps": [s.model_dump(mode="json") for s in result.steps],
                        "messages": [m.model_dump(mode="json") for m in result.messages],
                        "files": [f.model_dump(mode="json") for f in result.files],
                        "saved": {f.id: str(p) for f, p in saved},
                    },
                    indent=2,
                )
            )
        else:
            show_saved(console, saved, out_dir, answer_links(result))
            console.print(
                Text(f"thread: {result.thread_id} (continue it with --thread)", style="dim"),
                highlight=False,
                soft_wrap=True,
            )
    raise typer.Exit(exit_code(result))


def show_saved(
    console: Console,
    saved: Sequence[tuple[File, Path]],
    out_dir: Path,
    links: dict[str, str] | None = None,
) -> None:
    """The files saved, each with the link the answer gave it."""
    if not saved:
        return
    console.print(Text(f"Saved under {out_dir}:", style="bold"))
    for file, path in saved:
        size = path.stat().st_size if path.exists() else 0
        link = (links or {}).get(file.id)
        console.print(
            safe_text(
                f"  {path} ({human_size(size)})" + (f"  <- {link}" if link else ""),
                one_line=True,
            ),
            highlight=False,
            soft_wrap=True,
        )


def chat(
    file: FileOption = None,
    model: ModelOption = None,
    models_config: ModelsConfigOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where /save puts generated files by default "
            "(default: the settings file's 'out', else ./airlock-out).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    cell_timeout: CellTimeoutOption = None,
) -> None:
    """Talk to the interpreter on one thread: the kernel keeps its variables between questions.

    Commands: /upload PATH, /files, /save [DIR], /export PATH.ipynb|PATH.md, /help, /quit.
    Ctrl-C during a run cancels the run; at the prompt it clears the line; Ctrl-D quits.
    Settings as for 'airlock run'.
    """
    from .chat_session import ChatSession

    try:
        setup = _setup(file, model, models_config, data_dir, out, cell_timeout)
        interpreter = open_interpreter(setup.choice, setup.data_dir, stdout, setup.engine)
    except CliError as exc:
        raise fail(str(exc), exc.code) from None
    with interpreter:
        ChatSession(
            interpreter,
            stdout,
            model=setup.choice.spec,
            pending=setup.files,
            out=setup.out_dir,
            history=setup.data_dir / "chat_history",
        ).loop()
