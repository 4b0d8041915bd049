"""What every object shares: the base model, timestamps, list pages and delete answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

Metadata = dict[str, str]

#: OpenAI's limits on `metadata`, enforced on every request that sets it.
METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512


def _metadata_within_limits(value: dict[str, str]) -> dict[str, str]:
    if len(value) > METADATA_MAX_PAIRS:
        raise PydanticCustomError(
            "metadata_limit",
            "Invalid 'metadata': too many properties. Expected an object with at most "
            f"{METADATA_MAX_PAIRS} properties, but got an object with {len(value)} properties "
            "instead.",
        )
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY:
            raise PydanticCustomError(
                "metadata_limit",
                f"Invalid 'metadata': key {key[:20]!r}... is too long. Expected keys of at most "
                f"{METADATA_MAX_KEY} characters, but got one of {len(key)} characters instead.",
            )
        if len(item) > METADATA_MAX_VALUE:
            raise PydanticCustomError(
                "metadata_limit",
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                f"length {METADATA_MAX_VALUE}, but got a string with length {len(item)} instead.",
            )
    return value


#: `metadata` as a request sets it: at most 16 pairs, keys <= 64 and values <= 512 characters.
MetadataInput = Annotated[Metadata, AfterValidator(_metadata_within_limits)]

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
