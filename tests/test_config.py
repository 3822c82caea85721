"""Configuration: the YAML file over the defaults, the environment over the file
(COMPANY_LLM, COMPANY_WORKSPACE, OLLAMA_HOST), and unknown or bad keys refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from company.config import DEFAULT_CONFIG, AppConfig, load_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No override from the machine running the tests."""
    for name in ("COMPANY_LLM", "COMPANY_WORKSPACE", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, data: object) -> Path:
    """A config file holding ``data`` as YAML."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_file_overrides_the_defaults_section_by_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {
        "workspace": str(tmp_path / "ws"),
        "llm": {"provider": "ollama", "model": "llama3.2", "max_retries": 5},
        "limits": {"n_round": 3},
    }))
    assert config.workspace == tmp_path / "ws"
    assert config.store_path == tmp_path / "ws" / "company.db"
    assert (config.llm.provider, config.llm.model, config.llm.max_retries) == (
        "ollama", "llama3.2", 5)
    assert config.llm.timeout_s == 120.0 and config.llm.options == {"temperature": 0}
    assert (config.limits.n_round, config.limits.max_llm_calls) == (3, 40)
    assert config.llm.force_model is False


def test_a_missing_or_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.yaml") == AppConfig()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == AppConfig()


def test_the_shipped_config_loads() -> None:
    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config = load_config()
    assert config.workspace == Path(shipped["workspace"])
    assert (config.llm.provider, config.llm.model) == (shipped["llm"]["provider"],
                                                       shipped["llm"]["model"])


@pytest.mark.parametrize(("data", "where"), [
    ({"wrokspace": "x"}, "wrokspace"),
    ({"llm": {"modle": "qwen2.5"}}, "llm.modle"),
    ({"limits": {"rounds": 3}}, "limits.rounds"),
    ({"llm": {"embedded": {"gpu": True}}}, "llm.embedded.gpu"),
])
def test_unknown_keys_are_refused_by_name(tmp_path: Path, data: dict, where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_config(write(tmp_path, data))
    assert where in str(caught.value) and "Extra inputs are not permitted" in str(caught.value)


@pytest.mark.parametrize("limits", [{"n_round": 0}, {"investment": float("inf")},
                                    {"max_tokens": -1}])
def test_bad_limits_are_refused(tmp_path: Path, limits: dict) -> None:
    with pytest.raises(ValidationError):
        load_config(write(tmp_path, {"limits": limits}))


def test_company_workspace_overrides_the_shipped_relative_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANY_WORKSPACE", str(tmp_path / "elsewhere"))
    assert load_config().workspace == tmp_path / "elsewhere"


def test_company_workspace_leaves_an_explicit_config_file_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANY_WORKSPACE", str(tmp_path / "elsewhere"))
    assert load_config(write(tmp_path, {"workspace": "mine"})).workspace == Path("mine")


def test_company_llm_sets_provider_model_and_host_and_forces_the_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANY_LLM", "openai:gpt-4o-mini@http://10.0.0.5:8000/v1")
    config = load_config(write(tmp_path, {"llm": {"provider": "ollama", "model": "qwen2.5"}}))
    assert (config.llm.provider, config.llm.model, config.llm.host) == (
        "openai", "gpt-4o-mini", "http://10.0.0.5:8000/v1")
    assert config.llm.force_model is True


def test_company_llm_on_another_provider_drops_the_files_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"llm": {"provider": "ollama", "host": "http://gpu-box:11434"}})
    monkeypatch.setenv("COMPANY_LLM", "openai:gpt-4o")
    assert load_config(path).llm.host is None
    monkeypatch.setenv("COMPANY_LLM", "llama3.2:3b")  # a bare model: Ollama, same host kept
    config = load_config(path)
    assert (config.llm.provider, config.llm.model, config.llm.host) == (
        "ollama", "llama3.2:3b", "http://gpu-box:11434")


def test_ollama_host_is_used_when_no_host_is_configured(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    config = load_config(write(tmp_path, {"llm": {"provider": "ollama"}}))
    assert config.llm.resolved_host() == "http://gpu-box:11434"  # a scheme is added
    monkeypatch.setenv("OLLAMA_HOST", "https://ollama.example:443")
    assert config.llm.resolved_host() == "https://ollama.example:443"
    configured = load_config(write(tmp_path, {"llm": {"provider": "ollama",
                                                      "host": "http://pinned:1"}}))
    assert configured.llm.resolved_host() == "http://pinned:1"  # the file's host wins


def test_without_ollama_host_the_local_defaults_apply(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, {})).llm.resolved_host() == "http://127.0.0.1:11434"
    openai = load_config(write(tmp_path, {"llm": {"provider": "openai"}}))
    assert openai.llm.resolved_host() == "http://127.0.0.1:8000/v1"
