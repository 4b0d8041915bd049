"""`sandbox:/mnt/data/NAME` links in an answer, and the `file_path` annotations that give each
one the id of the file it names (so a client can download it with `files.content`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
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


def file_path_annotations(
    text: str, file_id_for: Callable[[str], str | None]
) -> list[FilePathAnnotation]:
    """One annotation per link whose file exists; `file_id_for(path)` finds (or stores) it.

    Indexes are positions in the Python string, i.e. in code points, as the hosted service
    counted them.
    """
    annotations = []
    for start, end, path in sandbox_links(text):
        file_id = file_id_for(path)
        if file_id is not None:
            annotations.append(
                FilePathAnnotation(
                    text=text[start:end],
                    start_index=start,
                    end_index=end,
                    file_path=FileRef(file_id=file_id),
                )
            )
    return annotations


#: A markdown link around a sandbox link: `[label](sandbox:/mnt/data/x)`, label in group 1.
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\(\s*$")


def fix_links(text: str, exists: Callable[[str], bool], known: Iterable[str]) -> str:
    """`text` with every link to a file that does not exist corrected or dropped: pointed at
    the one known file of the same name when there is one (a model that saved `out/x.png`
    links `x.png`), else the link is taken out and the text says no such file was made.
    Links to files that exist are left alone."""
    by_name: dict[str, list[str]] = {}
    for path in dict.fromkeys(known):
        by_name.setdefault(PurePosixPath(path).name, []).append(path)
    pieces: list[str] = []
    done = 0
    for start, end, path in sandbox_links(text):
        if exists(path):
            continue
        same_name = [p for p in by_name.get(PurePosixPath(path).name, []) if p != path]
        if len(same_name) == 1:
            pieces += [text[done:start], f"sandbox:{same_name[0]}"]
            done = end
            continue
        before = _MARKDOWN_LINK.search(text, done, start)
        after = text.find(")", end)
        if before is not None and after != -1 and not text[end:after].strip():
            label = before.group(1) or PurePosixPath(path).name
            pieces += [text[done : before.start()], f"{label} (no such file was made)"]
            done = after + 1
        else:
            pieces += [text[done:start], f"{path} (no such file was made)"]
            done = end
    return "".join(pieces) + text[done:] if pieces else text
