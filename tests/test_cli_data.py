"""`airlock files`, `airlock threads` and `airlock export` over a store that a real run filled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.cli_helpers import airlock, code, run_json, script, text


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A store with one thread: an upload, a cell that writes a CSV and shows a chart."""
    tmp_path = tmp_path_factory.mktemp("data")
    data = tmp_path / "input.csv"
    data.write_text("a,b\n1,2\n")
    model = script(
        tmp_path,
        "fill",
        code(
            "import pandas as pd",
            "import matplotlib.pyplot as plt",
            "df = pd.read_csv('/mnt/data/input.csv')",
            "df.to_csv('/mnt/data/result.csv', index=False)",
            "plt.plot(df.a, df.b)",
            "plt.show()",
            "print('rows:', len(df))",
        ),
        text("Done: [result](sandbox:/mnt/data/result.csv)."),
    )
    result = run_json(
        tmp_path,
        "Copy the table",
        "--file",
        str(data),
        "--model",
        model,
        "--out",
        str(tmp_path / "out"),
        "--data-dir",
        str(tmp_path / "store"),
    )
    return tmp_path, result


def store_args(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "store")]


def test_files_list_show_download_delete(
    filled: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    base, _ = filled
    listed = airlock(base, "files", "list", "--json", *store_args(base))
    assert listed.returncode == 0, listed.stderr
    files = {f["filename"]: f for f in json.loads(listed.stdout)}
    assert files["input.csv"]["purpose"] == "assistants"
    assert files["result.csv"]["purpose"] == "assistants_output"
    # Without a subcommand: the list, as a table.
    table = airlock(base, "files", *store_args(base))
    assert table.returncode == 0, table.stderr
    assert "result.csv" in table.stdout and files["result.csv"]["id"] in table.stdout
    file_id = files["result.csv"]["id"]
    shown = airlock(base, "files", "show", file_id, *store_args(base))
    assert (
        shown.returncode == 0
        and "result.csv" in shown.stdout
        and "assistants_output" in shown.stdout
    )
    target = tmp_path / "copy.csv"
    got = airlock(base, "files", "download", file_id, "--out", str(target), *store_args(base))
    assert got.returncode == 0, got.stderr
    assert target.read_text() == "a,b\n1,2\n"
    # Into a folder: the file's own name; with no --out: the current folder.
    assert (
        airlock(
            base, "files", "download", file_id, "--out", str(tmp_path), *store_args(base)
        ).returncode
        == 0
    )
    assert (
        airlock(
            base, "files", "download", files["input.csv"]["id"], *store_args(base), cwd=tmp_path
        ).returncode
        == 0
    )
    assert (tmp_path / "result.csv").is_file() and (tmp_path / "input.csv").is_file()
    image = next(f for name, f in files.items() if name.startswith("image-"))
    deleted = airlock(base, "files", "delete", image["id"], *store_args(base))
    assert deleted.returncode == 0 and image["id"] in deleted.stdout
    gone = airlock(base, "files", "show", image["id"], *store_args(base))
    assert gone.returncode == 2
    assert gone.stderr.strip().splitlines() == [f"error: No file found with id '{image['id']}'."]


def test_threads_list_show_export_delete(
    filled: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    base, result = filled
    thread = result["run"]["thread_id"]
    listed = airlock(base, "threads", "list", *store_args(base))
    assert listed.returncode == 0, listed.stderr
    assert thread in listed.stdout and "Copy the table" in listed.stdout
    shown = airlock(base, "threads", "show", thread, *store_args(base))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.index("Copy the table") < shown.stdout.index("Done: result")
    notebook, report = tmp_path / "t.ipynb", tmp_path / "t.md"
    exported = airlock(
        base, "export", thread, "--ipynb", str(notebook), "--md", str(report), *store_args(base)
    )
    assert exported.returncode == 0, exported.stderr
    parsed = nbformat.read(str(notebook), as_version=4)
    nbformat.validate(parsed)
    sources = "\n".join(c.source for c in parsed.cells)
    assert "df.to_csv('/mnt/data/result.csv', index=False)" in sources
    assert "Copy the table" in sources
    assert "rows: 1" in report.read_text()
    nothing = airlock(base, "export", thread, *store_args(base))
    assert nothing.returncode == 2 and "--ipynb" in nothing.stderr
    unknown = airlock(base, "export", "thread_nope", "--md", str(report), *store_args(base))
    assert unknown.returncode == 2 and "thread_nope" in unknown.stderr


def test_threads_delete(tmp_path: Path) -> None:
    model = script(tmp_path, "hello", code("kept = 1"), text("Hello."))
    result = run_json(tmp_path, "hi", "--model", model, *store_args(tmp_path))
    thread = result["run"]["thread_id"]
    checkpoint = tmp_path / "store" / "checkpoints" / thread
    assert (checkpoint / "manifest.json").is_file()  # saved as the run's process ended
    deleted = airlock(tmp_path, "threads", "delete", thread, *store_args(tmp_path))
    assert deleted.returncode == 0, deleted.stderr
    assert not checkpoint.exists()  # it went with its thread
    assert airlock(tmp_path, "threads", "show", thread, *store_args(tmp_path)).returncode == 2
    listed = airlock(tmp_path, "threads", "--json", *store_args(tmp_path))
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
