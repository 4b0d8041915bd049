"""Messages from the kernel, validated: everything the kernel sends is untrusted input.

Cell code runs inside the kernel process and holds the session's key, so it can send any
message on any channel: frames that do not deserialize, headers that are not dicts, an `error`
whose traceback is a number. `Channel.next()` turns each into a `KernelMessage` with a string
type and a dict content, or None (counted) for one that is malformed; the typed getters below
read content fields without trusting their types.
"""

from __future__ import annotations

import queue
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import zmq


@dataclass(frozen=True)
class KernelMessage:
    msg_type: str
    #: The msg_id of the request this answers (the parent header's), if it names one.
    parent_id: str | None
    content: dict[str, Any]


def parse(raw: object) -> KernelMessage | None:
    """The message's type, parent and content, or None when they do not have Jupyter's shape."""
    if not isinstance(raw, dict):
        return None
    header, parent, content = raw.get("header"), raw.get("parent_header"), raw.get("content")
    if not isinstance(header, dict) or not isinstance(content, dict):
        return None
    msg_type = header.get("msg_type")
    if not isinstance(msg_type, str):
        return None
    parent_id = parent.get("msg_id") if isinstance(parent, dict) else None
    return KernelMessage(msg_type, parent_id if isinstance(parent_id, str) else None, content)


class Channel:
    """One of the client's channels, read message by message, malformed ones counted."""

    def __init__(self, get: Callable[..., Awaitable[dict[str, Any]]]) -> None:
        self._get = get
        self.malformed = 0

    async def next(self, timeout: float | None = None) -> KernelMessage | None:
        """The next message; None for a malformed one (or none at all, without a timeout);
        queue.Empty once `timeout` passed."""
        try:
            raw = await self._get(timeout=timeout)
        except queue.Empty:
            if timeout is None:  # a poll that woke with nothing: not a message, not an error
                return None
            raise
        except zmq.ZMQError:  # the sockets were closed: the kernel is being killed
            raise
        except Exception:  # bad signature, frames, JSON, header: jupyter_client raises anything
            self.malformed += 1
            return None
        message = parse(raw)
        if message is None:
            self.malformed += 1
        return message


def _valid(value: str) -> str:
    """JSON can carry lone surrogates, which no UTF-8 encoder (a database, a terminal) takes."""
    return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")


def text(content: dict[str, Any], key: str, default: str = "") -> str:
    value = content.get(key)
    return _valid(value) if isinstance(value, str) else default


def integer(content: dict[str, Any], key: str) -> int | None:
    value = content.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def text_lines(content: dict[str, Any], key: str) -> list[str]:
    """A list of strings (a traceback); a lone string is one line, anything else is dropped."""
    value = content.get(key)
    if isinstance(value, str):
        return [_valid(value)]
    if isinstance(value, list):
        return [_valid(item) for item in value if isinstance(item, str)]
    return []


def mime_bundle(content: dict[str, Any]) -> dict[str, str]:
    """The `data` of a display message: string MIME types to string payloads only."""
    data = content.get("data")
    if not isinstance(data, dict):
        return {}
    return {k: _valid(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
