"""A capped server: at most `max_sessions` kernels alive, idle sessions evicted least recently
used first, and 429 with Retry-After (OpenAI's shape) when every session is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from engine.cli.options import CliError, load_settings
from engine.core.settings import EngineSettings
from sandbox import SandboxConfig
from tests.conftest import TEST_LIMITS
from tests.server_fixtures import BETA_WARNING_FILTER, RunningServer, running_server, write_script

pytestmark = [pytest.mark.filterwarnings(BETA_WARNING_FILTER), pytest.mark.slow]

CAP = 3


class KernelCounter:
    """Counts the kernels under a runtime root, all the time, from a thread of its own."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def count(self) -> int:
        found = 0
        for process in psutil.process_iter(["cmdline"]):
            cmdline = process.info["cmdline"] or ()
            if "ipykernel_launcher" in cmdline and any(self.root in p for p in cmdline):
                found += 1
        return found

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.count())

    def __enter__(self) -> KernelCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def sessions_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capacity-sessions")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sessions_root: Path
) -> Iterator[RunningServer]:
    settings = EngineSettings(
        sandbox=SandboxConfig(limits=TEST_LIMITS, runtime_root=sessions_root), max_sessions=CAP
    )
    with running_server(
        tmp_path_factory.mktemp("capacity") / "server", settings=settings
    ) as running:
        yield running


def _assistant(client: openai.OpenAI, tmp_path: Path, name: str, code: str) -> str:
    model = write_script(tmp_path / f"{name}.json", [{"code": code}, {"text": f"{name}: done."}])
    return client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}]).id


def test_six_threads_in_turn_on_three_sessions(
    server: RunningServer, sessions_root: Path, tmp_path: Path
) -> None:
    client = server.client()
    assistant = _assistant(client, tmp_path, "turns", "x = 6 * 7\nprint(x)")
    with KernelCounter(sessions_root) as counter:
        threads = []
        for index in range(6):
            thread = client.beta.threads.create(
                messages=[{"role": "user", "content": f"question {index}"}]
            )
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant, poll_interval_ms=50
            )
            assert run.status == "completed", (index, run.last_error)
            steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
            logs = [
                o.logs
                for s in steps
                if s.step_details.type == "tool_calls"
                for c in s.step_details.tool_calls
                if c.type == "code_interpreter"
                for o in c.code_interpreter.outputs
                if o.type == "logs"
            ]
            assert logs == ["42\n"], (index, logs)
            threads.append(thread.id)
            assert server.engine.sessions.live_count <= CAP
        # The last three threads hold the sessions; the first three were evicted, oldest first.
        assert sorted(server.engine.sessions.active_threads) == sorted(threads[3:])
        # An evicted thread runs again: a fresh kernel (its variables are gone, said plainly).
        again = client.beta.threads.runs.create_and_poll(
            thread_id=threads[0], assistant_id=assistant, poll_interval_ms=50
        )
        assert again.status == "completed"
        final = counter.count()
    assert counter.peak <= CAP, f"{counter.peak} kernels were alive at once"
    assert final == CAP


def test_a_full_house_gets_429_with_retry_after(server: RunningServer, tmp_path: Path) -> None:
    client = server.client()
    sleeper = _assistant(client, tmp_path, "sleeper", "import time\ntime.sleep(60)")
    busy = []
    for index in range(CAP):
        thread = client.beta.threads.create(messages=[{"role": "user", "content": f"b{index}"}])
        busy.append(
            (
                thread.id,
                client.beta.threads.runs.create(thread_id=thread.id, assistant_id=sleeper).id,
            )
        )
    try:
        deadline = time.monotonic() + 120
        # Every session busy: each of the three runs has its kernel and is in its cell.
        while not all(
            server.engine.sessions.get(t) is not None
            and server.engine.sessions.get(t).lock.locked()  # type: ignore[union-attr]
            for t, _ in busy
        ):
            assert time.monotonic() < deadline, "the busy runs did not start their cells"
            time.sleep(0.05)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "one more"}])
        with pytest.raises(openai.RateLimitError) as refused:
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id=sleeper)
        response = refused.value.response
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "rate_limit_exceeded" and f"All {CAP}" in error["message"]
        assert list(client.beta.threads.runs.list(thread_id=thread.id)) == []  # nothing stored
        new_thread = httpx.post(
            f"{server.url}/v1/threads/runs",
            timeout=30,
            json={
                "assistant_id": sleeper,
                "thread": {"messages": [{"role": "user", "content": "x"}]},
            },
        )
        assert new_thread.status_code == 429 and "retry-after" in new_thread.headers
        # A thread that already has a session is never refused: its run waits its turn there.
        assert server.engine.sessions.has_room(busy[0][0])
    finally:
        for thread_id, run_id in busy:
            client.beta.threads.runs.cancel(run_id, thread_id=thread_id)
        for thread_id, run_id in busy:
            run = client.beta.threads.runs.poll(run_id, thread_id=thread_id, poll_interval_ms=50)
            assert run.status == "cancelled"
    # Free again: idle sessions make room for a new thread.
    assert server.engine.sessions.has_room("")


def test_settings_file_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.setenv("AIRLOCK_CONFIG", str(config))
    config.write_text("max_sessions = 3\nsession_idle_seconds = 90\n")
    settings = load_settings()
    assert (settings.max_sessions, settings.session_idle_seconds) == (3, 90.0)
    for bad in (
        "max_sessions = 0",
        "max_sessions = 2.5",
        'max_sessions = "3"',
        "session_idle_seconds = -1",
    ):
        config.write_text(bad + "\n")
        with pytest.raises(CliError, match="must be a positive"):
            load_settings()
