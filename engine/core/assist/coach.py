"""The run loop's help for the model, as state kept over one run: which cells failed and which
ran clean, how hot to sample next, when code is required or not offered, what the model is told
about a cell. The loop asks; the coach decides; nothing here touches the store or the kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from models import ChatMessage, CodeTool
from sandbox import CellError, Execution

from ..conversation import describe_execution
from .feedback import error_digest, normalise, salvage
from .policy import AssistPolicy
from .result_lines import ResultLines

#: Sent back when a model answers before any cell of the run has succeeded.
COMPUTE_FIRST = (
    "No code has run successfully yet, so that answer is not computed. Use the "
    "python tool to compute it from the data first."
)
#: Ends the description of a clean cell, when the policy asks for it: small models lose the
#: answer format a few turns after the request gave it, and answer in loose prose. Asking them
#: to copy the result lines from the output is what they follow (with the default 1.5B model:
#: 10 of 12 final answers in the requested format, against 0 of 8 with no reminder and 2 of 8
#: with "in the answer format the user asked for"; DABench questions 0, 19, 34 and 66).
ANSWER_REMINDER = (
    "If this output answers the question, reply now with the final answer in "
    "plain text, no code, and end it with the result lines copied from this "
    "output in the format the user asked for."
)
#: Replaces the answer reminder when the question asks for rounding and the output is not.
ROUND_FIRST = (
    "The question asks for rounded values and this output has unrounded ones. Round them in "
    "code as the question asks (for example round(x, 2)) and print them again."
)
#: Replaces the answer reminder after a clean cell that showed nothing: a small model asked to
#: answer from no output guesses (the default model answered @child_count[0] ... after a cell
#: that only imported, and wrote the answer format itself into its code on another question).
PRINT_FIRST = (
    "The code ran but printed nothing. If the question asks for values, print them with "
    "print(...) before you answer."
)
#: A question that asks for rounded values.
_ASKS_ROUNDING = re.compile(r"\bround(?:ed|ing)?\b|\bdecimal (?:place|point|digit)s?\b", re.I)
#: A number printed with more digits than anyone asks for: 0.2051038255697283, 1.2e-17.
_LONG_DECIMAL = re.compile(r"\d\.\d{6,}|\d(?:\.\d+)?e-\d+")
#: The logs of a cell not run because it already failed (views count it as a failed cell).
REPEATED_FAILURE = (
    "[airlock] not run: this code is identical to a cell of this run that already failed"
)
#: Opens the request that replaces a failed cell sent again (see `Coach.rewind`).
REWOUND = "Your code failed with this error:"
#: Opens each hint as the cell's logs show it: the user sees what the model was told.
HINT_NOTICE = "[airlock] hint for the model: "
#: Output that says a clean cell computed nothing: worth asking the kernel why.
_SUSPICIOUS = re.compile(r"\b(?:nan|NaN)\b|Empty DataFrame|Series\(\[\]")
#: Errors after which the kernel's namespace has nothing useful to say.
_NO_HINT_ERRORS = {
    "SyntaxError",
    "IndentationError",
    "TabError",
    "TimeoutError",
    "KeyboardInterrupt",
}


def without_echoes(text: str) -> str:
    """The model's final text without what it copied of Airlock's own words from a cell's
    output (its `[airlock]` notices, the reminders), and without a fence left open by that."""
    kept = [line for line in text.splitlines() if not line.lstrip().startswith("[airlock]")]
    cleaned = "\n".join(kept)
    for sentence in (ANSWER_REMINDER, ROUND_FIRST, PRINT_FIRST, COMPUTE_FIRST):
        cleaned = cleaned.replace(sentence, "")
    lines = cleaned.rstrip().splitlines()
    if sum(line.strip().startswith("```") for line in lines) % 2 and lines[-1].strip() == "```":
        lines.pop()
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return result if result else text


def _shown(execution: Execution) -> str:
    """What a cell printed and displayed as text."""
    return execution.stdout + "".join("\n" + (d.text or "") for d in execution.displays)


def _shows_nothing(execution: Execution, image_count: int) -> bool:
    """A clean cell that printed, displayed, showed and wrote nothing."""
    return (
        execution.error is None
        and not _shown(execution).strip()
        and not image_count
        and not execution.files
    )


@dataclass(frozen=True)
class Repeat:
    """A cell the model sent again: it is not run; `told` replaces its output."""

    kind: Literal["failed", "clean"]
    told: str
    #: Left out of the conversation: the model is asked again as if it had not sent it.
    hidden: bool
    #: The failed cell it repeats leaves the conversation too; the error is restated.
    rewind: bool = False


@dataclass
class Coach:
    policy: AssistPolicy
    #: One cell's output, as the model sees it (RunLimits.max_output_chars).
    max_output_chars: int
    #: A cell of this run ran without an error.
    succeeded: bool = False
    nudges: int = 0
    #: normalised code -> what the model was told when it failed, since the last clean cell
    #: (a clean cell changes the state: what failed before may work now)
    failed_cells: dict[str, str] = field(default_factory=dict)
    #: normalised code of the last cell run, when it ran clean
    last_clean: str | None = None
    #: normalised code -> how often it was sent again after failing
    repeats: dict[str, int] = field(default_factory=dict)
    #: Added to the next call's temperature (a repeated cell asks for a different reply).
    extra_heat: float = 0.0
    #: The next call may only answer in text (the model re-ran a clean cell).
    answer_now: bool = False
    #: The error of the last cell that failed when it ran (a repeat is not run: not this).
    last_error: CellError | None = None
    #: Turns may be taken out of the conversation (not with a model that replays a script by
    #: position: it would replay its earlier replies).
    may_rewind: bool = True
    #: The user's request this run answers (the last user message before the run).
    question: str = ""
    #: The model was asked to round its values (once a run).
    rounding_asked: bool = False
    #: What the run's clean cells printed in the asked format (`policy.keep_result_lines`).
    result_lines: ResultLines = field(default_factory=ResultLines)

    # ------------------------------------------------------------ the next model call

    def temperature(self, api_temperature: float | None, failures_in_a_row: int) -> float:
        """The run's temperature on the model's scale, hotter after each failure in a row,
        cooler after a clean cell (the answer is likely next)."""
        base = self.policy.sampling_temperature(api_temperature)
        if self.last_clean is not None and not self.extra_heat:
            return min(base, self.policy.answer_temperature)
        heat = self.policy.retry_temperature_step * failures_in_a_row + self.extra_heat
        return min(max(1.0, base), base + heat)

    def code_tool(
        self, enabled: bool, *, first_call: bool, required: bool, has_files: bool
    ) -> CodeTool:
        """Whether the next reply may (True), must ("required") or may not (False) be code."""
        if not enabled:
            return False
        if self.answer_now:
            self.answer_now = False
            return False
        if first_call and (required or (self.policy.code_first_with_files and has_files)):
            return "required"
        return True

    def needs_computing(self, *, code_enabled: bool, has_files: bool, code_calls: int) -> bool:
        """A text answer that comes before any clean cell, in a run that has data or has
        tried code, cannot be computed yet: it is sent back (a bounded number of times)."""
        if not code_enabled or self.succeeded or self.nudges >= self.policy.compute_nudges:
            return False
        if has_files or code_calls > 0:
            self.nudges += 1
            return True
        return False

    # ------------------------------------------------------------ before a cell

    def check_repeat(self, code: str) -> Repeat | None:
        """A cell that failed since the last clean one, or the last cell again when it ran
        clean, is not run again: nothing has changed that would make it do otherwise."""
        if not self.policy.skip_repeated_cells:
            return None
        key = normalise(code)
        if key == self.last_clean:
            # It said what it says: the model wants to answer and does not know how to stop.
            self.answer_now = True
            return Repeat(
                "clean",
                "This code already ran without error; its output is "
                "above. Reply now with the final answer in plain text.",
                hidden=True,
            )
        earlier = self.failed_cells.get(key)
        if earlier is None:
            return None
        self.repeats[key] = self.repeats.get(key, 0) + 1
        self.extra_heat += self.policy.retry_temperature_step
        if self.policy.rewind_repeated_failures and self.may_rewind:
            return Repeat(
                "failed",
                f"{REWOUND}\n{earlier}\nWrite new code that cannot fail this way; do not "
                "send the same code again.",
                hidden=True,
                rewind=True,
            )
        return Repeat(
            "failed",
            "This code is the same as code that already failed, so it was "
            f"not run again. It failed with:\n{earlier}\nChange the code to fix that "
            "error.",
            hidden=self.repeats[key] == 1,
        )

    @staticmethod
    def rewind(turns: list[ChatMessage], code: str, repeat: Repeat) -> None:
        """Take the failed cell that `code` repeats out of the run's turns, with its output and
        any earlier restatement, and end the turns with the error restated: what the model then
        sees holds no code to copy, only what went wrong."""
        key = normalise(code)
        kept: list[ChatMessage] = []
        dropped_calls: set[str] = set()
        for turn in turns:
            call = turn.code_call
            if call is not None and normalise(call.code) == key:
                dropped_calls.add(call.call_id)
                continue
            its_output = turn.role == "tool" and turn.call_id in dropped_calls
            restated = turn.role == "user" and turn.content.startswith(REWOUND)
            if not (its_output or restated):
                kept.append(turn)
        kept.append(ChatMessage.user(repeat.told))
        turns[:] = kept

    @staticmethod
    def not_run(code: str, repeat: Repeat) -> Execution:
        """The record of a cell that was not run: an error for a failed one (the run's failure
        count goes on), a notice for a clean one."""
        if repeat.kind == "clean":
            return Execution(
                code=code,
                notices=[
                    "[airlock] not run: identical to a cell of this run that already ran without "
                    "error"
                ],
            )
        return Execution(
            code=code,
            error=CellError(
                name="RepeatedCode",
                value="identical to a cell that already failed; not run",
                traceback=REPEATED_FAILURE,
            ),
        )

    def prepare(self, code: str) -> tuple[str, list[str]]:
        """The code to run, and the answer lines taken out of it (see `feedback.salvage`)."""
        return salvage(code) if self.policy.salvage_answer_lines else (code, [])

    @staticmethod
    def note_answer_lines(execution: Execution, answer_lines: list[str]) -> None:
        # Names only: a small model copies a value it sees here, a guessed one included.
        names = ", ".join(dict.fromkeys(line.split("[", 1)[0] for line in answer_lines))
        execution.notices.append(
            f"[airlock] answer lines are not Python, so they were taken out of the code ({names});"
            " one whose value is an expression printed that value. Write the answer lines in your"
            " final answer, with the values the code printed."
        )

    # ------------------------------------------------------------ after a cell

    def wants_hints(self, execution: Execution) -> bool:
        """Whether asking the kernel about the failure can tell the model something."""
        error = execution.error
        return (
            self.policy.error_digest
            and error is not None
            and execution.restart is None
            and not execution.timed_out
            and not execution.cancelled
            and error.name not in _NO_HINT_ERRORS
        )

    def suspicious(self, execution: Execution) -> bool:
        """A clean cell whose output holds nan or an empty frame: the kernel may know why (a
        filter that selects nothing)."""
        if not self.policy.error_digest or execution.error is not None:
            return False
        shown = execution.stdout + "".join(d.text or "" for d in execution.displays)
        return bool(_SUSPICIOUS.search(shown))

    @staticmethod
    def show_hints(execution: Execution, hints: list[str]) -> None:
        """The hints go into the cell's logs too (the model reads them in the digest)."""
        execution.notices.extend(HINT_NOTICE + hint for hint in hints)

    def outcome(self, execution: Execution) -> None:
        """A cell ended (run or not): a clean one cools the sampling down again."""
        if execution.ok and not execution.cancelled:
            self.succeeded = True
            self.extra_heat = 0.0
            if self.policy.keep_result_lines:
                self.result_lines.collect(_shown(execution), self.question)

    def final_text(self, text: str) -> tuple[str, str]:
        """The model's final answer as stored, Airlock's own words it copied left out and the
        result lines it lost put back (see `result_lines`); and what was appended."""
        answer = without_echoes(text)
        appended = self.result_lines.appendix(answer)
        return answer + appended, appended

    def for_model(
        self, execution: Execution, hints: list[str], repeat: Repeat | None, image_count: int
    ) -> str:
        """The cell's outcome as the model reads it (see `_describe`); the cell is remembered,
        so that the same cell sent again is not run again."""
        text = self._describe(execution, hints, repeat, image_count)
        if execution.error is None and hints:
            # A clean cell the kernel has doubts about: no invitation to answer from it.
            return text + "\n\nCheck before answering: " + "; ".join(hints)
        return text

    def _wants_rounding(self, execution: Execution) -> bool:
        """A clean cell printed long decimals and the question asks for rounded values."""
        if not self.policy.rounding_reminder or self.rounding_asked or execution.error:
            return False
        shown = _shown(execution)
        return bool(_ASKS_ROUNDING.search(self.question) and _LONG_DECIMAL.search(shown))

    def _describe(
        self, execution: Execution, hints: list[str], repeat: Repeat | None, image_count: int
    ) -> str:
        """The cell's outcome as the model reads it; the cell is remembered, so that the same
        cell sent again is not run again."""
        key = normalise(execution.code)
        error_text = None
        if execution.error is not None and self.policy.error_digest:
            error_text = (
                repeat.told
                if repeat is not None
                else error_digest(execution, hints, max_chars=self.max_output_chars // 2)
            )
        if repeat is None and not execution.cancelled:
            if execution.error is not None:
                self.failed_cells[key] = error_text or str(execution.error)
                self.last_clean = None
                self.last_error = execution.error
            else:
                self.failed_cells.clear()
                self.last_clean = key
        if repeat is not None and repeat.kind == "clean":
            return repeat.told
        reminder = ANSWER_REMINDER if self.policy.answer_reminder and not hints else ""
        if reminder and _shows_nothing(execution, image_count):
            reminder = PRINT_FIRST
        elif reminder and self._wants_rounding(execution):
            reminder = ROUND_FIRST
            self.rounding_asked = True
        # The hints are in the digest already, where they follow the error they explain.
        execution = replace(
            execution, notices=[n for n in execution.notices if not n.startswith(HINT_NOTICE)]
        )
        return describe_execution(
            execution,
            max_chars=self.max_output_chars,
            image_count=image_count,
            error_text=error_text,
            reminder=reminder,
        )
