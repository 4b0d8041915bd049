"""`sandbox:/mnt/data/NAME` links in an answer, and the `file_path` annotations that give each
one the id of the file it names (so a client can download it with `files.content`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from .schemas import FilePathAnnotation, FileRef

#: A link as models write it: in markdown `[x](sandbox:/mnt/data/x.csv)`, or bare.
SANDBOX_LINK = re.compile(r"sandbox:/mnt/data/[^\s()\[\]<>\"'`]+")
_TRAILING = ".,;:!?"


def sandbox_links(text: str) -> list[tuple[int, int, str]]:
    """`(start, end, /mnt/data path)` of each link; punctuation ending a sentence is not part
    of the name, and %-escapes are decoded (`my%20file.csv` names `my file.csv`)."""
    links = []
    for match in SANDBOX_LINK.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        path = unquote(text[start:end].removeprefix("sandbox:"))
        if path.rstrip("/") != "/mnt/data":
            links.append((start, end, path))
    return links


def file_path_annotations(text: str,
                          file_id_for: Callable[[str], str | None]) -> list[FilePathAnnotation]:
    """One annotation per link whose file exists; `file_id_for(path)` finds (or stores) it.

    Indexes are positions in the Python string, i.e. in code points, as the hosted service
    counted them.
    """
    annotations = []
    for start, end, path in sandbox_links(text):
        file_id = file_id_for(path)
        if file_id is not None:
            annotations.append(FilePathAnnotation(
                text=text[start:end], start_index=start, end_index=end,
                file_path=FileRef(file_id=file_id)))
    return annotations
