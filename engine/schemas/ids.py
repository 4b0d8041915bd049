"""Object ids with the Assistants API's prefixes: file-, asst_, thread_, msg_, run_, call_..."""

from __future__ import annotations

import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def new_id(prefix: str, length: int = 24) -> str:
    """A random id such as `call_3x9...`; `prefix` includes its separator (`file-`, `run_`)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))
