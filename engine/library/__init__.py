"""The library API (`Interpreter`, its async core `AsyncInterpreter`) and thread export
(notebook, Markdown)."""

from .export import write_markdown, write_notebook
from .interpreter import AsyncInterpreter, Interpreter, RunResult

__all__ = ["AsyncInterpreter", "Interpreter", "RunResult", "write_markdown", "write_notebook"]
