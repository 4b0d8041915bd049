"""A server restart: responses, containers and their files are in the store; a container's
fresh kernel gets its files back (not its variables), and old databases gain the tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from responses_fixtures import OUTPUTS, container_tool, script
from server_fixtures import running_server

from engine.store import Store


def test_containers_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    code = "open('/mnt/data/made.txt', 'w').write('made')\nkept = 1"
    with running_server(data) as server:
        client = server.client()
        container = client.containers.create(name="durable")
        client.containers.files.create(container.id, file=("in.txt", b"input"))
        first = client.responses.create(
            model=script(tmp_path, {"code": code}, {"text": "ok"}),
            tools=[container_tool(container.id)],
            input="make",
        )
    with running_server(data) as server:
        client = server.client()
        assert client.responses.retrieve(first.id).output_text == "ok"
        assert client.containers.retrieve(container.id).status == "running"
        paths = sorted(f.path for f in client.containers.files.list(container.id))
        assert paths == ["/mnt/data/in.txt", "/mnt/data/made.txt"]
        check = (
            "print(open('/mnt/data/in.txt').read(), open('/mnt/data/made.txt').read(), "
            "'kept' in globals())"
        )
        again = client.responses.create(
            model=script(tmp_path, {"code": check}, {"text": "ok"}),
            tools=[container_tool(container.id)],
            input="check",
            include=[OUTPUTS],
        )
        call = next(item for item in again.output if item.type == "code_interpreter_call")
        assert call.outputs is not None
        assert getattr(call.outputs[0], "logs", None) == "input made False\n"


def test_an_older_database_gains_the_tables(tmp_path: Path) -> None:
    store_dir = tmp_path / "server" / "store"  # where running_server keeps its store
    with Store(store_dir) as store:
        stored = store.create_file(b"old", "old.txt", "assistants")
    with sqlite3.connect(store_dir / "airlock.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "responses" not in tables
    with running_server(tmp_path / "server") as server:
        client = server.client()
        container = client.containers.create(name="x", file_ids=[stored.id])
        assert [f.path for f in client.containers.files.list(container.id)] == ["/mnt/data/old.txt"]
        with sqlite3.connect(store_dir / "airlock.db") as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"responses", "containers", "container_files"} <= tables
