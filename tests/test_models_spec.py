"""Model specs, the config file of named models, and message rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import ChatMessage, ModelError, ModelsConfig, load_model, parse_spec
from models.base import SamplingParams, check_conversation
from models.grammar import code_grammar
from models.http_backend import HttpBackend
from models.prompting import CODE_TOOL_INSTRUCTIONS, render_text_messages
from models.scripted import ScriptedBackend


@pytest.mark.parametrize(
    ("spec", "kind", "target", "model"),
    [
        ("/m/qwen.gguf", "llama", "/m/qwen.gguf", ""),
        ("llama:/m/model.bin", "llama", "/m/model.bin", ""),
        ("http://127.0.0.1:8080/v1#qwen", "http", "http://127.0.0.1:8080/v1", "qwen"),
        ("https://host/v1/#org/model:7b", "http", "https://host/v1", "org/model:7b"),
        ("scripted:/tmp/s.json", "scripted", "/tmp/s.json", ""),
    ],
)
def test_parse_spec(spec: str, kind: str, target: str, model: str) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.target, parsed.model) == (kind, target, model)


@pytest.mark.parametrize("spec", ["http://127.0.0.1:8080/v1", "http:///v1#m", "mystery", "x.bin"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ModelError):
        parse_spec(spec)


def test_config_file(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps([{"text": "hi"}]))
    config = tmp_path / "models.toml"
    config.write_text(
        '[models.demo]\nspec = "scripted:s.json"\n\n'
        '[models.remote]\nspec = "http://127.0.0.1:9/v1#m"\nretries = 1\ntimeout_s = 5\n'
        'tools = "text"\n\n[models.local]\nspec = "weights/m.gguf"\nn_ctx = 8192\n'
    )
    loaded = ModelsConfig.load(config)
    assert loaded.models["local"].spec == str(tmp_path / "weights/m.gguf")
    assert loaded.models["local"].options == {"n_ctx": 8192}
    demo = load_model("demo", config=config)
    assert isinstance(demo, ScriptedBackend)
    remote = load_model("remote", config=loaded, read_timeout_s=3.0)
    assert isinstance(remote, HttpBackend)
    assert (remote.options.retries, remote.options.tools, remote.options.read_timeout_s) == (
        1,
        "text",
        3.0,
    )
    with pytest.raises(ModelError, match="no such model file"):
        load_model("local", config=loaded)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[models.x]\nspec = "http://h/v1#m"\nretrys = 2\n', "unknown option"),
        ('[models.x]\nspec = "http://h/v1#m"\nretries = "2"\n', "retries"),
        ('[models.x]\nspec = "http://h/v1#m"\ntools = "maybe"\n', "tools"),
        ("[models.x]\nn_ctx = 5\n", "spec"),
        ("[models\n", "cannot read"),
    ],
)
def test_config_errors(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "models.toml"
    config.write_text(body)
    with pytest.raises(ModelError, match=message):
        load_model("x", config=config)


def test_messages_are_validated() -> None:
    with pytest.raises(ValueError):
        ChatMessage("user", "x", call_id="c")
    with pytest.raises(ValueError):
        ChatMessage("tool", "x")
    with pytest.raises(ValueError):
        check_conversation([ChatMessage.user("q"), ChatMessage.tool("nope", "out")])
    with pytest.raises(ValueError):
        SamplingParams(max_tokens=0)


def test_text_rendering_extends_as_the_conversation_grows() -> None:
    convo = [ChatMessage.system("Be brief."), ChatMessage.user("q")]
    first = render_text_messages(convo, True)
    convo += [ChatMessage.code("print(1)", "c1", content="Checking."), ChatMessage.tool("c1", "1")]
    second = render_text_messages(convo, "required")
    assert second[: len(first)] == first  # same system turn whether the call is required or not
    assert CODE_TOOL_INSTRUCTIONS in second[0]["content"]
    assert second[2] == {"role": "assistant", "content": "Checking.\n```python\nprint(1)\n```"}
    assert second[3]["role"] == "user" and second[3]["content"].endswith("1")
    # Text only: a conversation that never used the tool is not told about it; one that did
    # keeps the same system turn, so the evaluated prompt is reused.
    assert render_text_messages(convo[:2], False)[0] == {"role": "system", "content": "Be brief."}
    assert render_text_messages(convo, False)[: len(first)] == first


def test_grammar_shapes() -> None:
    assert code_grammar(False) is None
    auto, required = code_grammar(True), code_grammar("required")
    assert auto is not None and "root ::= code | text" in auto
    assert required is not None and "root ::= code\n" in required
    bounded = code_grammar(True, max_lines=3, max_line_chars=10)
    assert bounded is not None and "line{0,3}" in bounded and "{0,7}" in bounded
