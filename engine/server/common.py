"""What every route module shares: the engine of the app, list parameters, JSON answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ..core import Engine
from ..store.base import DEFAULT_LIMIT
from ..store.files import FILES_DEFAULT_LIMIT, FILES_MAX_LIMIT

#: How long the SDK's pollers (`create_and_poll`, `runs.poll`) wait between GETs of a run.
POLL_AFTER_MS = 200


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def json_response(
    obj: BaseModel, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """The object exactly as `model_dump(mode="json")` has it: every key, nulls included."""
    return Response(
        obj.model_dump_json(),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def run_headers() -> dict[str, str]:
    return {"openai-poll-after-ms": str(POLL_AFTER_MS)}


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    order: str
    after: str | None
    before: str | None

    def kwargs(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "order": self.order,
            "after": self.after,
            "before": self.before,
        }


Order = Literal["asc", "desc"]
_ORDER_HELP = "Sort order by creation (insertion order); `desc` by default."


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=100, description="Items per page (1-100).")
    ] = DEFAULT_LIMIT,
    order: Annotated[Order, Query(description=_ORDER_HELP)] = "desc",
    after: Annotated[str | None, Query(description="Id of the item to list after.")] = None,
    before: Annotated[str | None, Query(description="Id of the item to list before.")] = None,
) -> PageParams:
    return PageParams(limit, order, after or None, before or None)


def file_page_params(
    limit: Annotated[
        int, Query(ge=1, le=FILES_MAX_LIMIT, description=f"Items per page (1-{FILES_MAX_LIMIT}).")
    ] = FILES_DEFAULT_LIMIT,
    order: Annotated[Order, Query(description=_ORDER_HELP)] = "desc",
    after: Annotated[str | None, Query(description="Id of the file to list after.")] = None,
    before: Annotated[str | None, Query(description="Id of the file to list before.")] = None,
) -> PageParams:
    return PageParams(limit, order, after or None, before or None)


Page = Annotated[PageParams, Depends(page_params)]
FilePage = Annotated[PageParams, Depends(file_page_params)]

#: `include[]` (runs create, steps list): its one value only concerns file_search; ignored.
Include = Annotated[
    list[str] | None,
    Query(alias="include[]", description="Accepted and ignored (it only affects file_search)."),
]
