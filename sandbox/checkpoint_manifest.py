"""What a checkpoint holds (`SavedCheckpoint`, its manifest) and what a restore brought back
(`RestoredCheckpoint`); see `sandbox.checkpoint`.

The manifest is written by the host from the kernel's report, so it is checked on the way back
in: a manifest that does not have the shape the restore relies on is refused whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import MiB

MANIFEST = "manifest.json"
#: The largest manifest read back (the kernel writes its index: names and offsets).
_MAX_MANIFEST_BYTES = 16 * MiB


class CheckpointError(RuntimeError):
    """A checkpoint could not be saved or read back (the reason is the message)."""


@dataclass
class SavedCheckpoint:
    """What a checkpoint holds, as its manifest records it."""

    #: name -> {"type", "start", "end"}: where each variable's record is in the chunks
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: name -> module name, imported again on restore
    modules: dict[str, str] = field(default_factory=dict)
    #: name -> why it was not saved
    skipped: dict[str, str] = field(default_factory=dict)
    #: the chunk files: {"name", "bytes", "sha256"}
    chunks: list[dict[str, Any]] = field(default_factory=list)
    chunk_bytes: int = 0
    namespace_bytes: int = 0
    #: workspace files saved, as /mnt/data-relative paths
    files: list[str] = field(default_factory=list)
    files_bytes: int = 0
    #: seconds spent pickling in the kernel, and in all (copies and digests included)
    pickle_seconds: float = 0.0
    seconds: float = 0.0
    #: whatever the caller keeps with it (the engine: which uploads are where)
    extra: dict[str, Any] = field(default_factory=dict)
    #: why the namespace could not be saved (the files were): None when it was
    namespace_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Any) -> SavedCheckpoint:
        if not isinstance(data, dict):
            raise CheckpointError("the manifest is not a JSON object")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            saved = cls(**known)
        except TypeError as exc:
            raise CheckpointError(f"the manifest is malformed: {exc}") from None
        saved._check()
        return saved

    def _check(self) -> None:
        """Types the restore relies on (the manifest came from a kernel, then from disk)."""
        ok = (
            isinstance(self.variables, dict)
            and all(
                isinstance(r, dict)
                and isinstance(r.get("start"), int)
                and isinstance(r.get("end"), int)
                and 0 <= r["start"] <= r["end"] <= self.namespace_bytes
                for r in self.variables.values()
            )
            and isinstance(self.modules, dict)
            and all(isinstance(v, str) for v in self.modules.values())
            and isinstance(self.skipped, dict)
            and isinstance(self.chunks, list)
            and all(
                isinstance(c, dict)
                and isinstance(c.get("name"), str)
                and isinstance(c.get("bytes"), int)
                and isinstance(c.get("sha256"), str)
                for c in self.chunks
            )
            and isinstance(self.files, list)
            and all(isinstance(f, str) for f in self.files)
            and isinstance(self.chunk_bytes, int)
            and isinstance(self.namespace_bytes, int)
            and isinstance(self.extra, dict)
            and (self.namespace_error is None or isinstance(self.namespace_error, str))
        )
        if not ok:
            raise CheckpointError("the manifest is malformed")


@dataclass
class RestoredCheckpoint:
    """What a restore put back, and what it could not."""

    restored: list[str] = field(default_factory=list)
    #: name -> why it is not back (not saved, or not loaded)
    missing: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    #: the whole namespace was refused (a damaged checkpoint): why
    error: str | None = None
    seconds: float = 0.0
    saved: SavedCheckpoint | None = None

    def notice(self) -> str:
        """The restore in one paragraph, for the model and the user."""
        parts = []
        if self.restored:
            parts.append(
                "[airlock] this thread's kernel was restored from its checkpoint: "
                + ", ".join(self.restored)
                + " are defined again"
            )
        if self.error:
            parts.append(f"[airlock] the checkpoint was not restored: {self.error}")
        for name, why in self.missing.items():
            parts.append(f"[airlock] not restored: {name} ({why})")
        if self.files and (self.error or not parts):
            parts.append("[airlock] this thread's files were put back in /mnt/data")
        return "\n".join(parts)


def read_manifest(folder: Path) -> SavedCheckpoint:
    """The checkpoint's manifest, checked; CheckpointError when it is missing or damaged."""
    path = folder / MANIFEST
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise CheckpointError(f"no readable manifest ({exc.strerror})") from None
    if len(raw) > _MAX_MANIFEST_BYTES:
        raise CheckpointError("the manifest is too large")
    try:
        data = json.loads(raw)
    except ValueError:
        raise CheckpointError("the manifest is not valid JSON") from None
    return SavedCheckpoint.from_json(data)
