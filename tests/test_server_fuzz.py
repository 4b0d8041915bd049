"""Schemathesis against the running server: whatever the OpenAPI document lets a client send
(valid or, in its negative mode, not), the answer is never a 5xx, its status and content
type are documented, and its body matches the documented schema. Only the `/v1` routes:
`/openai` serves the very same handlers.

Through the `st` command line: schemathesis's pytest loader does not work with this pytest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_fixtures import RunningServer, running_server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "unsupported_method",
    ]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("fuzz") / "server") as running:
        yield running


def _st() -> str:
    beside = Path(sys.executable).parent / "st"
    found = str(beside) if beside.exists() else shutil.which("st")
    if found is None:
        pytest.skip("schemathesis's `st` command is not installed")
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fuzzing_finds_no_server_error(server: RunningServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            _st(),
            "run",
            f"{server.url}/openapi.json",
            "--url",
            server.url,
            "--checks",
            CHECKS,
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "20",
            "--include-path-regex",
            "^/v1/",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
