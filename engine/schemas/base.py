"""What every object shares: the base model, timestamps, list pages and delete answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Metadata = dict[str, str]

# Sampling settings as the hosted API bounded them; NaN and infinities are refused too.
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(ge=1)]


def file_id_list(value: Any) -> list[str]:
    """The v1 `file_ids` field: a list of id strings (a bare string is not split into letters)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("file_ids must be a list of file id strings")
    return list(value)


def now() -> int:
    """Unix seconds, the resolution of every `*_at` field."""
    return int(time.time())


class Model(BaseModel):
    # Unknown request keys (`stream`, newer fields) are dropped rather than rejected, as the
    # hosted service did; the objects we send never carry any.
    model_config = ConfigDict(extra="ignore")


T = TypeVar("T", bound=BaseModel)


class ListPage(Model, Generic[T]):
    """`{"object": "list", "data", "first_id", "last_id", "has_more"}`."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def of(cls, data: list[T], has_more: bool) -> ListPage[T]:
        first: str | None = getattr(data[0], "id", None) if data else None
        last: str | None = getattr(data[-1], "id", None) if data else None
        return cls(data=data, first_id=first, last_id=last, has_more=has_more)


def all_pages(fetch: Callable[[str | None], ListPage[T]]) -> list[T]:
    """Every item of a cursor-paged listing: `fetch(after)` gives the page after that id."""
    items: list[T] = []
    after: str | None = None
    while True:
        page = fetch(after)
        items.extend(page.data)
        if not page.has_more or page.last_id is None:
            return items
        after = page.last_id


class Deleted(Model):
    """`{"id", "object": "<type>.deleted", "deleted": true}`; files answer `"object": "file"`."""

    id: str
    object: str
    deleted: bool = True
