"""The File object and its purposes."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from ..ids import new_id
from .base import Model, now

UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
FilePurpose = Literal[
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
    # Only the service sets these; Code Interpreter's generated files are `assistants_output`.
    "assistants_output",
    "batch_output",
    "fine-tune-results",
]
UPLOAD_PURPOSES: frozenset[str] = frozenset(get_args(UploadPurpose))
FILE_PURPOSES: frozenset[str] = frozenset(get_args(FilePurpose))


class File(Model):
    id: str = Field(default_factory=lambda: new_id("file-"))
    object: Literal["file"] = "file"
    bytes: int
    created_at: int = Field(default_factory=now)
    filename: str
    purpose: FilePurpose
    # Deprecated but still required. Content is on disk before the row exists: always processed.
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None
    expires_at: int | None = None
