"""`airlock chat` on a pseudo-terminal: questions, slash commands, Ctrl-C and Ctrl-D, with both
line editors (prompt_toolkit when installed, else readline)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.cli_helpers import AIRLOCK, Terminal, cli_env, code, script, text

EDITORS = ["readline"] + (["prompt_toolkit"] if importlib.util.find_spec("prompt_toolkit") else [])
PROMPT = r"you> ?"
#: Bound for each thing to appear (a kernel start at most): generous, but short of the 60 s
#: cell that the Ctrl-C test interrupts.
WAIT = 45.0


@pytest.fixture(params=EDITORS)
def editor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def type_line(term: Terminal, line: str) -> None:
    """Type a line once the editor shows it is reading (its echo), then Enter."""
    term.send(line)
    term.expect(re.escape(line))
    term.send("\r")


def chat(
    tmp_path: Path, terminals: list[Terminal], editor: str, model: str, *args: str
) -> Terminal:
    env = cli_env(tmp_path, AIRLOCK_LINE_EDITOR=editor)
    terminal = Terminal(
        [*AIRLOCK, "chat", "--model", model, "--data-dir", str(tmp_path / "store"), *args],
        env,
        tmp_path,
        timeout=WAIT,
    )
    terminals.append(terminal)
    return terminal


def test_chat_answers_keeps_the_kernel_and_does_slash_commands(
    tmp_path: Path, terminals: list[Terminal], editor: str
) -> None:
    data = tmp_path / "numbers.csv"
    data.write_text("n\n1\n2\n")
    model = script(
        tmp_path,
        "chat",
        code(
            "import os",
            "n = globals().get('n', 0) + 1",
            "print('turn', n)",
            "print(sorted(os.listdir('/mnt/data')))",
            "open('/mnt/data/latest.txt', 'w').write(str(n))",
        ),
        text("Done with this turn: [latest.txt](sandbox:/mnt/data/latest.txt)."),
    )
    term = chat(tmp_path, terminals, editor, model)
    term.expect(PROMPT)
    type_line(term, "/files")
    term.expect("no files generated yet")
    term.expect(PROMPT)
    type_line(term, f"/upload {data}")
    term.expect("goes with your next message")
    term.expect(PROMPT)
    type_line(term, "first question")
    seen = term.expect("Done with this turn")
    assert "turn 1" in seen and "numbers.csv" in seen
    term.expect(PROMPT)
    type_line(term, "second question")
    seen = term.expect("Done with this turn")
    assert "turn 2" in seen  # the same kernel: its variable survived
    assert "In [2]" in seen
    term.expect(PROMPT)
    type_line(term, "/files")
    listed = term.expect(PROMPT)
    assert listed.count("latest.txt") == 2  # one per turn
    # Ctrl-C at the prompt drops the line typed so far.
    term.send("this is dropped")
    term.expect("this is dropped")
    term.wait_raw()  # the line editor is reading
    term.send("\x03")
    term.expect(PROMPT)
    saved = tmp_path / "saved"
    type_line(term, f"/save {saved}")
    term.expect("saved .*latest_2.txt")
    term.expect(PROMPT)
    notebook = tmp_path / "chat.ipynb"
    type_line(term, f"/export {notebook}")
    term.expect("wrote")
    term.expect(PROMPT)
    type_line(term, "/help")
    term.expect("/upload PATH")
    term.expect(PROMPT)
    type_line(term, "/nonsense")
    term.expect("unknown command /nonsense")
    term.expect(PROMPT)
    type_line(term, "/quit")
    term.expect("bye")
    assert term.wait() == 0
    assert "In [3]" not in term.seen  # the dropped line never ran
    assert {(saved / "latest.txt").read_text(), (saved / "latest_2.txt").read_text()} == {"1", "2"}
    parsed = nbformat.read(str(notebook), as_version=4)
    nbformat.validate(parsed)
    assert sum(c.cell_type == "code" for c in parsed.cells) == 2


def test_ctrl_c_cancels_the_run_not_the_program(
    tmp_path: Path, terminals: list[Terminal], editor: str
) -> None:
    model = script(
        tmp_path,
        "slow",
        code("import time", "print('sleeping now', flush=True)", "time.sleep(60)"),
        text("I slept."),
    )
    term = chat(tmp_path, terminals, editor, model)
    term.expect(PROMPT)
    type_line(term, "sleep for a minute")
    term.expect("In \\[1\\]")
    term.send("\x03")
    seen = term.expect("cancelled")
    term.expect(PROMPT, timeout=WAIT / 2)  # well before the cell's 60 s
    assert "I slept" not in seen
    type_line(term, "/help")  # still alive, still answering
    term.expect("/upload PATH")
    term.expect(PROMPT)
    term.wait_raw()  # the line editor is reading
    term.send("\x04")  # Ctrl-D quits
    term.expect("bye")
    assert term.wait() == 0
