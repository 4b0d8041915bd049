"""Terminal views never pass the sandbox's control sequences to the analyst's terminal: in
`airlock exec`, `run`, `chat` and `demo`, whatever a cell prints (stdout, stderr, fd 1 and 2
directly, a subprocess, an exception, a display, a file name) and whatever the model answers is
shown with its control characters made visible; `--json` keeps them, escaped. And `exec --out`
copies what it can, reports the rest, and never crashes on what the kernel sent."""

from __future__ import annotations

import io
import json
import re
import unicodedata
from pathlib import Path

from rich.console import Console

from engine.cli.render import RunView, terminal_safe
from engine.events import RunEvent
from tests.cli_helpers import AIRLOCK, Terminal, airlock, cli_env, code, script, text

ESC, BEL = "\x1b", "\x07"
#: Clipboard write (OSC 52), hyperlink (OSC 8), window title, clear screen, cursor up and erase,
#: a one-byte C1 CSI, a right-to-left override.
PAYLOAD = (
    f"{ESC}]52;c;cHduZWQ={BEL} {ESC}]8;;https://evil.example/{ESC}\\click{ESC}]8;;"
    f"{ESC}\\ {ESC}]0;pwned title{BEL} {ESC}[2J{ESC}[H {ESC}[1A{ESC}[2K \x9b31m "
    "\u202eevil\u202c"
)
#: Raw bytes that must never reach a terminal from the sandbox.
RAW = (ESC, BEL, "\x9b", "\u202e")

HOSTILE_CELL = f"""\
import os, subprocess, sys
payload = {PAYLOAD!r}
print('stdout', payload)
print('stderr', payload, file=sys.stderr)
sys.stdout.flush(); sys.stderr.flush()
os.write(1, ('fd1 ' + payload + '\\n').encode())
os.write(2, ('fd2 ' + payload + '\\n').encode())
subprocess.run(['printf', 'child \\\\033]52;c;Y2hpbGQ=\\\\a\\\\n'])
from IPython.display import display
display({{'text/plain': 'display ' + payload}}, raw=True)
open('name' + chr(27) + ']0;file title' + chr(7) + '.txt', 'w').write('x')
raise ValueError('exception ' + payload)
"""


def assert_clean(shown: str) -> None:
    for raw in RAW:
        assert raw not in shown, f"{raw!r} reached the terminal:\n{shown[-3000:]!r}"


def test_terminal_safe_shows_controls_and_keeps_newlines_and_tabs() -> None:
    assert terminal_safe("a\tb\r\nc\n") == "a\tb\nc\n"
    assert terminal_safe(f"{ESC}]52;c;x{BEL}") == "\\x1b]52;c;x\\x07"
    assert terminal_safe("\x9b\x7f\r\u202e") == "\\x9b\\x7f\\x0d\\u202e"
    assert terminal_safe("plain é 漢字 🎉") == "plain é 漢字 🎉"


def test_exec_shows_every_output_channel_without_control_sequences(tmp_path: Path) -> None:
    cell = tmp_path / "cell.py"
    cell.write_text(HOSTILE_CELL)
    done = airlock(tmp_path, "exec", "--out", str(tmp_path / "out"), str(cell))
    assert done.returncode == 1, done.stderr
    shown = done.stdout + done.stderr
    assert_clean(shown)
    for where in ("stdout", "stderr", "fd1", "fd2", "exception"):
        assert f"{where} \\x1b]52;c;cHduZWQ=\\x07" in shown, where
    assert "child \\x1b]52;c;Y2hpbGQ=\\x07" in shown
    assert "name\\x1b]0;file title\\x07.txt" in shown  # the file name, refused and reported
    assert "Traceback (most recent call last)" not in done.stderr


