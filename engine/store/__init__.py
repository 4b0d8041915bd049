"""The engine's store: Assistants-shaped objects in SQLite (WAL), file contents on disk."""

from __future__ import annotations

from .base import DEFAULT_LIMIT
from .contents import Readable, Source
from .errors import FileTooLargeError, InvalidRequestError, NotFoundError, StoreError
from .files import MAX_FILE_BYTES
from .paths import ENV_VAR, resolve_data_dir, user_data_dir
from .store import Store

__all__ = [
    "DEFAULT_LIMIT",
    "ENV_VAR",
    "MAX_FILE_BYTES",
    "FileTooLargeError",
    "InvalidRequestError",
    "NotFoundError",
    "Readable",
    "Source",
    "Store",
    "StoreError",
    "resolve_data_dir",
    "user_data_dir",
]
