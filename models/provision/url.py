"""Pulling a model from a plain URL (a model hub, an internal file server), resumably: a pull
that stopped part-way asks for the rest with an HTTP ``Range`` header."""

from __future__ import annotations

import httpx

from ..base import ModelError
from .partial import PartialFile

CONNECT_TIMEOUT_S = 30.0
#: The longest silence tolerated in the middle of a download.
READ_TIMEOUT_S = 120.0


def pull_url(partial: PartialFile, url: str) -> None:
    """Appends the rest of the file at `url` to the partial file (all of it when the server
    ignores ranges). ModelError when the server refuses or the connection drops; what arrived
    stays for the next pull."""
    partial.step = "downloading"
    start = partial.offset
    # Identity encoding: byte offsets in the file are offsets in the body.
    headers = {"Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    try:
        with httpx.stream(
            "GET", url, headers=headers, timeout=timeout, follow_redirects=True
        ) as response:
            status = response.status_code
            if start and status == 416 and start == partial.entry.size:
                return  # everything had arrived; the hash decides
            if status == 206:
                sent = response.headers.get("content-range", "")
                if not sent.startswith(f"bytes {start}-"):
                    raise ModelError(
                        f"{url} answered the range from byte {start:,} with Content-Range {sent!r}"
                    )
            elif status == 200:
                if start:  # the server ignored the range: start over
                    partial.restart()
            else:
                raise ModelError(f"{url} answered HTTP {status} {response.reason_phrase}")
            # As the bytes arrive, unbuffered: what came before a drop is kept for the resume.
            for chunk in response.iter_raw():
                partial.append(chunk)
    except httpx.HTTPError as error:
        raise ModelError(
            f"downloading {url} stopped at byte {partial.offset:,} of "
            f"{partial.entry.size:,} ({type(error).__name__}: {error}); pull "
            "again to resume"
        ) from None
