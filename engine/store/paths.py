"""Where the data folder is: argument, then $AIRLOCK_DATA_DIR, then the user's data directory."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "AIRLOCK_DATA_DIR"
APP_NAME = "airlock"


def user_data_dir() -> Path:
    """platformdirs' answer when it is installed, else the XDG default it would give on Linux."""
    try:
        import platformdirs
    except ImportError:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
        return base / APP_NAME
    return Path(platformdirs.user_data_path(APP_NAME))


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return user_data_dir()
