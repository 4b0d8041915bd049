"""Export a thread as a Markdown report to read it: messages, code in fenced blocks, long
outputs cut in the middle, images saved beside the report and linked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..core.conversation import cut_middle
from ..schemas import CodeInterpreterCall, ImageOutput, LogsOutput
from ..store import Store
from .timeline import Image, Note, heading, images_in, load_image, safe_name, timeline

#: How much of one output the Markdown report shows; the notebook keeps it all.
MAX_OUTPUT_CHARS = 4000


@dataclass
class _Images:
    """Where the report's images go: each file saved once, numbered so equal names differ."""

    folder: Path | None
    links: dict[str, str] = field(default_factory=dict)

    def link(self, image: Image) -> str:
        if image.data is None:
            return f"*[image {image.name} is no longer in the store]*"
        if self.folder is None:
            return f"*[image {image.name}]*"
        if image.file_id not in self.links:
            name = f"{len(self.links) + 1:02d}_{safe_name(image.name)}"
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / name).write_bytes(image.data)
            self.links[image.file_id] = quote(f"{self.folder.name}/{name}")
        return f"![{image.name}]({self.links[image.file_id]})"


def thread_markdown(store: Store, thread_id: str, images_dir: Path | None = None) -> str:
    """A readable report of the thread. Images are saved into `images_dir`, when given, and
    linked as `<images_dir name>/<file>`: relative to the folder the report is saved in."""
    store.get_thread(thread_id)
    images = _Images(Path(images_dir) if images_dir is not None else None)
    parts = [f"# Thread {thread_id}"]
    for entry in timeline(store, thread_id):
        if isinstance(entry, CodeInterpreterCall):
            parts += _markdown_call(store, entry, images)
        elif isinstance(entry, Note):
            parts.append(f"*{entry.text}*")
        else:
            parts.append(heading(store, entry))
            parts += [images.link(load_image(store, f)) for f in images_in(entry)]
    return "\n\n".join(parts) + "\n"


def _markdown_call(store: Store, call: CodeInterpreterCall, images: _Images) -> list[str]:
    parts = [_fence(call.input, "python")]
    for output in call.outputs:
        if isinstance(output, LogsOutput):
            parts.append(_fence(_cut(output.logs), "text"))
        elif isinstance(output, ImageOutput):
            parts.append(images.link(load_image(store, output.image.file_id)))
    return parts


def _cut(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail (where a traceback ends) of a long output."""
    return cut_middle(text, limit, head_share=0.5)


def _fence(text: str, language: str) -> str:
    """A fenced block longer than any backtick run inside, so no content can close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def write_markdown(store: Store, thread_id: str, path: Path) -> Path:
    """Save the report at `path`, its images beside it in `<stem>_files/`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = thread_markdown(store, thread_id, path.parent / f"{path.stem}_files")
    path.write_text(text, encoding="utf-8")
    return path
