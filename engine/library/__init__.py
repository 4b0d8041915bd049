"""The library API (`Interpreter`, its async core `AsyncInterpreter`) and thread export
(notebook, Markdown)."""

from .export import write_markdown, write_notebook
from .interpreter import AsyncInterpreter, RunResult
from .sync_interpreter import Interpreter

__all__ = ["AsyncInterpreter", "Interpreter", "RunResult", "write_markdown", "write_notebook"]
