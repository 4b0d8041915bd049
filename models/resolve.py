"""What a user names, as the spec to load: the one set of rules for the CLI, the library API
and the server's model names.

A name is, in this order: a model declared in the models config (kept as the name), a catalogue
model (its pulled, verified file), a spec (``PATH.gguf``, ``llama:PATH``, ``scripted:PATH``,
checked to exist; an endpoint URL as is) or the name of a GGUF in a models folder. With no name,
the default catalogue model once pulled, else (where asked) the first GGUF in a models folder.
"""

from __future__ import annotations

from pathlib import Path

from .base import ModelError
from .catalogue import CATALOGUE, DEFAULT_MODEL
from .config import ModelsConfig
from .provision import ModelStore, models_dir
from .spec import parse_spec


def model_folders() -> list[Path]:
    """Where GGUF files are found by name: the project's `models/` folder (the one holding this
    package), then the models folder ($AIRLOCK_MODELS_DIR, else the user's data folder /
    models), where `airlock models pull` puts them."""
    folders = [Path(__file__).resolve().parent, models_dir()]
    return list(dict.fromkeys(folders))


def gguf_files() -> list[Path]:
    found: list[Path] = []
    for folder in model_folders():
        if folder.is_dir():
            found += sorted(p for p in folder.glob("*.gguf") if p.is_file())
    return found


def find_gguf(name: str) -> Path | None:
    """The GGUF in a models folder called `name` or `name.gguf`."""
    wanted = {name, f"{name}.gguf"}
    for path in gguf_files():
        if path.name in wanted:
            return path
    return None


def resolve_spec(name: str, config: ModelsConfig | None = None) -> str:
    """`name` as a spec `load_model(spec, config=config)` takes; ModelError saying why not."""
    name = name.strip()
    if config is not None and name in config.models:
        return name
    if name in CATALOGUE:
        return str(ModelStore().path(name))
    try:
        parsed = parse_spec(name)
    except ModelError:
        parsed = None
    if parsed is not None and parsed.kind == "http":
        return name
    if parsed is not None:
        path = Path(parsed.target).expanduser()
        if path.is_file():
            keeps_prefix = parsed.kind != "llama" or name.startswith("llama:")
            return f"{parsed.kind}:{path}" if keeps_prefix else str(path)
        if parsed.kind == "scripted":
            raise ModelError(f"no such script file: {parsed.target}")
        by_name = find_gguf(parsed.target)
        if by_name is not None and "/" not in parsed.target:
            return str(by_name)
        raise ModelError(f"no such model file: {parsed.target}")
    by_name = find_gguf(name)
    if by_name is not None:
        return str(by_name)
    known = list(
        dict.fromkeys(
            [p.stem for p in gguf_files()]
            + (sorted(config.models) if config else [])
            + list(CATALOGUE)
        )
    )
    raise ModelError(
        f"unknown model {name!r}: not a GGUF path, llama:PATH, "
        "http(s)://HOST:PORT/v1#MODEL or scripted:PATH, and no model of that name"
        + f" (known: {', '.join(known)})"
    )


def default_spec(*, any_gguf: bool = True) -> tuple[str, str]:
    """The model to run when none is named, and how it was found: the default catalogue model
    once pulled, else (with `any_gguf`) the first GGUF in a models folder. ModelError (the
    store's, saying how to pull the default) when there is none."""
    store = ModelStore()
    try:
        return str(store.path(DEFAULT_MODEL)), f"the default model, {DEFAULT_MODEL}"
    except ModelError:
        found = _first_usable_gguf(store) if any_gguf else None
        if found is None:
            raise
        return str(found), f"found in {found.parent}"


def _first_usable_gguf(store: ModelStore) -> Path | None:
    """The first GGUF in a models folder, leaving out catalogue files not (or no longer)
    verified: a partial or changed pull is no model."""
    ours = {entry.file_name: name for name, entry in store.catalogue.items()}
    for path in gguf_files():
        name = ours.get(path.name) if path.parent == store.folder else None
        if name is None or store.info(name).state == "verified":
            return path
    return None
