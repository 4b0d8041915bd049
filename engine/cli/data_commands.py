"""`airlock files`, `airlock threads` and `airlock export`: what the data folder holds.

These open the store directly (no model, no kernel)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from ..core.checkpoints import delete_checkpoint
from ..core.sizes import human_size
from ..library.export import write_markdown, write_notebook
from ..schemas import File, ImageFileContent, Message, TextContent, Thread
from ..store import InvalidRequestError, NotFoundError, Store, StoreError
from .options import CliError, DataDirOption, data_dir_for, fail, load_settings, stdout
from .render import terminal_safe

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the API's shapes).")]
PAGE = 100

files_app = typer.Typer(
    name="files",
    no_args_is_help=False,
    invoke_without_command=True,
    help="The files in the data folder: uploads and what runs generated "
    "(without a subcommand: list).",
)
threads_app = typer.Typer(
    name="threads",
    no_args_is_help=False,
    invoke_without_command=True,
    help="The conversations in the data folder (without a subcommand: list).",
)


@contextlib.contextmanager
def open_store(data_dir: Path | None) -> Iterator[Store]:
    """The store, with its errors turned into one line on stderr (exit 2 for an unknown id or
    a refused request, 1 otherwise)."""
    try:
        folder = data_dir_for(data_dir, load_settings())
        with Store(folder) as store:
            yield store
    except CliError as exc:
        raise fail(str(exc), exc.code) from None
    except (NotFoundError, InvalidRequestError) as exc:
        raise fail(str(exc), 2) from None
    except (StoreError, OSError) as exc:
        raise fail(str(exc), 1) from None


def _inherited(name: str, value: Path | bool | None) -> Path | bool | None:
    """A group option given before the subcommand (`airlock files --data-dir D list`)."""
    if value:
        return value
    ctx = click.get_current_context(silent=True)
    parent = ctx.parent if ctx is not None else None
    if parent is None:
        return value
    inherited: Path | bool | None = parent.params.get(name)
    return inherited if inherited is not None else value


def _dir(value: Path | None) -> Path | None:
    found = _inherited("data_dir", value)
    return found if isinstance(found, Path) else None


def _json(value: bool) -> bool:
    return bool(_inherited("as_json", value))


def _time(stamp: int | None) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else ""


def _dump(items: list[File] | list[Thread] | list[Message] | File | Thread) -> None:
    if isinstance(items, list):
        print(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
    else:
        print(json.dumps(items.model_dump(mode="json"), indent=2))


# ---------------------------------------------------------------- files


@files_app.callback()
def files_default(
    ctx: typer.Context, data_dir: DataDirOption = None, as_json: JsonOption = False
) -> None:
    if ctx.invoked_subcommand is None:
        files_list(data_dir=data_dir, as_json=as_json)


@files_app.command("list")
def files_list(
    purpose: Annotated[
        str | None,
        typer.Option(
            help="Only these: assistants (uploads), assistants_output (generated), ...",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the files, newest first."""
    with open_store(_dir(data_dir)) as store:
        files = store.list_files(purpose=purpose).data
    if _json(as_json):
        _dump(files)
        return
    if not files:
        stdout.print("no files")
        return
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("id", "filename", "size", "purpose", "created"):
        table.add_column(column, no_wrap=column == "id")
    for f in files:
        table.add_row(
            f.id,
            Text(terminal_safe(f.filename, one_line=True)),
            human_size(f.bytes),
            f.purpose,
            _time(f.created_at),
        )
    stdout.print(table)


