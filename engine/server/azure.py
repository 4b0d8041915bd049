"""The Azure OpenAI flavour: the same routes under `/openai/`.

`AzureOpenAI(azure_endpoint=URL, api_key=..., api_version=...)` sends assistants, files and
threads requests to `URL/openai/<path>?api-version=...` with an `api-key` header (see
`openai/lib/azure.py`: only deployment-based endpoints such as chat completions get
`/deployments/<name>`). The version is accepted and ignored: one API serves them all; the
v1-era `file_ids` fields Azure's guide still shows are folded in by the request schemas.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

AZURE_PREFIX = "/openai"
#: The versions Azure's Code Interpreter guide names; any other is accepted just the same.
KNOWN_API_VERSIONS = ("2024-02-15-preview", "2024-05-01-preview")


async def api_version(
    version: Annotated[
        str | None,
        Query(
            alias="api-version",
            description="Azure API version, e.g. `2024-05-01-preview`; accepted and ignored.",
        ),
    ] = None,
) -> None:
    """Documents `api-version` on every Azure route; the value changes nothing."""
