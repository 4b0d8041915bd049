"""API keys: `Authorization: Bearer KEY` (OpenAI's SDK), `api-key: KEY` (Azure's), or Basic
auth with the key as password (`curl -u :$OPENAI_API_KEY`, as OpenAI's guides write it).

Without a configured key every request is let in, whatever it sends (the SDK always sends some
bearer). With one, a request without the right key gets 401 in OpenAI's error shape.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .errors import APIError

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`")
api_key_scheme = APIKeyHeader(
    name="api-key", auto_error=False, description="`api-key: KEY` (Azure OpenAI clients)"
)


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def basic_password(authorization: str | None) -> str | None:
    """The password of `Authorization: Basic base64(user:password)`, else None."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep else None


async def _no_key_needed() -> None:
    """Without a configured key nothing is checked (and the OpenAPI document asks for none)."""


def key_checker(api_key: str | None) -> Callable[..., Awaitable[None]]:
    """A dependency for every API route: checks the request's key against `api_key`."""
    if api_key is None:
        return _no_key_needed

    async def check_key(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        header_key: Annotated[str | None, Security(api_key_scheme)],
    ) -> None:
        authorization = request.headers.get("authorization")
        candidates = [
            bearer.credentials if bearer else None,
            header_key,
            basic_password(authorization),
        ]
        if any(_matches(given, api_key) for given in candidates):
            return
        if authorization is None and header_key is None:
            raise APIError(
                401,
                "You didn't provide an API key. You need to provide your API "
                "key in an Authorization header using Bearer auth (i.e. "
                "Authorization: Bearer YOUR_KEY), or in an api-key header.",
                code="missing_api_key",
            )
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")

    return check_key
