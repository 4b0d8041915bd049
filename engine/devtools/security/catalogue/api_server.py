"""The REST-server case: a real uvicorn server in its own process, attacked through a run and
an upload."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from .model import _REPO, PRELUDE, CaseContext, Evidence

_SERVER = """\
import os, sys, threading, time, uvicorn
def _leave_with_the_runner(parent=os.getppid()):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
threading.Thread(target=_leave_with_the_runner, daemon=True).start()
from engine.core import Engine
from engine.server import create_app
from engine.core import EngineSettings
from sandbox import IsolationLevel, Limits, SandboxConfig
level, data_dir, model, port, key = sys.argv[1:6]
settings = EngineSettings(sandbox=SandboxConfig(
    isolation=IsolationLevel(level), limits=Limits(timeout=20, memory_mb=1024)))
async def open_engine():
    return await Engine.open(model, data_dir, settings=settings)
uvicorn.run(create_app(open_engine, api_key=key), host='127.0.0.1', port=int(port),
            log_level='warning')
"""

#: Run through the REST server: everything a cell can do to its server from inside.
_KILL_THE_SERVER = """\
import glob, signal
me = os.getpid()
for path in glob.glob('/proc/[0-9]*/cmdline'):
    try:
        command = open(path, 'rb').read()
        pid = int(path.split('/')[2])
    except (OSError, ValueError):
        continue
    environ = b''
    try:
        environ = open(f'/proc/{pid}/environ', 'rb').read()
    except OSError:
        pass
    if b'AIRLOCK-CANARY' in environ:
        print('BREACH read the environment of', pid, environ[:300])
    if b'AIRLOCK-CANARY' in command:
        print('BREACH read the command line of', pid, command[:300])
    if pid != me and (b'uvicorn' in command or b'create_app' in command):
        attempt(f'kill server {pid}', lambda: os.kill(pid, signal.SIGKILL))
attempt('kill ppid', lambda: os.kill(os.getppid(), signal.SIGKILL))
attempt('kill 1', lambda: os.kill(1, signal.SIGKILL))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _api_server(ctx: CaseContext) -> Evidence:
    """A real server (uvicorn, its own process, the canary in its environment): a victim
    thread runs first; then a run whose code tries to kill the server and read its
    environment, and an upload named with ../; then the server must answer, the victim thread
    must run again, and nothing of the server's may show in the attack's outputs."""
    import json

    import httpx

    evidence = Evidence(ctx.arena, ctx.level)
    folder = Path(tempfile.mkdtemp(prefix="api-", dir=ctx.arena.root))
    key = f"sk-{ctx.arena.canary}"

    def model(name: str, items: list[dict[str, str]]) -> str:
        path = folder / f"{name}.json"
        path.write_text(json.dumps(items))
        return f"scripted:{path}"

    victim = model("victim", [{"code": "print(6 * 7)"}, {"text": "42"}])
    attack = model("attack", [{"code": PRELUDE + _KILL_THE_SERVER}, {"text": "done"}])
    port = _free_port()
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": key, "HOME": str(folder)}
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SERVER,
        str(ctx.level),
        str(folder / "data"),
        victim,
        str(port),
        key,
        env=env,
        cwd=str(_REPO),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/health")).status_code == 200:
                        break
                if server.returncode is not None:
                    raise RuntimeError("the server did not start")
                await asyncio.sleep(0.1)

            async def run(thread: str, assistant: str, prompt: str) -> dict[str, Any]:
                await http.post(
                    f"/v1/threads/{thread}/messages", json={"role": "user", "content": prompt}
                )
                started = (
                    await http.post(f"/v1/threads/{thread}/runs", json={"assistant_id": assistant})
                ).json()
                for _ in range(1200):
                    got: dict[str, Any] = (
                        await http.get(f"/v1/threads/{thread}/runs/{started['id']}")
                    ).json()
                    if got["status"] not in ("queued", "in_progress", "cancelling"):
                        steps = (
                            await http.get(f"/v1/threads/{thread}/runs/{started['id']}/steps")
                        ).json()
                        got["logs"] = "\n".join(
                            o.get("logs", "")
                            for step in steps["data"]
                            if step["type"] == "tool_calls"
                            for call in step["step_details"]["tool_calls"]
                            for o in call["code_interpreter"]["outputs"]
                        )
                        return got
                    await asyncio.sleep(0.1)
                raise TimeoutError(f"run on {thread} did not end")

            tools = [{"type": "code_interpreter"}]
            victim_assistant = (
                await http.post("/v1/assistants", json={"model": victim, "tools": tools})
            ).json()["id"]
            attack_assistant = (
                await http.post("/v1/assistants", json={"model": attack, "tools": tools})
            ).json()["id"]
            victim_thread = (await http.post("/v1/threads", json={})).json()["id"]
            attack_thread = (await http.post("/v1/threads", json={})).json()["id"]
            first = await run(victim_thread, victim_assistant, "compute")
            upload = (
                await http.post(
                    "/v1/files",
                    data={"purpose": "assistants"},
                    files={"file": (f"../../../../..{ctx.arena.drop_dir}/evil.csv", b"a,b\n")},
                )
            ).json()
            attacked = await run(attack_thread, attack_assistant, "attack")
            evidence.host_output = (
                f"upload stored as {upload.get('filename')!r}\n"
                f"attack run {attacked['status']}:\n{attacked['logs']}"
            )
            if server.returncode is not None:
                evidence.host_breaches.append("the server process died")
                return evidence
            health = await http.get("/health")
            again = await run(victim_thread, victim_assistant, "compute")
            if health.status_code != 200:
                evidence.host_breaches.append(f"the server's health is {health.status_code}")
            if (
                first["status"] != "completed"
                or again["status"] != "completed"
                or "42" not in again["logs"]
            ):
                evidence.host_breaches.append(
                    f"the victim thread's run failed after the attack: {again['status']} "
                    f"{again.get('last_error')}"
                )
            if "/" in str(upload.get("filename", "")):
                evidence.host_breaches.append(f"upload kept a path: {upload.get('filename')}")
    except httpx.HTTPError as exc:
        evidence.host_breaches.append(f"the server stopped answering: {exc!r}")
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()
    return evidence
