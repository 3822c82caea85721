"""The provider table: its rows, the error for an unknown name, a provider added by one row,
and ``auto`` resolved to a row (no real model servers: a dead port or the fake Ollama)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from company.config import AppConfig, LLMSettings, apply_llm_spec
from company.llm.embedded import DEFAULT_EMBEDDED_MODEL, EmbeddedProvider
from company.llm.ollama_provider import OllamaProvider
from company.llm.openai_provider import OpenAICompatProvider
from company.llm.providers import (
    PROVIDERS,
    ProviderRow,
    build_provider,
    check_provider,
    provider_names,
    provider_row,
)
from company.llm.spec import parse_llm_spec
from tests.fakes.ollama_server import FakeOllama

DEAD_HOST = "http://127.0.0.1:9"


class TableProvider:
    """A provider that exists only through a table row added by a test."""

    name = "table-test"

    def __init__(self, model: str, host: str) -> None:
        self.model = model
        self.host = host


def table_factory(config: AppConfig) -> TableProvider:
    """The test row's factory."""
    return TableProvider(config.llm.model, config.llm.resolved_host())


@pytest.fixture
def table_row(monkeypatch: pytest.MonkeyPatch) -> ProviderRow:
    """A provider added to the table by one row, for this test only."""
    row = ProviderRow(name="table-test", factory=f"{__name__}:table_factory",
                      description="a provider added by a table row", one_model_per_process=True)
    monkeypatch.setitem(PROVIDERS, row.name, row)
    return row


def test_the_table_names_every_provider_and_how_it_serves() -> None:
    assert provider_names() == ("ollama", "openai", "embedded")
    assert [row.name for row in PROVIDERS.values() if row.one_model_per_process] == ["embedded"]
    for name, row in PROVIDERS.items():
        assert row.name == name and row.description
        assert row.factory.endswith(":from_config")
        assert callable(row.load_factory())


def test_each_row_builds_its_provider_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_TEST_KEY", "sk-test")
    config = AppConfig(llm=LLMSettings(provider="openai", host="http://h.test/v1/",
                                       api_key_env="TABLE_TEST_KEY", timeout_s=7))
    openai = build_provider(config)
    assert isinstance(openai, OpenAICompatProvider)
    assert (openai.host, openai.timeout_s) == ("http://h.test/v1", 7)
    assert openai._http.headers["Authorization"] == "Bearer sk-test"

    ollama = build_provider(AppConfig(llm=LLMSettings(provider="ollama", host=DEAD_HOST)))
    assert isinstance(ollama, OllamaProvider) and ollama.host == DEAD_HOST

    config = AppConfig(llm=LLMSettings(provider="embedded"))
    embedded = build_provider(config)
    assert isinstance(embedded, EmbeddedProvider)
    assert embedded.model == config.llm.embedded.model and config.llm.force_model


def test_an_unknown_provider_is_refused_with_the_known_ones() -> None:
    message = "unknown LLM provider 'olama'; known providers: auto, ollama, openai, embedded"
    with pytest.raises(ValueError, match=message):
        provider_row("olama")
    with pytest.raises(ValidationError, match=message):
        LLMSettings(provider="olama")
    with pytest.raises(ValidationError, match="unknown LLM provider"):
        AppConfig.model_validate({"llm": {"provider": "auto2"}})
    assert check_provider("auto") == "auto"
    config = AppConfig()
    config.llm.provider = "olama"  # assignment is not validated: building refuses it
    with pytest.raises(ValueError, match=message):
        build_provider(config)


def test_a_provider_added_by_a_table_row_resolves(table_row: ProviderRow) -> None:
    # the config, the --llm parser and build_provider all read the same table
    assert LLMSettings(provider="table-test").provider == "table-test"
    spec = parse_llm_spec("table-test:tiny-model@http://t.test")
    assert (spec.provider, spec.model, spec.host) == ("table-test", "tiny-model", "http://t.test")
    config = AppConfig()
    apply_llm_spec(config, spec)
    provider: Any = build_provider(config)
    assert isinstance(provider, TableProvider)
    assert (provider.model, provider.host) == ("tiny-model", "http://t.test")
    assert config.llm.force_model  # one model per process: it beats an SOP's own model


def test_a_table_row_without_one_model_leaves_the_sop_its_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    row = ProviderRow(name="table-test", factory=f"{__name__}:table_factory",
                      description="a server of many models")
    monkeypatch.setitem(PROVIDERS, row.name, row)
    config = AppConfig(llm=LLMSettings(provider="table-test", host="http://t.test"))
    assert isinstance(build_provider(config), TableProvider)
    assert not config.llm.force_model


def test_once_the_row_is_gone_its_name_is_unknown() -> None:
    assert "table-test" not in PROVIDERS  # the fixture's row lasted one test
    spec = parse_llm_spec("table-test:tiny-model")  # not a provider: an Ollama model name
    assert (spec.provider, spec.model) == ("ollama", "table-test:tiny-model")


@pytest.mark.parametrize(("name", "factory"), [
    ("Bad Name", "m:f"), ("ok", "no-colon"), ("ok", "m:f:g"),
])
def test_a_row_must_be_well_formed(name: str, factory: str) -> None:
    with pytest.raises(ValidationError):
        ProviderRow(name=name, factory=factory, description="x")


def test_auto_with_no_ollama_gives_embedded() -> None:
    config = AppConfig()
    config.llm.host = DEAD_HOST
    provider = build_provider(config)
    assert isinstance(provider, EmbeddedProvider)
    assert provider.model == DEFAULT_EMBEDDED_MODEL
    assert (config.llm.provider, config.llm.force_model) == ("embedded", True)


def test_auto_with_ollama_answering_gives_ollama(fake_ollama: FakeOllama) -> None:
    config = AppConfig()
    config.llm.host = fake_ollama.host
    provider = build_provider(config)
    assert isinstance(provider, OllamaProvider) and provider.host == fake_ollama.host
    assert config.llm.provider == "ollama" and not config.llm.force_model
