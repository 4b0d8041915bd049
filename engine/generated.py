"""The files a run's code produced, kept in the store as `assistants_output` files.

Images the cells showed are stored as soon as the cell ends (a step's `image` output needs an
id). Files written under /mnt/data are stored when the run ends, in their last version, so
that the answer's `sandbox:/mnt/data/NAME` links can point at them; a link to a file the run did
not write (an upload, an earlier run's output) stores that file when it is linked.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path, PurePosixPath

from sandbox import MOUNT_POINT, Execution, FileChange, WorkspaceError

from .annotations import file_path_annotations, sandbox_links
from .schemas import File, FilePathAnnotation
from .sessions import ThreadSession
from .store import Store, StoreError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}


class GeneratedFiles:
    def __init__(self, store: Store, *, max_files: int) -> None:
        self.store = store
        self.max_files = max_files
        #: /mnt/data path -> its latest change during the run
        self.changed: dict[str, FileChange] = {}
        #: /mnt/data path -> the stored file
        self.stored: dict[str, File] = {}
        self.images_shown: list[str] = []
        self.skipped: list[str] = []

    def store_image(self, path: Path) -> str:
        """An image a cell showed (saved by the sandbox on the host): stored now."""
        with path.open("rb") as source:
            file = self.store.create_file(source, path.name, "assistants_output")
        self.images_shown.append(file.id)
        return file.id

    def note_changes(self, execution: Execution) -> None:
        for change in execution.files:
            self.changed[change.path] = change
        for removed in execution.removed_files:
            self.changed.pop(removed, None)

    def store_all(self, session: ThreadSession | None) -> list[File]:
        """Store every file the run wrote that is still there (up to `max_files`)."""
        if session is None:
            return []
        for path in list(self.changed):
            if path in self.stored:
                continue
            if len(self.stored) >= self.max_files:
                self.skipped.append(path)
                continue
            self._store(session, path)
        return list(self.stored.values())

    def file_id_for(self, session: ThreadSession | None, path: str) -> str | None:
        """The id of the file a link names: written by this run, staged from an upload, or
        stored now from the workspace; None when there is no such file."""
        if path in self.stored:
            return self.stored[path].id
        if session is not None:
            for staged in session.staged.values():
                if staged.path == path and path not in session.written:
                    return staged.file_id  # the upload itself, unchanged since
            file = self._store(session, path)
            if file is not None:
                return file.id
        return None

    def annotate(self, text: str, session: ThreadSession | None) -> list[FilePathAnnotation]:
        return file_path_annotations(text, lambda path: self.file_id_for(session, path))

    @property
    def file_ids(self) -> list[str]:
        """Everything the run's code produced: images shown, then files written."""
        return list(
            dict.fromkeys([*self.images_shown, *(file.id for file in self.stored.values())])
        )

    def unlinked_saved_images(self, text: str) -> list[str]:
        """Images the code saved (not shown) that the answer does not link: shown as image
        blocks, so a plot saved with `savefig` reaches the user either way."""
        linked = {path for _start, _end, path in sandbox_links(text)}
        return [
            file.id
            for path, file in self.stored.items()
            if PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES and path not in linked
        ]

    def _store(self, session: ThreadSession, path: str) -> File | None:
        try:
            relative = PurePosixPath(path).relative_to(MOUNT_POINT)
        except ValueError:
            return None
        with tempfile.TemporaryDirectory(prefix="airlock-out-") as folder:
            copy = Path(folder) / "content"
            try:
                session.session.copy_file_out(str(relative), copy)
            except (OSError, WorkspaceError):
                return None  # gone, not a regular file, or a link the code planted
            try:
                with copy.open("rb") as source:
                    file = self.store.create_file(source, relative.name, "assistants_output")
            except StoreError as error:
                log.warning("not keeping %s: %s", path, error)
                with contextlib.suppress(KeyError):
                    self.changed.pop(path)
                return None
        self.stored[path] = file
        return file
