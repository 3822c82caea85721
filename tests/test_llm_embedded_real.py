"""The embedded provider on the real Qwen2.5-Coder 0.5B GGUF (marked real_model)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from company.llm import LLM
from company.llm.base import LLMOutputTruncated, LLMServerError
from company.llm.embedded import EmbeddedProvider, EmbeddedSettings
from company.llm.usage import CostManager
from company.payloads import Analysis
from tests.real_models import SMALL_LLM, require_model

pytestmark = pytest.mark.real_model

SETTINGS = EmbeddedSettings(ctx_size=4096, parallel=2, max_tokens=512)


@pytest.fixture
async def provider() -> AsyncIterator[EmbeddedProvider]:
    """The 0.5B model served in-process (the server is shared process-wide)."""
    require_model(SMALL_LLM)
    provider = EmbeddedProvider(SMALL_LLM, SETTINGS)
    await provider.ensure_model()
    yield provider


async def test_structured_answer_validates_against_the_action_schema(
    provider: EmbeddedProvider,
) -> None:
    llm = LLM(provider, model=SMALL_LLM, cost=CostManager(), options={"temperature": 0})
    analysis = await llm.ask_model([
        {"role": "system", "content": "You analyse requests. Answer in JSON."},
        {"role": "user", "content": "Request from the Boss: What is 6 times 7?"},
    ], Analysis, role="Analyst")
    assert analysis.summary.strip()
    assert analysis.action_items, "a request to compute something has at least one action item"
    total = llm.cost.total
    assert total.calls >= 1 and total.tokens > 20  # real token counts came back


async def test_providers_of_one_model_share_one_server(provider: EmbeddedProvider) -> None:
    other = EmbeddedProvider(SMALL_LLM, SETTINGS)
    await other.ensure_model()
    assert other._server is provider._server
    async with httpx.AsyncClient() as http:
        models = (await http.get(f"{provider._server.url}/v1/models")).json()
    assert SMALL_LLM in {m["id"] for m in models["data"]}


async def test_a_json_answer_over_max_tokens_fails_with_counts(
    provider: EmbeddedProvider,
) -> None:
    llm = LLM(provider, model=SMALL_LLM, cost=CostManager(),
              options={"temperature": 0, "max_tokens": 8})
    with pytest.raises(LLMOutputTruncated, match=r"\d+ prompt \+ 8 answer tokens"):
        await llm.ask_model([{"role": "user", "content": "Describe Paris in detail."}],
                            Analysis, role="Analyst")


async def test_a_prompt_longer_than_the_context_fails_with_counts() -> None:
    require_model(SMALL_LLM)
    small = EmbeddedProvider(SMALL_LLM, EmbeddedSettings(ctx_size=512, parallel=1))
    try:
        llm = LLM(small, model=SMALL_LLM, cost=CostManager())
        with pytest.raises(LLMServerError, match=r"\d+ prompt tokens, 512 context tokens"):
            await llm.ask([{"role": "user", "content": "word " * 2000}], role="Analyst")
    finally:
        small.stop()
    assert not await small.reachable() or small._server is None
