"""Result lines kept: the lines a clean cell printed in the format the question asked for, put
back into a final answer that lost them.

A small model that printed `@mean_windspeed[5.979]` because the question asked for that format
often restates it in prose when it answers ("The mean wind speed is 5.979."), and a reader or a
harness that looks for the asked format finds nothing. A printed line is in the asked format
when its label, the text before its first `[`, `:` or `=` with that mark (`@mean_windspeed[`,
`Total revenue:`), appears word for word in the question. The last value printed for a label
wins; the answer keeps what it says itself about a label, and only the labels it leaves out
are appended, copied from the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: A printed line's label: up to 60 characters of a name, then the mark that opens its value.
_LABELLED = re.compile(r"^\s*(?P<label>@?[A-Za-z_][\w .-]{0,59}?\s*[\[:=])\s*\S")
#: Labels shorter than this ("x=", "a:") would match too much of an ordinary question.
_MIN_LABEL = 4


def asked_label(line: str, question: str) -> str | None:
    """The line's label when the question shows it (the line is in the asked format)."""
    match = _LABELLED.match(line)
    if match is None:
        return None
    label = match["label"].strip()
    if len(label) < _MIN_LABEL or label not in question:
        return None
    return label


def answer_marks(line: str) -> list[str]:
    """The `@name[value]` marks a line holds, each whole (a value may hold brackets)."""
    marks = []
    for start in (m.start() for m in _MARK_START.finditer(line)):
        depth = 0
        for end in range(line.index("[", start), len(line)):
            depth += {"[": 1, "]": -1}.get(line[end], 0)
            if depth == 0:
                marks.append(line[start : end + 1])
                break
    return marks


_MARK_START = re.compile(r"@\w+\[")


@dataclass
class ResultLines:
    """The result lines of a run's clean cells, by label, the last one printed of each."""

    lines: dict[str, str] = field(default_factory=dict)

    def collect(self, output: str, question: str) -> None:
        """Remember the lines of a clean cell's output that are in the format `question`
        asks for; a line of `@name[value]` marks is kept mark by mark (`Result: @a[1] @b[2]`
        holds two results, each with its own label)."""
        if not question:
            return
        for line in output.splitlines():
            marks = answer_marks(line)
            found = [(asked_label(mark, question), mark) for mark in marks] or [
                (asked_label(line, question), line.strip())
            ]
            for label, text in found:
                if label is not None:
                    self.lines.pop(label, None)  # the latest value, in the order last printed
                    self.lines[label] = text

    def missing_from(self, answer: str) -> list[str]:
        """The result lines whose label the answer does not show."""
        return [line for label, line in self.lines.items() if label not in answer]

    def appendix(self, answer: str) -> str:
        """What `kept_in` adds to the answer: the result lines it left out, on lines of
        their own after it."""
        missing = self.missing_from(answer)
        if not missing:
            return ""
        if answer.strip():
            separator = "\n" * max(0, 2 - (len(answer) - len(answer.rstrip("\n"))))
        else:  # nothing but blanks: the lines start on a line of their own
            separator = "" if not answer or answer.endswith("\n") else "\n"
        return separator + "\n".join(missing)

    def kept_in(self, answer: str) -> str:
        """The answer, with the result lines it left out appended as printed (the answer
        itself unchanged before them: what was streamed of it stands)."""
        return answer + self.appendix(answer)