def test_exec_json_keeps_the_bytes_escaped(tmp_path: Path) -> None:
    cell = tmp_path / "cell.py"
    cell.write_text(HOSTILE_CELL)
    done = airlock(tmp_path, "exec", "--json", str(cell))
    assert done.returncode == 1, done.stderr
    assert_clean(done.stdout)
    assert "\\u001b]52;c;cHduZWQ=\\u0007" in done.stdout
    (report,) = json.loads(done.stdout)["cells"]
    logs = report["tool_call"]["code_interpreter"]["outputs"][0]["logs"]
    assert f"stdout {PAYLOAD}" in logs and f"fd2 {PAYLOAD}" in logs
    assert report["error"]["value"] == f"exception {PAYLOAD}"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in _strings(item)] if isinstance(value, list) else []


def _events(*items: tuple[str, dict[str, object]]) -> list[RunEvent]:
    return [RunEvent(name, data) for name, data in items]


def test_run_view_on_a_live_terminal_shows_no_control_sequences() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=100)
    view = RunView(console, save_image=lambda _id: Path(f"/out/img{ESC}]0;t{BEL}.png"))
    call = {
        "id": "call_1",
        "type": "code_interpreter",
        "code_interpreter": {"input": f"print('{PAYLOAD}')", "outputs": []},
    }
    logs = {
        "id": "call_1",
        "type": "code_interpreter",
        "code_interpreter": {
            "outputs": [
                {"type": "logs", "logs": f"out {PAYLOAD}\n"},
                {"type": "image", "image": {"file_id": "file-1"}},
            ]
        },
    }
    for event in _events(
        ("thread.run.created", {"id": "run_1", "status": "queued"}),
        ("thread.run.step.created", {"id": "step_1", "type": "tool_calls"}),
        (
            "thread.run.step.delta",
            {
                "id": "step_1",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
            },
        ),
        (
            "thread.run.step.delta",
            {
                "id": "step_1",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [logs]}},
            },
        ),
        (
            "thread.run.step.completed",
            {"id": "step_1", "type": "tool_calls", "status": "completed"},
        ),
        ("thread.run.step.created", {"id": "step_2", "type": "message_creation"}),
        (
            "thread.message.delta",
            {"delta": {"content": [{"type": "text", "text": {"value": f"answer {PAYLOAD}"}}]}},
        ),
        (
            "thread.message.completed",
            {
                "status": "completed",
                "content": [
                    {"type": "text", "text": {"value": f"answer {PAYLOAD}", "annotations": []}}
                ],
            },
        ),
        (
            "thread.run.failed",
            {"id": "run_1", "status": "failed", "last_error": {"message": f"boom {PAYLOAD}"}},
        ),
    ):
        view.handle(event)
    view.close()
    shown = buffer.getvalue()
    for sequence in (
        f"{ESC}]52",
        f"{ESC}]8;;https",
        f"{ESC}]0;",
        BEL,
        "\x9b",
        "\u202e",
        f"{ESC}[2J",
    ):
        assert sequence not in shown, sequence
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # rich's own styling and cursor
    assert "\\x1b]52;c;cHduZWQ=" in plain and "img\\x1b]0;t\\x07.png" in plain


def test_run_and_run_json_with_a_hostile_cell_and_answer(tmp_path: Path) -> None:
    model = script(
        tmp_path,
        "hostile",
        code(HOSTILE_CELL),
        text(f"Here: {PAYLOAD} [the file](sandbox:/mnt/data/name.txt)"),
    )
    done = airlock(
        tmp_path,
        "run",
        "go",
        "--model",
        model,
        "--out",
        str(tmp_path / "out"),
        "--data-dir",
        str(tmp_path / "store"),
    )
    shown = done.stdout + done.stderr
    assert_clean(shown)
    assert "stdout \\x1b]52;c;cHduZWQ=\\x07" in shown and "Here: \\x1b]52" in shown
    as_json = airlock(
        tmp_path,
        "run",
        "--json",
        "go",
        "--model",
        model,
        "--out",
        str(tmp_path / "out2"),
        "--data-dir",
        str(tmp_path / "store"),
    )
    assert_clean(as_json.stdout)
    result = json.loads(as_json.stdout)
    assert any(PAYLOAD in value for value in _strings(result["steps"]))  # kept, escaped


