"""MIME types of the files Code Interpreter accepts: both seeds' supported-files tables, merged.

OpenAI's guide and Azure's how-to disagree on a few entries (`.csv` is `text/csv` in one and
`application/csv` in the other; `.py` and `.xml` have two each), so every extension maps to all
the types the tables give it, the first being the one we send.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

SUPPORTED_MIME_TYPES: dict[str, tuple[str, ...]] = {
    ".c": ("text/x-c",),
    ".cpp": ("text/x-c++",),
    ".cs": ("text/x-csharp",),
    ".css": ("text/css",),
    ".csv": ("text/csv", "application/csv"),
    ".doc": ("application/msword",),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    ".gif": ("image/gif",),
    ".html": ("text/html",),
    ".java": ("text/x-java",),
    ".jpeg": ("image/jpeg",),
    ".jpg": ("image/jpeg",),
    ".js": ("text/javascript",),
    ".json": ("application/json",),
    ".md": ("text/markdown",),
    ".pdf": ("application/pdf",),
    ".php": ("text/x-php",),
    ".pkl": ("application/octet-stream",),
    ".png": ("image/png",),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
    ".py": ("text/x-python", "text/x-script.python"),
    ".rb": ("text/x-ruby",),
    ".sh": ("application/x-sh",),
    ".tar": ("application/x-tar",),
    ".tex": ("text/x-tex",),
    ".ts": ("application/typescript",),
    ".txt": ("text/plain",),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
    ".xml": ("application/xml", "text/xml"),
    ".zip": ("application/zip",),
}

DEFAULT_MIME_TYPE = "application/octet-stream"


def extension(filename: str) -> str:
    """The lower-cased extension with its dot (`"Data.CSV"` -> `".csv"`), `""` if there is none."""
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def is_supported(filename: str) -> bool:
    return extension(filename) in SUPPORTED_MIME_TYPES


def mime_type(filename: str) -> str:
    """The table's type for a supported extension, else the platform's guess, else octet-stream."""
    known = SUPPORTED_MIME_TYPES.get(extension(filename))
    if known:
        return known[0]
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or DEFAULT_MIME_TYPE
