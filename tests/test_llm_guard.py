"""Model requests are blocked in tests: real providers refuse with a clear message unless the
host is a fake on loopback, the test is marked real_model, or allow_model_requests() says so."""

from __future__ import annotations

import pytest

from company.llm import LLM, LLMError, LLMUnavailable, guard
from company.llm.guard import (
    ModelRequestsBlocked,
    allow_model_requests,
    check_model_request,
    host_key,
)
from company.llm.ollama_provider import OllamaProvider
from company.llm.openai_provider import OpenAICompatProvider
from company.llm.scripted import ScriptedProvider
from company.llm.usage import CostManager
from tests.fakes.ollama_server import FakeOllama

# A port nobody serves on here; nothing reaches it unless the guard lets the request out.
CLOSED = "http://127.0.0.1:1"
MESSAGES = [{"role": "user", "content": "hello"}]


def llm_over(provider: object) -> LLM:
    """An LLM over the given provider."""
    return LLM(provider, model="qwen2.5", cost=CostManager())  # type: ignore[arg-type]


def test_tests_start_with_model_requests_blocked() -> None:
    assert guard.ALLOW_MODEL_REQUESTS is False


@pytest.mark.parametrize("kind", ["ollama", "openai"])
async def test_real_providers_refuse_with_a_clear_message(kind: str) -> None:
    provider = (OllamaProvider(CLOSED, 1.0) if kind == "ollama"
                else OpenAICompatProvider(f"{CLOSED}/v1", timeout_s=1.0))
    with pytest.raises(ModelRequestsBlocked) as caught:
        await llm_over(provider).ask(MESSAGES, role="Analyst")
    message = str(caught.value)
    assert message.startswith("model requests are blocked in tests; use the scripted provider "
                              "or the fake_ollama fixture")
    assert CLOSED in message and isinstance(caught.value, LLMError)


async def test_allowed_inside_the_context_manager_and_blocked_again_after() -> None:
    llm = llm_over(OllamaProvider(CLOSED, 1.0))
    with allow_model_requests():
        assert guard.ALLOW_MODEL_REQUESTS is True
        with pytest.raises(LLMUnavailable, match="cannot reach the Ollama server"):
            await llm.ask(MESSAGES, role="Analyst")  # let out: fails as a dead server does
    assert guard.ALLOW_MODEL_REQUESTS is False
    with pytest.raises(ModelRequestsBlocked):
        await llm.ask(MESSAGES, role="Analyst")


def test_allowing_some_hosts_leaves_the_others_blocked() -> None:
    with allow_model_requests(hosts=["http://127.0.0.1:7/v1"]):
        check_model_request("openai", "http://127.0.0.1:7")  # same host:port, other path
        with pytest.raises(ModelRequestsBlocked, match="the ollama provider tried to reach "
                                                       "http://127.0.0.1:8"):
            check_model_request("ollama", "http://127.0.0.1:8")
    with pytest.raises(ModelRequestsBlocked):
        check_model_request("openai", "http://127.0.0.1:7")
    assert "http://127.0.0.1:7/v1" not in guard.allowed_hosts


def test_host_key_compares_host_and_port_only() -> None:
    assert host_key("HTTP://User@LocalHost:8000/v1/") == "localhost:8000"
    assert host_key("embedded qwen") == "embedded qwen"


async def test_the_fake_ollama_fixture_host_is_allowed(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("hello", "hi from the fake")
    assert await llm_over(OllamaProvider(fake_ollama.host)).ask(MESSAGES, role="A") == (
        "hi from the fake")
    fake_ollama.on_json("city", {"city": "Oslo"})
    openai = OpenAICompatProvider(f"{fake_ollama.host}/v1")
    assert await llm_over(openai).ask([{"role": "user", "content": "city"}], role="A") == (
        '{"city": "Oslo"}')


async def test_a_stopped_fake_takes_its_host_off_the_list() -> None:
    fake = FakeOllama().start()
    host = fake.host
    assert guard.is_allowed(host)
    fake.stop()
    assert not guard.is_allowed(host)


async def test_the_scripted_provider_is_never_blocked() -> None:
    llm = llm_over(ScriptedProvider({"Analyst": "scripted answer"}))
    assert await llm.ask(MESSAGES, role="Analyst") == "scripted answer"


@pytest.mark.real_model
def test_real_model_tests_may_reach_real_servers() -> None:
    assert guard.ALLOW_MODEL_REQUESTS is True
    check_model_request("ollama", "http://127.0.0.1:11434")
