"""The switches of the help the run loop gives a model (see `engine.core.assist`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AssistPolicy:
    """How the loop helps a model, small ones especially, to reach a computed answer. Each
    lever can be turned off; none is specific to a benchmark."""

    #: Describe every file in /mnt/data (tables: shape, columns with dtypes, a few rows) in
    #: the system message, computed inside the sandbox; at most this many characters in all
    #: (0: only the files' names and sizes).
    file_preview_chars: int = 3000
    #: After a failed cell, the model gets its failing line, the error and hints computed in
    #: the kernel (existing columns, close names, the files there) instead of the traceback;
    #: the run step keeps the whole traceback.
    error_digest: bool = True
    #: A cell identical (comments and layout aside) to one that already failed is not run
    #: again; the model is told, and its next reply is sampled hotter.
    skip_repeated_cells: bool = True
    #: A failed cell the model sends again is taken out of the conversation with its output,
    #: and the error is restated as a request for different code: a small model copies the
    #: code it sees (the default model resent one failed cell up to four times in a row).
    rewind_repeated_failures: bool = True
    #: The first reply of a run with files attached must be code: the answer is computed
    #: from the data, not guessed.
    code_first_with_files: bool = True
    #: A text answer before any cell of the run has succeeded is sent back, this many times
    #: at most, with a request to compute it first.
    compute_nudges: int = 1
    #: Lines written as answers (`@name[value]`) inside code that therefore does not compile
    #: are taken out before the cell runs (and the model is told).
    salvage_answer_lines: bool = True
    #: After a clean cell, the model is reminded to answer in the format the user asked for;
    #: after one that showed nothing, to print the values first.
    answer_reminder: bool = True
    #: Result lines that a clean cell printed in the format the question asked for (their
    #: label, such as `@mean[` or `Total:`, is in the question) and that the final answer
    #: left out are appended to it as printed: a small model restates its results in prose
    #: and loses the asked format (see `result_lines`).
    keep_result_lines: bool = True
    #: When the question asks for rounded values and a clean cell printed long decimals, the
    #: model is asked (once a run) to round them in code first: a small model copies the
    #: digits it sees into its answer (3 of the first 21 DABench failures of the default model
    #: were right values, unrounded).
    rounding_reminder: bool = True
    #: The sampling temperature that the API's default of 1.0 stands for: a run's temperature
    #: t samples at t x this up to 1.0, then rises linearly to 1.0 at the API's 2.0. Hosted
    #: models are tuned to sample at 1.0; small local ones write worse code that hot.
    temperature: float = 0.2
    #: After a clean cell the next reply is most often the answer: it is sampled at most this
    #: hot. Greedy keeps the asked format best (the default model: 7 of 8 answers in the
    #: requested format greedy, 6 of 10 at 0.2, on the same DABench outputs).
    answer_temperature: float = 0.0
    #: Added to the temperature after each failed cell in a row (capped at 1.0), so that a
    #: retry explores instead of repeating.
    retry_temperature_step: float = 0.25

    def __post_init__(self) -> None:
        if self.file_preview_chars < 0 or self.compute_nudges < 0:
            raise ValueError("file_preview_chars and compute_nudges must be >= 0")
        if not 0 <= self.answer_temperature <= 1:
            raise ValueError("answer_temperature must be in [0, 1]")
        if not 0 <= self.temperature <= 1 or self.retry_temperature_step < 0:
            raise ValueError("temperature must be in [0, 1] and retry_temperature_step >= 0")

    def sampling_temperature(self, api_temperature: float | None) -> float:
        """The temperature a model samples at for a run's (API) temperature."""
        t = 1.0 if api_temperature is None else api_temperature
        if t <= 1.0:
            return t * self.temperature
        return self.temperature + (min(t, 2.0) - 1.0) * (1.0 - self.temperature)
