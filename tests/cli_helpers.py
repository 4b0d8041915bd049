"""Running the `airlock` model commands as a user would: in a subprocess (or on a pseudo-terminal),
with a clean environment (no settings file, no model, no user data folder of the machine's),
a real store in tmp_path and a scripted model from a JSON file there."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AIRLOCK = [sys.executable, "-m", "engine"]
#: Generous bound for one command: a kernel start and a few cells.
DEADLINE = 180.0


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env.update(
        {
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            "TERM": "dumb",
            "NO_COLOR": "1",
            "COLUMNS": "120",
        }
    )
    env.update(extra)
    return env


def airlock(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIRLOCK, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=cwd or tmp_path,
        env=env or cli_env(tmp_path),
    )


def script(tmp_path: Path, name: str, *items: dict[str, str]) -> str:
    """A `scripted:` model spec: item n answers the n-th model call of each run."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(list(items)))
    return f"scripted:{path}"


def code(*lines: str) -> dict[str, str]:
    return {"code": "\n".join(lines)}


def text(value: str) -> dict[str, str]:
    return {"text": value}


def run_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    done = airlock(tmp_path, "run", "--json", *args)
    assert done.returncode == 0, done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Terminal:
    """A command on a pseudo-terminal: `send` types, `expect` waits for output (a regex) and
    returns everything read up to the end of the match."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, *, timeout: float = DEADLINE
    ) -> None:
        self.timeout = timeout
        import pty
        import termios

        self.master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] |= termios.ISIG  # Ctrl-C (\x03) sends SIGINT to the child
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.process = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_set_controlling_tty,
        )
        os.close(slave)
        self.buffer = ""
        self.seen = ""

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def expect(self, pattern: str, timeout: float | None = None) -> str:
        regex = re.compile(pattern)
        end = time.monotonic() + (timeout or self.timeout)
        while True:
            match = regex.search(self.buffer)
            if match:
                consumed = self.buffer[: match.end()]
                self.buffer = self.buffer[match.end() :]
                return consumed
            left = end - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"no {pattern!r} in the output; it was:\n{self.seen}")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        decoded = chunk.decode(errors="replace").replace("\r", "")
        self.buffer += decoded
        self.seen += decoded
        return True

    def wait_raw(self, timeout: float | None = None) -> None:
        """Until the line editor has the terminal in raw mode: keys sent before that (Ctrl-C,
        Ctrl-D, erase) are the terminal's own to handle, not the editor's."""
        import termios

        end = time.monotonic() + (timeout or self.timeout)
        # Raw mode, and the editor waiting for a key: a signal that comes before readline
        # is in its select() is only seen at the next key (CPython polls with no timeout).
        while termios.tcgetattr(self.master)[3] & termios.ICANON or not self._waiting():
            if time.monotonic() > end:
                raise AssertionError(f"the line editor never waited for a key:\n{self.seen}")
            self._read(0.02)  # polls the terminal's mode while reading what comes

    def _waiting(self) -> bool:
        """Whether the command's main thread sleeps in select/poll (waits for input)."""
        try:
            with open(f"/proc/{self.process.pid}/wchan") as wchan:
                where = wchan.read()
        except OSError:
            return True  # no /proc to ask: raw mode has to do
        return "poll" in where or "select" in where

    def wait(self, timeout: float = DEADLINE) -> int:
        end = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < end:
            self._read(min(0.5, max(0.0, end - time.monotonic())))
        return self.process.wait(timeout=1)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)


def _set_controlling_tty() -> None:
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
