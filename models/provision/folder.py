"""Where pulled models live: ``$AIRLOCK_MODELS_DIR``, else ``models`` in the user's data
folder (platformdirs: ~/.local/share/airlock/models on Linux), never the source tree."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

MODELS_DIR_ENV = "AIRLOCK_MODELS_DIR"
APP_NAME = "airlock"


def models_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`explicit` (a --models-dir flag), else $AIRLOCK_MODELS_DIR, else the user's folder."""
    if explicit is not None:
        return Path(explicit).expanduser().absolute()
    from_env = os.environ.get(MODELS_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser().absolute()
    return Path(platformdirs.user_data_path(APP_NAME)) / "models"
