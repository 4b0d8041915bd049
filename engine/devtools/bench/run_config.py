"""`config.json`: exactly what a benchmark run was: the suite and its data, the model (and the
sha256 of its file), the settings, the package versions, the git commit, the isolation level."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from models import ModelError, parse_spec
from sandbox import SandboxConfig, choose_level

from .suite import REPO_ROOT, Suite, file_sha256

PACKAGES = (
    "airlock",
    "jupyter_client",
    "ipykernel",
    "pyzmq",
    "pydantic",
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "scikit-learn",
    "llama_cpp_python",
    "httpx",
    "rich",
    "ray",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(root: Path = REPO_ROOT) -> dict[str, Any] | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def model_info(spec: str | None) -> dict[str, Any]:
    if spec is None:
        return {"spec": None, "note": "the suite's built-in scripted model"}
    info: dict[str, Any] = {"spec": spec}
    try:
        target = Path(parse_spec(spec).target).expanduser()
    except ModelError:
        return info  # an oracle, or a name from the models config
    if target.is_file():
        info["file"] = str(target.resolve())
        info["sha256"] = file_sha256(target)
    return info


def build_config(
    suite: Suite,
    *,
    limit: int | None,
    workers: int,
    executor: str,
    out: Path,
    tasks: int,
    every: int | None = None,
    ids: list[str] | None = None,
) -> dict[str, Any]:
    options = suite.options
    return {
        "suite": suite.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model_info(options.model),
        "models_config": str(options.models_config) if options.models_config else None,
        "settings": {
            "limit": limit,
            "every": every,
            "ids": ids,
            "workers": workers,
            "executor": executor,
            "task_timeout": options.task_timeout,
            "cell_timeout": options.cell_timeout,
            "out": str(out),
            "tasks_selected": tasks,
        },
        "suite_config": suite.describe(),
        "isolation": str(choose_level(SandboxConfig())),
        "versions": package_versions(),
        "git": git_commit(),
        "host": {"platform": platform.platform(), "machine": platform.machine(), "cpus": _cpus()},
    }


def _cpus() -> int | None:
    return os.cpu_count()


def write_config(path: Path, config: dict[str, Any], invocation: dict[str, Any]) -> None:
    """Write the current configuration; the invocations of a resumed run accumulate."""
    previous: list[dict[str, Any]] = []
    if path.is_file():
        try:
            previous = list(json.loads(path.read_text(encoding="utf-8")).get("invocations", []))
        except (ValueError, AttributeError):
            previous = []
    if previous and previous[-1].get("started_at") == invocation.get("started_at"):
        previous.pop()  # this invocation's own entry, written when it started
    config = {**config, "invocations": [*previous, invocation]}
    path.write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")
