"""What every command shares (engine/cli/options.py): the per-cell timeout from a flag or the
settings file, errors and notes printed as text, and `doctor`'s advice printed whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli.options import CliError, Settings, engine_settings_for, fail, load_settings
from sandbox import Limits
from tests.cli_helpers import airlock, cli_env, code, script, text


def _cell_outputs(result: dict[str, object]) -> str:
    return json.dumps(result["steps"])


@pytest.mark.slow
def test_cell_timeout_from_the_flag_and_from_the_settings_file(tmp_path: Path) -> None:
    model = script(tmp_path, "sleepy", code("import time", "time.sleep(30)"), text("gave up"))
    flag = airlock(
        tmp_path,
        "run",
        "--json",
        "nap",
        "--model",
        model,
        "--cell-timeout",
        "1",
        "--data-dir",
        str(tmp_path / "store"),
    )
    assert flag.returncode == 0, flag.stderr
    assert "TimeoutError" in _cell_outputs(json.loads(flag.stdout))
    config = tmp_path / "airlock.toml"
    config.write_text(f'model = "{model}"\ncell_timeout = 1\n')
    env = cli_env(tmp_path, AIRLOCK_CONFIG=str(config))
    from_file = airlock(
        tmp_path, "run", "--json", "nap", "--data-dir", str(tmp_path / "store"), env=env
    )
    assert from_file.returncode == 0, from_file.stderr
    assert "TimeoutError" in _cell_outputs(json.loads(from_file.stdout))


def test_cell_timeout_precedence_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine_settings_for(None, Settings()).sandbox.limits.timeout == Limits.timeout
    assert engine_settings_for(None, Settings(cell_timeout=7)).sandbox.limits.timeout == 7
    assert engine_settings_for(3, Settings(cell_timeout=7)).sandbox.limits.timeout == 3
    with pytest.raises(CliError, match="must be positive"):
        engine_settings_for(0, Settings())
    config = tmp_path / "airlock.toml"
    monkeypatch.setenv("AIRLOCK_CONFIG", str(config))
    config.write_text("cell_timeout = 2.5\n")
    assert load_settings().cell_timeout == 2.5
    for bad in ('"60"', "0", "true"):
        config.write_text(f"cell_timeout = {bad}\n")
        with pytest.raises(CliError, match="cell_timeout must be a positive number"):
            load_settings()


def test_every_model_command_takes_cell_timeout(tmp_path: Path) -> None:
    from engine.cli.app import app

    runner = CliRunner()
    for command in ("run", "chat", "serve", "demo", "exec", "mcp"):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert "--cell-timeout" in shown.output, command
    model = script(tmp_path, "unused", text("never asked"))
    refused = airlock(tmp_path, "serve", "--model", model, "--cell-timeout", "0")
    assert refused.returncode == 2 and "--cell-timeout must be positive" in refused.stderr


def test_errors_are_printed_as_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    fail("no such file: data[2024].csv [bold]x[/]")
    assert "no such file: data[2024].csv [bold]x[/]" in capsys.readouterr().err


def test_doctor_names_the_extra_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli import sandbox_commands
    from engine.cli.app import app

    monkeypatch.setattr(sandbox_commands, "_missing_modules", lambda python: ["numpy"])
    shown = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert "numpy (pip install 'airlock[analysis]')" in shown.output
