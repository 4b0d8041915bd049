"""Start-up recovery: runs a crash left active end, with their open steps and messages."""

from __future__ import annotations

from ..schemas import (
    ACTIVE_RUN_STATUSES,
    LastError,
    MessageIncompleteDetails,
    Run,
    StepLastError,
    now,
)
from .database import MESSAGES, RUN_STEPS, RUNS, Database

_ACTIVE = tuple(sorted(ACTIVE_RUN_STATUSES))
_OPEN_OF_RUN = "run_id = ? AND json_extract(data, '$.status') = 'in_progress'"


def recover_runs(db: Database) -> list[Run]:
    """End the runs a crash left active and return them.

    Nothing will ever resume them, and the SDK polls until a run leaves `queued`, `in_progress`
    or `cancelling`, so each gets a terminal status: `cancelling` becomes `cancelled` (what the
    client asked for), `requires_action` `expired` (its tool outputs can no longer be
    submitted), the others `failed` with `last_error`. Only call this when no other process has
    the store open: their runs may be live.
    """
    ended: list[Run] = []
    with db.write():
        stamp = now()
        active = db.select(RUNS, f"status IN ({', '.join('?' * len(_ACTIVE))})", list(_ACTIVE))
        for run in active:
            was = run.status
            message = (
                f"Airlock stopped while this run was {was}; runs are not resumed "
                "after a restart. Start a new run on this thread."
            )
            error = LastError(code="server_error", message=message)
            common = {"expires_at": None, "required_action": None}
            if was == "cancelling":
                run = run.model_copy(
                    update={**common, "status": "cancelled", "cancelled_at": stamp}
                )
                step_status, reason = "cancelled", "run_cancelled"
            elif was == "requires_action":
                run = run.model_copy(update={**common, "status": "expired", "last_error": error})
                step_status, reason = "expired", "run_expired"
            else:
                run = run.model_copy(
                    update={**common, "status": "failed", "failed_at": stamp, "last_error": error}
                )
                step_status, reason = "failed", "run_failed"
            db.replace(RUNS, run)
            ended.append(run)
            for step in db.select(RUN_STEPS, _OPEN_OF_RUN, [run.id]):
                update: dict[str, object] = {"status": step_status, f"{step_status}_at": stamp}
                if step_status == "failed":
                    update["last_error"] = StepLastError(code="server_error", message=message)
                db.replace(RUN_STEPS, step.model_copy(update=update))
            incomplete = MessageIncompleteDetails.model_validate({"reason": reason})
            for msg in db.select(MESSAGES, _OPEN_OF_RUN, [run.id]):
                db.replace(
                    MESSAGES,
                    msg.model_copy(
                        update={
                            "status": "incomplete",
                            "incomplete_at": stamp,
                            "incomplete_details": incomplete,
                        }
                    ),
                )
    return ended
