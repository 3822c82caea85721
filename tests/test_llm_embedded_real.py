"""The embedded provider on the real Qwen2.5-Coder 0.5B GGUF (marked real_model)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from company.config import CONFIG_DIR
from company.graphs.catalogue import Catalogue
from company.graphs.plan_schema import RequiredStep, plan_schema
from company.llm import LLM
from company.llm.base import LLMOutputTruncated, LLMServerError
from company.llm.embedded import EmbeddedProvider, EmbeddedSettings
from company.llm.usage import CostManager
from company.payloads import Analysis, Plan
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


@pytest.mark.parametrize("request_text, require, graph, operand", [
    ("Which slogan is longer in characters: 'Think different' or 'Just do it'?",
     [RequiredStep("word_count")], "word_count", None),
    ("Convert 98.6°F to Celsius: subtract 32, multiply by 5, then divide by 9.",
     [RequiredStep("calculate", "a", 9), RequiredStep("calculate", "b", 9)], "calculate", 9),
])
async def test_a_plan_schemas_required_step_binds_the_real_model(
    provider: EmbeddedProvider, request_text: str, require: list[RequiredStep], graph: str,
    operand: int | None,
) -> None:
    """llama.cpp's grammar holds the model to a required step, even where it would answer
    with no steps: asked again after its own "No graph can do this.", the 0.5B model repeats
    it unless the schema requires a step (checked without it first)."""
    catalogue = Catalogue.load(CONFIG_DIR / "graphs")
    llm = LLM(provider, model=SMALL_LLM, cost=CostManager(),
              options={"temperature": 0, "max_tokens": 400})
    ask = {"role": "user", "content": f"Plan graph steps for this request, in JSON.\n"
                                      f"Request: {request_text}"}
    turns = [ask, {"role": "assistant", "content": '{"steps": [], "notes": "No graph can do '
                                                   'this."}'}, ask]
    free = await llm.ask_model(turns, Plan, schema=plan_schema(catalogue), role="Planner")
    assert free.steps == []  # the model's own answer: nothing
    plan = await llm.ask_model(turns, Plan, schema=plan_schema(
        catalogue, require=require, required_first=operand is None), role="Planner")
    steps = [step for step in plan.steps if step.graph == graph]
    assert steps, plan
    if operand is not None:
        assert any(operand in (step.inputs.get("a"), step.inputs.get("b")) for step in steps)


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
