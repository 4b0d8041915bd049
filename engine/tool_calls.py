"""A sandbox Execution in the Assistants API's `code_interpreter` tool-call shape."""

from __future__ import annotations

from typing import Any

from sandbox import Execution

from .ids import new_id


def code_interpreter_call(
    execution: Execution, image_file_ids: list[str], call_id: str | None = None
) -> dict[str, Any]:
    """`{"id", "type": "code_interpreter", "code_interpreter": {"input", "outputs"}}`.

    Outputs are one `logs` item (stdout, stderr, the cell's value and the traceback, in order)
    when there is any text, then one `image` item per image the cell showed.
    """
    outputs: list[dict[str, Any]] = []
    logs = execution.logs
    if logs:
        outputs.append({"type": "logs", "logs": logs})
    outputs.extend({"type": "image", "image": {"file_id": file_id}} for file_id in image_file_ids)
    return {
        "id": call_id or new_id("call_"),
        "type": "code_interpreter",
        "code_interpreter": {"input": execution.code, "outputs": outputs},
    }


def error_dict(execution: Execution) -> dict[str, str] | None:
    if execution.error is None:
        return None
    return {
        "name": execution.error.name,
        "value": execution.error.value,
        "traceback": execution.error.traceback,
    }
