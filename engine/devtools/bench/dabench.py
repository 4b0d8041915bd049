"""`dabench`: InfiAgent-DABench, end-to-end data analysis with a model.

Each question's CSV is uploaded and attached to the thread (the code finds it in /mnt/data);
the prompt gives the question, its constraints and the answer format; the answers are read
from the run's last message, `@name[value]` lines (the last value of a name wins; a name
labelled several times, as question 734's is, is matched value by value, in order). A
sub-answer is right when it equals its label as a string (stripped) or, both read as numbers,
within 1e-6. Reported: ABQ (questions with every sub-answer right), PSAQ (the share of right
sub-answers, averaged over questions) and UASQ (right sub-answers over all sub-answers).

`--model oracle` is not a model: a script that reads the CSV's size, then writes the labelled
answers. It checks the harness and the scorer (every question should score), nothing else.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from engine.core import EngineSettings
from engine.core.conversation import cut_middle
from models import ModelBackend
from sandbox import Limits, SandboxConfig

from .engine_env import EngineHost, load_backend
from .engine_runs import fill_record, run_prompt
from .jsonl import read_jsonl, require_file
from .metering import KeyedScriptBackend
from .records import TaskRecord
from .suite import SHARED_DATA, BenchTask, Environment, Suite

DEFAULT_DATA = SHARED_DATA / "dabench"
QUESTIONS = "da-dev-questions.jsonl"
LABELS = "da-dev-labels.jsonl"
TABLES = "da-dev-tables"
ORACLE = "oracle"
ANSWER = re.compile(r"@(\w+)\[(.*?)\]")
DEFAULT_CELL_TIMEOUT = 120.0
ATTACHED = "\n\n[attached: "
#: Of each cell's code and logs and of the answer, kept in the results file for diagnosis.
MAX_KEPT_CHARS = 1500


def extract_answers(text: str) -> dict[str, str]:
    """name -> its last value in the text."""
    return {name: value for name, value in ANSWER.findall(text)}


def answer_values(text: str) -> dict[str, list[str]]:
    """name -> its values in the text, in order."""
    values: dict[str, list[str]] = {}
    for name, value in ANSWER.findall(text):
        values.setdefault(name, []).append(value)
    return values


def sub_answer_correct(answer: str | None, label: str) -> bool:
    if answer is None:
        return False
    got, want = answer.strip(), label.strip()
    if got == want:
        return True
    try:
        return abs(float(got) - float(want)) <= 1e-6
    except ValueError:
        return False


def score(answer_text: str, labels: list[list[str]]) -> list[dict[str, Any]]:
    """Each label against the answer's value of its name: the last one given, or, for a name
    labelled several times (one question has that), the value in the same position."""
    values = answer_values(answer_text)
    repeats = {name: sum(n == name for n, _ in labels) for name, _ in labels}
    seen: dict[str, int] = {}
    scored = []
    for name, label in labels:
        given = values.get(name, [])
        index = seen.get(name, 0)
        seen[name] = index + 1
        if repeats[name] > 1 and len(given) > 1:
            answer = given[index] if index < len(given) else None
        else:
            answer = given[-1] if given else None
        scored.append(
            {
                "name": name,
                "label": label,
                "answer": answer,
                "correct": sub_answer_correct(answer, label),
            }
        )
    return scored


def prompt_for(data: dict[str, Any]) -> str:
    return (
        f"Question: {data['question']}\n"
        f"Constraints: {data['constraints']}\n"
        f"The data is in /mnt/data/{data['file_name']}.\n"
        f"Answer format: {data['format']}\n"
        "Use the Python tool to compute the answer, then end your reply with one line per "
        "requested value, exactly in that format: @name[value]."
    )


def oracle_script(data: dict[str, Any]) -> list[dict[str, str]]:
    path = f"/mnt/data/{data['file_name']}"
    answers = "\n".join(f"@{name}[{value}]" for name, value in data["labels"])
    return [
        {"code": f"import os\nprint(os.path.getsize({path!r}), 'bytes')"},
        {"text": f"(oracle: the labelled answers)\n{answers}"},
    ]


class DABenchEnvironment(Environment):
    def __init__(self, suite: DABench, host: EngineHost, oracle: KeyedScriptBackend | None) -> None:
        self.suite = suite
        self.host = host
        self.oracle = oracle

    async def run(self, task: BenchTask) -> TaskRecord:
        record = self.suite.new_record(task)
        engine = self.host.engine
        prompt = prompt_for(task.data)
        if self.oracle is not None:
            self.oracle.add(prompt, oracle_script(task.data))
        csv = Path(task.data["path"])
        file = await asyncio.to_thread(self._upload, csv)
        done = await run_prompt(engine, self.host.assistant_id, prompt, file_ids=[file])
        await engine.sessions.end(done.thread_id)
        fill_record(record, done)
        scored = score(done.answer, task.data["labels"])
        right = sum(s["correct"] for s in scored)
        record.detail.update(
            run_status=done.run.status,
            sub_answers=scored,
            right=right,
            total=len(scored),
            level=task.data.get("level"),
            answer=done.answer[:MAX_KEPT_CHARS],
            cells=[
                {
                    "code": cell.code[:MAX_KEPT_CHARS],
                    "error": cell.error,
                    "logs": cut_middle(cell.logs, MAX_KEPT_CHARS),
                }
                for cell in done.cells
            ],
        )
        if right == len(scored) and scored:
            record.outcome = "pass"
        else:
            record.outcome, record.retries_to_success = "fail", None
            record.error = f"{right}/{len(scored)} sub-answers right" + (
                f" (run {done.run.status})" if done.run.status != "completed" else ""
            )
        return record

    def _upload(self, path: Path) -> str:
        with path.open("rb") as content:
            return self.host.engine.store.create_file(
                content, path.name, "assistants", size=path.stat().st_size
            ).id

    async def aclose(self) -> None:
        await self.host.aclose()


class DABench(Suite):
    name = "dabench"

    @property
    def folder(self) -> Path:
        return self.options.data or DEFAULT_DATA

    @property
    def data_path(self) -> Path:
        return self.folder / QUESTIONS

    def load(self) -> list[BenchTask]:
        questions = read_jsonl(require_file(self.data_path, "DABench questions"))
        labels = {
            row["id"]: row["common_answers"]
            for row in read_jsonl(require_file(self.folder / LABELS, "DABench labels"))
        }
        tasks = []
        for q in questions:
            if q["id"] not in labels:
                continue
            tasks.append(
                BenchTask(
                    str(q["id"]),
                    {
                        "question": q["question"],
                        "constraints": q.get("constraints", ""),
                        "format": q.get("format", ""),
                        "file_name": q["file_name"],
                        "path": str(self.folder / TABLES / q["file_name"]),
                        "level": q.get("level"),
                        "labels": [[str(n), str(v)] for n, v in labels[q["id"]]],
                    },
                )
            )
        return tasks

    @property
    def is_oracle(self) -> bool:
        return self.options.model == ORACLE

    async def open(self) -> Environment:
        if self.options.model is None:
            raise ValueError(
                "dabench needs a model: --model SPEC (or --model oracle, the "
                "labelled answers, to check the scorer)"
            )
        settings = EngineSettings(
            sandbox=SandboxConfig(
                limits=Limits(timeout=self.options.cell_timeout or DEFAULT_CELL_TIMEOUT)
            ),
            checkpoint_max_mb=0,  # a task's thread is never resumed
        )
        # The engine adds "[attached: ...]" to the user's text; the prompt is what precedes it.
        oracle = (
            KeyedScriptBackend("dabench-oracle", lambda text: text.split(ATTACHED)[0])
            if self.is_oracle
            else None
        )
        backend: ModelBackend = oracle if oracle is not None else load_backend(self.options)
        host = await EngineHost.open(backend, settings, name="DABench")
        return DABenchEnvironment(self, host, oracle)

    @property
    def model_label(self) -> str:
        return (
            "ORACLE: the labelled answers (a scorer check, not a model)"
            if self.is_oracle
            else str(self.options.model)
        )

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "cell_timeout": self.options.cell_timeout or DEFAULT_CELL_TIMEOUT,
            "oracle": self.is_oracle,
            "note": "ORACLE: labelled answers, a check of the harness and scorer, not a model"
            if self.is_oracle
            else "model answers",
        }

    def new_record(self, task: BenchTask) -> TaskRecord:
        record = super().new_record(task)
        # An errored question still counts its sub-answers (as wrong) in UASQ.
        record.detail.update(right=0, total=len(task.data["labels"]))
        return record

    def metrics(self, records: list[TaskRecord]) -> dict[str, Any]:
        """ABQ, PSAQ, UASQ over the recorded questions (an errored question scores 0)."""
        if not records:
            return {}
        right = [int(r.detail.get("right", 0)) for r in records]
        total = [int(r.detail.get("total", 0)) for r in records]
        psaq = [k / n if n else 0.0 for k, n in zip(right, total, strict=True)]
        metrics: dict[str, Any] = {
            "questions": len(records),
            "ABQ": sum(r.outcome == "pass" for r in records) / len(records),
            "PSAQ": sum(psaq) / len(records),
            "UASQ": sum(right) / sum(total) if sum(total) else 0.0,
            "sub_answers_right": f"{sum(right)}/{sum(total)}",
        }
        if self.is_oracle:
            metrics["oracle"] = "labelled answers: a scorer check, not a model"
        return metrics
