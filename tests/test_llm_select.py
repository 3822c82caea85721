"""``llm.provider: auto``: Ollama when it answers, else the embedded model; ``--llm`` specs."""

from __future__ import annotations

import pytest

from company.config import AppConfig, LLMSettings, apply_llm_spec
from company.llm.embedded import DEFAULT_EMBEDDED_MODEL, EmbeddedProvider
from company.llm.ollama_provider import OllamaProvider
from company.llm.providers import build_provider
from company.llm.select import choose_provider, resolve_auto
from company.llm.spec import parse_llm_spec
from tests.fakes.ollama_server import FakeOllama

DEAD_HOST = "http://127.0.0.1:9"


def test_auto_picks_ollama_when_it_answers(fake_ollama: FakeOllama) -> None:
    llm = LLMSettings(provider="auto", host=fake_ollama.host)
    choice = choose_provider(llm)
    assert (choice.provider, choice.model) == ("ollama", "qwen2.5")
    assert fake_ollama.host in choice.reason


def test_auto_falls_back_to_the_embedded_default_and_says_why() -> None:
    config = AppConfig()
    config.llm.host = DEAD_HOST
    choice = resolve_auto(config)
    assert (choice.provider, choice.model) == ("embedded", DEFAULT_EMBEDDED_MODEL)
    assert f"no Ollama server answers at {DEAD_HOST}" in choice.describe()
    # the config is now concrete: the embedded model beats any SOP's own model name
    assert (config.llm.provider, config.llm.model, config.llm.force_model) == (
        "embedded", DEFAULT_EMBEDDED_MODEL, True)
    assert isinstance(build_provider(config), EmbeddedProvider)


def test_auto_then_build_provider_uses_ollama(fake_ollama: FakeOllama) -> None:
    config = AppConfig()
    config.llm.host = fake_ollama.host
    provider = build_provider(config)
    assert isinstance(provider, OllamaProvider)
    assert config.llm.provider == "ollama" and not config.llm.force_model


def test_configured_embedded_uses_its_own_default_model() -> None:
    config = AppConfig()
    config.llm.provider = "embedded"
    choice = resolve_auto(config)
    assert choice.model == config.llm.embedded.model == config.llm.model


@pytest.mark.parametrize(("text", "provider", "model"), [
    ("embedded", "embedded", DEFAULT_EMBEDDED_MODEL),
    ("embedded:qwen2.5-coder:0.5b", "embedded", "qwen2.5-coder:0.5b"),
    ("embedded:/models/x.gguf", "embedded", "/models/x.gguf"),
    ("qwen2.5", "ollama", "qwen2.5"),
])
def test_llm_specs(text: str, provider: str, model: str) -> None:
    spec = parse_llm_spec(text)
    assert (spec.provider, spec.model) == (provider, model)


def test_llm_flag_picks_the_embedded_model() -> None:
    config = AppConfig()
    apply_llm_spec(config, parse_llm_spec("embedded:qwen2.5-coder:0.5b"))
    provider = build_provider(config)
    assert isinstance(provider, EmbeddedProvider)
    assert provider.model == "qwen2.5-coder:0.5b"