def test_demo_with_a_hostile_model_shows_no_control_sequences(tmp_path: Path) -> None:
    model = script(tmp_path, "hostile", code(HOSTILE_CELL), text(f"Done {PAYLOAD}"))
    done = airlock(
        tmp_path,
        "demo",
        "--model",
        model,
        "--out",
        str(tmp_path / "demo"),
        "--data-dir",
        str(tmp_path / "store"),
    )
    shown = done.stdout + done.stderr
    assert_clean(shown)
    assert "Done \\x1b]52" in shown


def test_chat_shows_no_control_sequences(tmp_path: Path) -> None:
    model = script(
        tmp_path,
        "hostile",
        code(HOSTILE_CELL.replace("raise ValueError", "print")),
        text(f"Done {PAYLOAD}"),
    )
    env = cli_env(tmp_path, AIRLOCK_LINE_EDITOR="readline")
    term = Terminal(
        [*AIRLOCK, "chat", "--model", model, "--data-dir", str(tmp_path / "store")],
        env,
        tmp_path,
        timeout=60,
    )
    try:
        term.expect(r"you> ?")
        term.send("go\r")
        term.expect("Done")
        term.expect(r"you> ?")
        term.send("/files\r")
        term.expect(r"you> ?")
        term.send("/quit\r")
        term.wait(60)
    finally:
        term.close()
    assert_clean(term.seen.replace(f"{ESC}[?2004h", "").replace(f"{ESC}[?2004l", ""))
    assert "stdout \\x1b]52;c;cHduZWQ=\\x07" in term.seen


def test_exec_out_reports_files_it_cannot_copy_and_copies_the_rest(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "résumé.txt")
    cell = tmp_path / "cell.py"
    cell.write_text(
        "import os\nopen('plain.txt', 'w').write('plain')\n"
        f"open({nfd!r}, 'w').write('nfd')\n"
        "open('bad' + chr(10) + 'name.txt', 'w').write('x')\n"
        "for _ in range(40):\n    os.mkdir('d' * 200)\n    os.chdir('d' * 200)\n"
        "open('deep.txt', 'w').write('bottom')\nos.chdir('/mnt/data')\n"
    )
    out = tmp_path / "out"
    done = airlock(tmp_path, "exec", "--json", "--out", str(out), str(cell))
    assert done.returncode == 0, done.stderr
    assert "Traceback (most recent call last)" not in done.stderr
    (report,) = json.loads(done.stdout)["cells"]
    by_path = {Path(f["path"]).name: f for f in report["files"]}
    assert (out / "plain.txt").read_text() == "plain"
    assert (out / nfd).read_text() == "nfd"
    assert "error" in by_path["bad\nname.txt"]
    deep = by_path["deep.txt"]
    assert "saved_to" in deep or "error" in deep
    human = airlock(tmp_path, "exec", "--out", str(tmp_path / "out2"), str(cell))
    assert human.returncode == 0 and "not copied" in human.stderr
    assert "bad\\x0aname.txt" in human.stdout + human.stderr


def test_exec_survives_malformed_kernel_messages(tmp_path: Path) -> None:
    cell = tmp_path / "cell.py"
    cell.write_text(
        "k = get_ipython().kernel\nparent = k.get_parent()\n"
        "k.session.send(k.iopub_socket, 'error', {'ename': 'E', 'evalue': 1, 'traceback': 5},"
        " parent=parent)\n"
        "k.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': ['x']},"
        " parent=parent)\n"
        "k.iopub_socket.send_multipart([b'x', b'<IDS|MSG>', b'garbage'])\nprint('after')"
    )
    done = airlock(tmp_path, "exec", "--json", str(cell))
    assert "Traceback (most recent call last)" not in done.stderr, done.stderr
    (report,) = json.loads(done.stdout)["cells"]
    assert "after" in report["tool_call"]["code_interpreter"]["outputs"][0]["logs"]
