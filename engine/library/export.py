"""Export a thread's work: a Jupyter notebook to re-run it, a Markdown report to read it.

Both walk one timeline built from the store: user messages, then for each run (in creation
order) its code_interpreter calls and the assistant messages its steps created. Images come
from the store's file contents; one deleted since becomes a note, never an error.

The formats live in `notebook` and `markdown`, the timeline they walk in `timeline`; this
module is where callers import them from.
"""

from __future__ import annotations

from .markdown import MAX_OUTPUT_CHARS, thread_markdown, write_markdown
from .notebook import split_logs, thread_notebook, write_notebook
from .timeline import Entry, Image, Note, load_image, message_text, timeline

__all__ = [
    "MAX_OUTPUT_CHARS",
    "Entry",
    "Image",
    "Note",
    "load_image",
    "message_text",
    "split_logs",
    "thread_markdown",
    "thread_notebook",
    "timeline",
    "write_markdown",
    "write_notebook",
]
