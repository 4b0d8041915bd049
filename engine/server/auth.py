"""API keys: `Authorization: Bearer KEY` (OpenAI's SDK) or `api-key: KEY` (Azure's).

Without a configured key every request is let in, whatever it sends (the SDK always sends some
bearer). With one, a request without the right key gets 401 in OpenAI's error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .errors import APIError

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`")
api_key_scheme = APIKeyHeader(name="api-key", auto_error=False,
                              description="`api-key: KEY` (Azure OpenAI clients)")


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def _no_key_needed() -> None:
    """Without a configured key nothing is checked (and the OpenAPI document asks for none)."""


def key_checker(api_key: str | None) -> Callable[..., Awaitable[None]]:
    """A dependency for every API route: checks the request's key against `api_key`."""
    if api_key is None:
        return _no_key_needed

    async def check_key(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        header_key: Annotated[str | None, Security(api_key_scheme)],
    ) -> None:
        if _matches(bearer.credentials if bearer else None, api_key) or _matches(header_key,
                                                                                 api_key):
            return
        if bearer is None and header_key is None:
            raise APIError(401, "You didn't provide an API key. You need to provide your API "
                                "key in an Authorization header using Bearer auth (i.e. "
                                "Authorization: Bearer YOUR_KEY), or in an api-key header.",
                           code="missing_api_key")
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")

    return check_key
