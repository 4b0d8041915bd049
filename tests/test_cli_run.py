"""`airlock run`, driven as a user would: a subprocess with a scripted model, a real kernel and a
real store in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.options import CliError, Settings, load_settings, resolve_model
from models.resolve import gguf_files
from tests.cli_helpers import airlock, cli_env, code, run_json, script, text

DATA = "region,sales\nNorth,10\nSouth,32\n"


def test_run_shows_code_output_retry_answer_and_saves_files(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text(DATA)
    model = script(
        tmp_path,
        "analysis",
        code("import pandas as pd", "df = pd.read_csv('/mnt/data/data.csv')", "df['Sales'].sum()"),
        code("total = df['sales'].sum()", "print('total sales:', total)"),
        code(
            "import matplotlib.pyplot as plt",
            "df.plot.bar(x='region', y='sales')",
            "plt.savefig('/mnt/data/chart.png')",
            "plt.show()",
            "df.to_csv('/mnt/data/summary.csv', index=False)",
        ),
        text(
            "Total sales are **42**: see [the chart](sandbox:/mnt/data/chart.png) and "
            "[the table](sandbox:/mnt/data/summary.csv)."
        ),
    )
    out = tmp_path / "out"
    done = airlock(
        tmp_path,
        "run",
        "What are the total sales?",
        "--file",
        str(data),
        "--model",
        model,
        "--out",
        str(out),
        "--data-dir",
        str(tmp_path / "store"),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    shown = done.stdout
    # The code, its output (the failure too), the retry, the answer, in that order.
    first = shown.index("df['Sales'].sum()")
    error = shown.index("KeyError", first)
    retry = shown.index("retry 1", error)
    total = shown.index("total sales: 42", retry)
    answer = shown.index("Total sales are 42", total)
    assert "In [3]" in shown[total:answer]
    assert "sandbox:/mnt/data/chart.png" in shown[answer:]
    # Images and files saved under --out, their paths printed.
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "summary.csv").read_text() == DATA
    shown_images = sorted(out.glob("image-*.png"))
    assert len(shown_images) == 1 and f"[image] {shown_images[0]}" in shown
    assert f"{out / 'summary.csv'}" in shown[answer:]
    assert "thread: thread_" in shown


def test_run_saves_every_written_file_in_airlock_out_by_default(tmp_path: Path) -> None:
    model = script(
        tmp_path,
        "write",
        code(
            "open('/mnt/data/a.txt', 'w').write('hi')",
            "open('/mnt/data/b.txt', 'w').write('unlinked')",
        ),
        text("Wrote [a.txt](sandbox:/mnt/data/a.txt)."),
    )
    done = airlock(
        tmp_path, "run", "write a file", "--model", model, "--data-dir", str(tmp_path / "store")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "airlock-out" / "a.txt").read_text() == "hi"
    # A file the code wrote is saved even when the answer does not link it.
    assert (tmp_path / "airlock-out" / "b.txt").read_text() == "unlinked"


def test_run_json_prints_the_assistants_shapes(tmp_path: Path) -> None:
    model = script(
        tmp_path,
        "json",
        code("print(6 * 7)"),
        code("import matplotlib.pyplot as plt", "plt.plot([1, 2])", "plt.show()"),
        text("It is 42."),
    )
    out = tmp_path / "out"
    result = run_json(
        tmp_path,
        "six times seven?",
        "--model",
        model,
        "--out",
        str(out),
        "--data-dir",
        str(tmp_path / "store"),
    )
    assert {"run", "steps", "messages", "files"} <= set(result)
    run = result["run"]
    assert run["object"] == "thread.run" and run["status"] == "completed"
    assert run["id"].startswith("run_") and run["thread_id"].startswith("thread_")
    steps = result["steps"]
    assert [s["type"] for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    assert all(s["object"] == "thread.run.step" and s["run_id"] == run["id"] for s in steps)
    call = steps[0]["step_details"]["tool_calls"][0]
    assert call["type"] == "code_interpreter"
    assert call["code_interpreter"] == {
        "input": "print(6 * 7)",
        "outputs": [{"type": "logs", "logs": "42\n"}],
    }
    [message] = result["messages"]
    assert message["object"] == "thread.message" and message["role"] == "assistant"
    assert message["content"][-1]["text"]["value"] == "It is 42."
    [file] = result["files"]
    assert file["object"] == "file" and file["purpose"] == "assistants_output"
    assert Path(result["saved"][file["id"]]).read_bytes().startswith(b"\x89PNG")


def test_run_thread_continues_a_conversation_across_processes(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    data = tmp_path / "data.csv"
    data.write_text(DATA)
    define = code(
        "import pandas as pd",
        "from sklearn.linear_model import LinearRegression",
        "df = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'y': [3.0, 5.0, 7.0]})",
        "def doubled(v):",
        "    return 2 * v",
        "fit = LinearRegression().fit(df[['x']], df['y'])",
    )
    first = run_json(
        tmp_path,
        "remember these",
        "--file",
        str(data),
        "--data-dir",
        store,
        "--model",
        script(tmp_path, "one", define, text("Remembered.")),
    )
    thread = first["run"]["thread_id"]
    model = script(
        tmp_path,
        "two",
        code(
            "import os",
            "print(sorted(os.listdir('/mnt/data')))",
            "print(df['y'].sum(), doubled(21), round(float(fit.coef_[0]), 1))",
        ),
        text("All still here."),
    )
    done = airlock(
        tmp_path,
        "run",
        "are they still there?",
        "--thread",
        thread,
        "--model",
        model,
        "--data-dir",
        store,
    )
    assert done.returncode == 0, done.stderr
    assert "come back from its checkpoint" in done.stderr  # said plainly
    assert "['data.csv']" in done.stdout  # the thread's upload, put back once
    assert "15.0 42 2.0" in done.stdout  # a new process, the same variables
    # What came back is shown once, in the first cell's logs.
    assert done.stdout.count("restored from its checkpoint") == 1
    shown = airlock(tmp_path, "threads", "show", thread, "--json", "--data-dir", store)
    assert shown.returncode == 0, shown.stderr
    import json

    messages = json.loads(shown.stdout)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"][0]["text"]["value"] == "are they still there?"


def test_run_that_fails_exits_1(tmp_path: Path) -> None:
    model = script(tmp_path, "fails", *[code("1 / 0")] * 5)
    done = airlock(
        tmp_path, "run", "divide", "--model", model, "--data-dir", str(tmp_path / "store")
    )
    assert done.returncode == 1
    assert "ZeroDivisionError" in done.stdout
    assert "retry 4" in done.stdout
    assert "run failed" in done.stdout


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    model = script(tmp_path, "unused", text("no"))
    store = str(tmp_path / "store")
    missing = airlock(
        tmp_path,
        "run",
        "hi",
        "--file",
        str(tmp_path / "nope.csv"),
        "--model",
        model,
        "--data-dir",
        store,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"error: no such file: {tmp_path / 'nope.csv'}"]
    bad_flag = airlock(tmp_path, "run", "hi", "--frobnicate", "--model", model)
    assert bad_flag.returncode == 2 and "--frobnicate" in bad_flag.stderr
    assert len(bad_flag.stderr.strip().splitlines()) == 1
    no_thread = airlock(
        tmp_path, "run", "hi", "--thread", "thread_nope", "--model", model, "--data-dir", store
    )
    assert no_thread.returncode == 2 and len(no_thread.stderr.strip().splitlines()) == 1
    assert "thread_nope" in no_thread.stderr
    no_script = airlock(tmp_path, "run", "hi", "--model", f"scripted:{tmp_path / 'x.json'}")
    assert no_script.returncode == 2 and "no such script file" in no_script.stderr
    unknown = airlock(tmp_path, "run", "hi", "--model", "no-such-model")
    assert unknown.returncode == 2 and "unknown model 'no-such-model'" in unknown.stderr


def test_no_model_says_how_to_get_one(tmp_path: Path) -> None:
    if any(p.parent.name == "models" and "xdg-data" not in str(p) for p in gguf_files()):
        pytest.skip("a GGUF in the project's models folder would be found")
    done = airlock(tmp_path, "run", "hi", "--data-dir", str(tmp_path / "store"))
    assert done.returncode == 2
    message = done.stderr
    assert len(message.strip().splitlines()) == 1
    for hint in (
        "airlock models pull qwen2.5-coder-1.5b",
        "--model PATH.gguf",
        "http://HOST:PORT/v1#MODEL",
        "$AIRLOCK_MODEL",
    ):
        assert hint in message
    assert done.stdout == ""


def test_settings_file_and_environment(tmp_path: Path) -> None:
    model = script(tmp_path, "settings", code("print('from settings')"), text("ok"))
    config = tmp_path / "airlock.toml"
    config.write_text(f'model = "{model}"\ndata_dir = "store"\nout = "{tmp_path / "out"}"\n')
    env = cli_env(tmp_path, AIRLOCK_CONFIG=str(config))
    done = airlock(tmp_path, "run", "hi", env=env)
    assert done.returncode == 0, done.stderr
    assert "from settings" in done.stdout
    assert (tmp_path / "store" / "airlock.db").is_file()  # relative to the settings file
    # The environment beats the file, a flag beats both.
    other = script(tmp_path, "env", code("print('from env')"), text("ok"))
    env["AIRLOCK_MODEL"] = other
    assert "from env" in airlock(tmp_path, "run", "hi", env=env).stdout
    flag = script(tmp_path, "flag", code("print('from flag')"), text("ok"))
    assert "from flag" in airlock(tmp_path, "run", "hi", "--model", flag, env=env).stdout
    config.write_text('modle = "x"\n')
    typo = airlock(tmp_path, "run", "hi", env=env)
    assert typo.returncode == 2 and "unknown key(s) modle" in typo.stderr


def test_models_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("AIRLOCK_MODEL", "AIRLOCK_CONFIG", "AIRLOCK_MODELS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "data" / "airlock" / "models"
    folder.mkdir(parents=True)
    gguf = folder / "tiny-coder.gguf"
    gguf.write_bytes(b"GGUF")
    settings = load_settings()
    assert settings == Settings()
    for name in ("tiny-coder", "tiny-coder.gguf"):
        choice = resolve_model(name, None, settings)
        assert choice is not None and choice.spec == str(gguf)
    endpoint = resolve_model("http://127.0.0.1:9/v1#m", None, settings)
    assert endpoint is not None and endpoint.spec == "http://127.0.0.1:9/v1#m"
    config = tmp_path / "models.toml"
    config.write_text('[models.coder]\nspec = "tiny-coder.gguf"\n')
    named = resolve_model("coder", config, settings)
    assert named is not None and named.spec == "coder" and named.config is not None
    with pytest.raises(CliError, match="known: tiny-coder"):
        resolve_model("other", None, settings)
    # No model asked for: the first GGUF found is the default.
    found = resolve_model(None, None, settings)
    assert (found is not None and found.spec == str(gguf)) or gguf_files()[0] != gguf


def test_ctrl_c_cancels_the_run_and_exits_1(tmp_path: Path) -> None:
    from tests.cli_helpers import AIRLOCK, Terminal

    model = script(tmp_path, "slow", code("import time", "time.sleep(60)"), text("Slept."))
    term = Terminal(
        [*AIRLOCK, "run", "sleep", "--model", model, "--data-dir", str(tmp_path / "store")],
        cli_env(tmp_path),
        tmp_path,
        timeout=45,
    )
    try:
        term.expect("In \\[1\\]")
        term.send("\x03")
        term.expect("run cancelled")
        assert term.wait() == 1
        assert "Slept" not in term.seen
    finally:
        term.close()
