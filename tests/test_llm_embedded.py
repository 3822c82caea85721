"""The embedded provider without real weights: refusals, settings, truncation, context errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from company.llm import LLM
from company.llm.base import LLMOutputTruncated, LLMServerError, LLMUnavailable
from company.llm.embedded import EmbeddedProvider, EmbeddedSettings, check_gguf, machine_threads
from company.llm.guard import allow_model_requests
from company.llm.openai_provider import OpenAICompatProvider
from company.llm.usage import CostManager
from company.payloads import Analysis
from tests.fakes.ollama_server import FakeOllama


def test_settings_are_sized_to_the_machine() -> None:
    settings = EmbeddedSettings()
    assert settings.resolved_threads() == machine_threads()
    assert 2 <= settings.resolved_parallel() <= 4
    assert EmbeddedSettings(threads=3, parallel=1).resolved_parallel() == 1


def test_a_file_that_is_not_gguf_is_refused_before_loading(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>not a model</html>")
    with pytest.raises(LLMUnavailable, match="is not a GGUF model"):
        check_gguf(path)
    with pytest.raises(LLMUnavailable, match="does not exist"):
        check_gguf(tmp_path / "missing.gguf")


async def test_a_broken_gguf_fails_to_start_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + bytes(200))
    provider = EmbeddedProvider(str(path), EmbeddedSettings(ctx_size=1024))
    with pytest.raises(LLMUnavailable, match="could not start"):
        await provider.ensure_model()
    assert not await provider.reachable() or provider.model_file() == path


async def test_an_unknown_embedded_model_name_is_refused() -> None:
    provider = EmbeddedProvider("no-such-model:7b", EmbeddedSettings())
    with pytest.raises(LLMUnavailable, match="not an embedded model"):
        await provider.ensure_model()


async def test_a_json_answer_cut_at_the_token_limit_fails_with_the_counts(
    fake_ollama: FakeOllama,
) -> None:
    rule = fake_ollama.on("Boss", '{"summary": "The Boss wants')
    rule.finish_reason = "length"
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager())
    with pytest.raises(LLMOutputTruncated, match=r"cut off at its token limit .*answer tokens"):
        await llm.ask_model([{"role": "user", "content": "Boss: hi"}], Analysis,
                            role="Analyst")
    assert fake_ollama.chat_calls == 2  # asked once more, more briefly, then it fails
    assert "more briefly" in fake_ollama.requests[1]["messages"][-1]["content"]


async def test_the_context_size_error_names_the_token_counts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {
            "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 9000,
            "n_ctx": 4096, "message": "request exceeds the available context size"}})

    provider = OpenAICompatProvider("http://embedded/v1")
    provider._http = httpx.AsyncClient(base_url="http://embedded/v1",
                                       transport=httpx.MockTransport(handler))
    llm = LLM(provider, model="m", cost=CostManager())
    with (allow_model_requests(hosts=[provider.host]),  # an in-process mock transport
          pytest.raises(LLMServerError, match="9000 prompt tokens, 4096 context tokens")):
        await llm.ask([{"role": "user", "content": json.dumps("x" * 100)}], role="Analyst")