@files_app.command("show")
def files_show(
    file_id: Annotated[str, typer.Argument(help="The file's id (file-...).")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one file's details."""
    with open_store(_dir(data_dir)) as store:
        file = store.get_file(file_id)
    if _json(as_json):
        _dump(file)
        return
    for key, value in (
        ("id", file.id),
        ("filename", file.filename),
        ("size", f"{human_size(file.bytes)} ({file.bytes} bytes)"),
        ("purpose", file.purpose),
        ("created", _time(file.created_at)),
    ):
        stdout.print(
            Text(terminal_safe(f"{key:9} {value}", one_line=True)), highlight=False, soft_wrap=True
        )


@files_app.command("download")
def files_download(
    file_id: Annotated[str, typer.Argument(help="The file's id (file-...).")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write it: a path, or a folder to keep its name "
            "(default: its name, in the current folder).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Copy a file's content out of the data folder."""
    with open_store(_dir(data_dir)) as store:
        file = store.get_file(file_id)
        target = out if out is not None else Path(Path(file.filename).name or file.id)
        if target.is_dir():
            target = target / (Path(file.filename).name or file.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        with store.open_file_content(file_id) as source, target.open("wb") as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
    wrote = terminal_safe(f"wrote {target} ({human_size(file.bytes)})", one_line=True)
    stdout.print(Text(wrote), highlight=False, soft_wrap=True)


@files_app.command("delete")
def files_delete(
    file_id: Annotated[str, typer.Argument(help="The file's id (file-...).")],
    data_dir: DataDirOption = None,
) -> None:
    """Delete a file (its content too)."""
    with open_store(_dir(data_dir)) as store:
        store.delete_file(file_id)
    stdout.print(Text(f"deleted {file_id}"), highlight=False)


# ---------------------------------------------------------------- threads


@threads_app.callback()
def threads_default(
    ctx: typer.Context, data_dir: DataDirOption = None, as_json: JsonOption = False
) -> None:
    if ctx.invoked_subcommand is None:
        threads_list(data_dir=data_dir, as_json=as_json)


@threads_app.command("list")
def threads_list(
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the threads, newest first, with their first question."""
    if not 1 <= limit <= PAGE:
        raise fail(f"--limit must be between 1 and {PAGE}")
    with open_store(_dir(data_dir)) as store:
        threads = store.list_threads(limit=limit).data
        first = {}
        for thread in threads:
            page = store.list_messages(thread.id, order="asc", limit=1).data
            first[thread.id] = page[0].text if page else ""
    if _json(as_json):
        _dump(threads)
        return
    if not threads:
        stdout.print("no threads")
        return
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("id", "created", "first message"):
        table.add_column(column, no_wrap=column != "first message")
    for thread in threads:
        line = first[thread.id].splitlines()[0] if first[thread.id] else ""
        table.add_row(thread.id, _time(thread.created_at), line[:80])
    stdout.print(table)


@threads_app.command("show")
def threads_show(
    thread_id: Annotated[str, typer.Argument(help="The thread's id (thread_...).")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a thread's messages, oldest first."""
    with open_store(_dir(data_dir)) as store:
        store.get_thread(thread_id)
        messages = store.all_messages(thread_id)
    if _json(as_json):
        _dump(messages)
        return
    stdout.print(Text(f"{thread_id}: {len(messages)} message(s)", style="bold"))
    for message in messages:
        who = "you" if message.role == "user" else "assistant"
        stdout.print(Text(f"\n{who} ({_time(message.created_at)}):", style="bold cyan"))
        for block in message.content:
            if isinstance(block, TextContent):
                value = terminal_safe(block.text.value)
                stdout.print(
                    Markdown(value, hyperlinks=False)
                    if message.role == "assistant"
                    else Text(value),
                    highlight=False,
                )
            elif isinstance(block, ImageFileContent):
                stdout.print(Text(f"[image {block.image_file.file_id}]", style="cyan"))
        for attachment in message.attachments or []:
            stdout.print(Text(f"[attached {attachment.file_id}]", style="dim"))


@threads_app.command("delete")
def threads_delete(
    thread_id: Annotated[str, typer.Argument(help="The thread's id.")],
    data_dir: DataDirOption = None,
) -> None:
    """Delete a thread with its messages, runs and checkpoint (the files stay: 'airlock
    files')."""
    with open_store(_dir(data_dir)) as store:
        store.delete_thread(thread_id)
        delete_checkpoint(store.data_dir, thread_id)
    stdout.print(Text(f"deleted {thread_id}"), highlight=False)


# ---------------------------------------------------------------- export


def export(
    thread_id: Annotated[
        str, typer.Argument(help="The thread's id (thread_...).", show_default=False)
    ],
    ipynb: Annotated[
        Path | None,
        typer.Option(
            "--ipynb",
            help="Write a Jupyter notebook that re-runs its code, with its outputs.",
            show_default=False,
        ),
    ] = None,
    md: Annotated[
        Path | None,
        typer.Option(
            "--md",
            help="Write a Markdown report (its images in PATH_files/ beside it).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export a thread as a notebook and/or a Markdown report."""
    if ipynb is None and md is None:
        raise fail("give --ipynb PATH and/or --md PATH")
    with open_store(_dir(data_dir)) as store:
        store.get_thread(thread_id)
        written = []
        if ipynb is not None:
            written.append(write_notebook(store, thread_id, ipynb))
        if md is not None:
            written.append(write_markdown(store, thread_id, md))
    for path in written:
        stdout.print(Text(f"wrote {path}"), highlight=False, soft_wrap=True)
