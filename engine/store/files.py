"""The Store's files: uploads and generated files, their rows in SQLite and their bytes in
the contents folder (a file's bytes are durable on disk before its row is committed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from ..schemas import FILE_PURPOSES, Deleted, File, ListPage, now
from .base import StoreBase
from .contents import Source
from .database import FILES
from .errors import FileTooLargeError, InvalidRequestError

#: The hosted service's per-file limit.
MAX_FILE_BYTES = 512 * 1024 * 1024
FILES_DEFAULT_LIMIT = FILES_MAX_LIMIT = 10_000


def refuse_control_characters(filename: str) -> None:
    """An uploaded file's name may hold no control character: the sandbox's /mnt/data refuses
    them (sandbox.workspace), and they would reach clients and the model verbatim. (Files the
    code wrote keep their names: the kernel made them.)"""
    controls = sorted({f"U+{ord(char):04X}" for char in filename if ord(char) < 0x20})
    if controls:
        raise InvalidRequestError(
            f"The file name {filename!r} contains control characters ({', '.join(controls)}), "
            "which file names in /mnt/data may not; rename the file. Nothing was stored.",
            param="file",
        )


class FileStore(StoreBase):
    """Files: `create_file` (streamed to disk), `get_file`, `list_files`, their content, and
    `delete_file`; expired files are purged."""

    def create_file(
        self,
        content: Source,
        filename: str,
        purpose: str,
        *,
        size: int | None = None,
        expires_after_seconds: int | None = None,
    ) -> File:
        """Stream `content` (a binary reader, an iterable of chunks, or bytes) to disk.

        `size`, when the caller knows it (Content-Length), lets an oversized upload be refused
        before a byte is written; without it the limit is enforced while streaming. Either way
        nothing is left behind on refusal.
        """
        if purpose not in FILE_PURPOSES:
            raise InvalidRequestError(f"unknown purpose {purpose!r}", param="purpose")
        name = os.path.basename(filename.replace("\\", "/"))
        if name in ("", ".", ".."):
            raise InvalidRequestError(f"{filename!r} is not a usable file name", param="file")
        if size is not None and size > self.max_file_bytes:
            raise FileTooLargeError(self.max_file_bytes)
        file = File.model_validate({"bytes": 0, "filename": name, "purpose": purpose})
        written = self.contents.write(file.id, content, self.max_file_bytes)
        file = file.model_copy(update={"bytes": written})
        if expires_after_seconds is not None:
            file = file.model_copy(update={"expires_at": file.created_at + expires_after_seconds})
        try:
            return self.db.insert(FILES, file)
        except BaseException:
            self.contents.remove(file.id)
            raise

    def get_file(self, file_id: str) -> File:
        return self.db.get(FILES, file_id)

    def list_files(
        self,
        *,
        purpose: str | None = None,
        limit: int = FILES_DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[File]:
        scope = {"purpose": purpose} if purpose else {}
        return self.db.page(
            FILES,
            scope,
            limit=limit,
            order=order,
            after=after,
            before=before,
            max_limit=FILES_MAX_LIMIT,
        )

    def open_file_content(self, file_id: str) -> BinaryIO:
        """The content as an open binary file; the caller closes it. Opened under the lock, so
        a concurrent delete cannot pull it away half-read (POSIX keeps unlinked files open)."""
        with self.db.read():
            self.get_file(file_id)
            return self.contents.open(file_id)

    def file_content_path(self, file_id: str) -> Path:
        """Where the content lies, for copying into a sandbox; read-only by convention."""
        self.get_file(file_id)
        return self.contents.path(file_id)

    def delete_file(self, file_id: str) -> Deleted:
        # Row first: a crash between the two leaves an orphan that the next start sweeps.
        self.db.delete(FILES, file_id)
        self.contents.remove(file_id)
        return Deleted(id=file_id, object="file")

    def purge_expired_files(self) -> int:
        with self.db.write() as conn:
            expired = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?", [now()]
                )
            ]
            conn.executemany("DELETE FROM files WHERE id = ?", [[i] for i in expired])
        for file_id in expired:
            self.contents.remove(file_id)
        return len(expired)

    def _file_ids(self) -> set[str]:
        with self.db.read() as conn:
            return {row[0] for row in conn.execute("SELECT id FROM files")}

    def _require_files(self, file_ids: list[str]) -> None:
        for file_id in file_ids:
            self.get_file(file_id)
