"""The loop behind `airlock chat`: read a line (with editing and history), run it on the chat's
thread, or do a slash command.

Line editing: prompt_toolkit when it is installed and stdin is a terminal, else the standard
library's readline (history in the data folder either way). $AIRLOCK_LINE_EDITOR=readline
forces the latter.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.sizes import human_size
from ..library.export import write_markdown
from ..library.sync_interpreter import Interpreter
from ..schemas import File
from ..store import StoreError
from .options import CliError
from .render import RunView, safe_text, terminal_safe
from .session import FileSaver, stream_run

PROMPT = "you> "
HELP = """\
/upload PATH         attach a file to your next message (the code finds it in /mnt/data)
/files               list the files the code generated in this chat
/save [DIR]          save them under DIR (default: {out})
/export PATH.ipynb   write this chat as a Jupyter notebook (PATH.md: a Markdown report)
/help                this list
/quit                leave (Ctrl-D too)
Ctrl-C cancels a run in progress; at the prompt it clears the line."""


def line_reader(history: Path) -> Callable[[str], str]:
    """A function that reads one line with `prompt`: EOFError at Ctrl-D, KeyboardInterrupt at
    Ctrl-C."""
    forced = os.environ.get("AIRLOCK_LINE_EDITOR", "")
    if sys.stdin.isatty() and forced != "readline":
        try:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory
        except ImportError:
            pass
        else:
            session: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
            return lambda prompt: session.prompt(prompt)
    try:
        import readline
    except ImportError:  # no readline on this platform: plain input()
        return input
    with contextlib.suppress(OSError):  # no history yet
        readline.read_history_file(history)
    readline.set_history_length(1000)

    def read(prompt: str) -> str:
        line = input(prompt)
        if line.strip():
            try:
                readline.append_history_file(1, history)
            except OSError:
                readline.write_history_file(history)
        return line

    if not history.exists():
        history.touch()
    return read


class ChatSession:
    def __init__(
        self,
        interpreter: Interpreter,
        console: Console,
        *,
        model: str,
        pending: list[Path],
        out: Path,
        history: Path,
    ) -> None:
        self.interpreter = interpreter
        self.console = console
        self.model = model
        self.pending = list(pending)
        self.out = out
        self.history = history
        self.thread_id = interpreter.new_thread().id
        self.files: list[File] = []
        self.next_cell = 1

    def say(self, text: str, style: str = "") -> None:
        """Print a line; file names and error messages in it may come from the sandbox."""
        self.console.print(safe_text(text, style), highlight=False, soft_wrap=True)

    def loop(self) -> None:
        read = line_reader(self.history)
        self.say(
            f"Airlock chat on {self.thread_id} with {self.model}. "
            "/help lists the commands; Ctrl-D quits.",
            "bold",
        )
        for path in self.pending:
            self.say(f"{path} goes with your first message", "dim")
        while True:
            try:
                line = read(PROMPT)
            except KeyboardInterrupt:
                continue  # the line is dropped
            except EOFError:
                self.console.print()
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    break
            else:
                self.ask(line)
        self.say(
            f"bye (thread {self.thread_id} is kept: 'airlock threads show {self.thread_id}')", "dim"
        )

    def ask(self, question: str) -> None:
        view = RunView(self.console, first_cell=self.next_cell)
        files, self.pending = self.pending, []
        try:
            result = stream_run(
                self.interpreter, view, question, files=files, thread=self.thread_id
            )
        except (CliError, StoreError) as exc:
            self.say(f"error: {exc}", "bold red")
            return
        self.next_cell = view.next_cell
        new = [f for f in result.files if f.id not in {g.id for g in self.files}]
        self.files += new
        if result.status != "completed":
            self.say(f"(the run ended {result.status}; ask again or change the question)", "yellow")
        if new:
            self.say(f"{len(new)} new file(s): /files lists them, /save saves them", "dim")

    # ------------------------------------------------------------ slash commands

    def command(self, line: str) -> bool:
        """Do one slash command; False to leave the chat."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.say(f"error: {exc}", "bold red")
            return True
        name, args = words[0].lower(), words[1:]
        if name in ("/quit", "/exit", "/q"):
            return False
        handlers: dict[str, Callable[[list[str]], None]] = {
            "/help": self.cmd_help,
            "/upload": self.cmd_upload,
            "/files": self.cmd_files,
            "/save": self.cmd_save,
            "/export": self.cmd_export,
        }
        handler = handlers.get(name)
        if handler is None:
            self.say(f"unknown command {name}; /help lists them", "bold red")
            return True
        try:
            handler(args)
        except (OSError, StoreError) as exc:
            self.say(f"error: {exc}", "bold red")
        return True

    def cmd_help(self, args: list[str]) -> None:
        self.say(HELP.format(out=self.out))

    def cmd_upload(self, args: list[str]) -> None:
        if len(args) != 1:
            self.say("usage: /upload PATH", "bold red")
            return
        path = Path(args[0]).expanduser()
        if not path.is_file():
            self.say(f"no such file: {path}", "bold red")
            return
        self.pending.append(path)
        self.say(f"{path.name} goes with your next message (as /mnt/data/{path.name})")

    def cmd_files(self, args: list[str]) -> None:
        if not self.files:
            self.say("no files generated yet")
        else:
            table = Table(show_edge=False, box=None, pad_edge=False)
            for column in ("id", "name", "size"):
                table.add_column(column)
            for file in self.files:
                table.add_row(
                    file.id,
                    Text(terminal_safe(file.filename, one_line=True)),
                    human_size(file.bytes),
                )
            self.console.print(table)
        for path in self.pending:
            self.say(f"waiting to be sent: {path}", "dim")

    def cmd_save(self, args: list[str]) -> None:
        if len(args) > 1:
            self.say("usage: /save [DIR]", "bold red")
            return
        if not self.files:
            self.say("no files generated yet")
            return
        folder = Path(args[0]).expanduser() if args else self.out
        saver = FileSaver(self.interpreter, folder)
        for file in self.files:
            self.say(f"saved {saver.save(file)}")

    def cmd_export(self, args: list[str]) -> None:
        if len(args) != 1 or Path(args[0]).suffix.lower() not in (".ipynb", ".md"):
            self.say("usage: /export PATH.ipynb (or PATH.md)", "bold red")
            return
        path = Path(args[0]).expanduser()
        if path.suffix.lower() == ".md":
            write_markdown(self.interpreter.engine.store, self.thread_id, path)
        else:
            self.interpreter.export_notebook(self.thread_id, path)
        self.say(f"wrote {path}")
