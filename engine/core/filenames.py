"""Free file names: the one rule for a name that is taken, `stem_2.ext`, `stem_3.ext`, ...

Used wherever Airlock picks a name for a file: staging uploads into a sandbox's /mnt/data
(`sessions`, the Responses API's containers) and saving generated files on the host (the
library's `save_files`, the CLI's `--out` and `/save`), where nothing is ever overwritten.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterator
from pathlib import Path, PurePosixPath


def numbered_names(name: str) -> Iterator[str]:
    """`name`, then `stem_2.ext`, `stem_3.ext`, ... without end."""
    pure = PurePosixPath(name)
    yield name
    for n in itertools.count(2):
        yield f"{pure.stem}_{n}{pure.suffix}"


def free_name(name: str, taken: Callable[[str], bool]) -> str:
    """The first of `numbered_names(name)` that is not `taken`."""
    return next(candidate for candidate in numbered_names(name) if not taken(candidate))


def save_path(folder: Path, filename: str, *, default: str, used: Collection[Path] = ()) -> Path:
    """Where a file called `filename` is saved in `folder` without overwriting anything: under
    its own base name (`default` when it has none), numbered when that path is one of `used`
    (written by the same save) or something is already there."""
    name = Path(filename).name or default

    def taken(candidate: str) -> bool:
        path = folder / candidate
        return path in used or path.exists()

    return folder / free_name(name, taken)
