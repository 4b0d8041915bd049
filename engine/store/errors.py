"""What the store raises; the server maps NotFoundError to 404 and InvalidRequestError to 400."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors; `str()` is a message fit for an API error body."""


class NotFoundError(StoreError, LookupError):
    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"No {kind} found with id '{object_id}'.")
        self.kind = kind
        self.object_id = object_id


class InvalidRequestError(StoreError, ValueError):
    """A request the store refuses as it stands (never worth retrying: 400, not 409)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class FileTooLargeError(InvalidRequestError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"File is larger than the limit of {limit} bytes "
            f"({limit / 2**20:g} MB); nothing was stored.",
            param="file",
        )
        self.limit = limit
