import json

import pytest
from pydantic import BaseModel

from company.events import EventBus, EventKind
from company.llm import (
    LLM,
    BudgetExceeded,
    LLMInvalidOutput,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
    ReplayMiss,
)
from company.llm.base import ModelMissing
from company.llm.cache import CacheMode
from company.llm.ollama_provider import OllamaProvider
from company.llm.openai_provider import OpenAICompatProvider
from company.llm.spec import parse_llm_spec
from company.llm.usage import Budget, CostManager, Price


class Answer(BaseModel):
    city: str
    population: int


def make_llm(fake, store=None, *, timeout=5.0, budget=None, task_id="", cache=CacheMode.OFF,
             prices=None, emit=None):
    return LLM(OllamaProvider(fake.host if fake else "http://127.0.0.1:9", timeout),
               model="qwen2.5", cost=CostManager(prices or {}, budget or Budget()), store=store,
               task_id=task_id, cache_mode=cache, max_retries=2, emit=emit)


async def test_plain_answer_and_usage(fake_ollama):
    fake_ollama.on("hello", "hi there")
    bus = EventBus("t")
    llm = make_llm(fake_ollama, emit=bus.emit)
    assert await llm.ask([{"role": "user", "content": "hello"}], role="Analyst") == "hi there"
    assert llm.cost.total.calls == 1 and llm.cost.total.completion_tokens > 0
    call = [e for e in bus.history if e.kind is EventKind.LLM_CALL][0]
    assert call.data["role"] == "Analyst" and call.data["prompt_tokens"] > 0


async def test_structured_output_sends_schema_as_format(fake_ollama):
    fake_ollama.on("city", json.dumps({"city": "Paris", "population": 2}))
    answer = await make_llm(fake_ollama).ask_model(
        [{"role": "user", "content": "city?"}], Answer, role="A")
    assert answer == Answer(city="Paris", population=2)
    assert fake_ollama.requests[0]["format"]["properties"]["city"]["type"] == "string"


async def test_invalid_json_then_valid_is_reasked_with_the_error(fake_ollama):
    fake_ollama.on("city", "not json at all", json.dumps({"city": "Oslo"}),
                   "```json\n" + json.dumps({"city": "Oslo", "population": 1}) + "\n```")
    answer = await make_llm(fake_ollama).ask_model(
        [{"role": "user", "content": "city?"}], Answer, role="A")
    assert answer.city == "Oslo"
    assert fake_ollama.chat_calls == 3
    last = fake_ollama.requests[-1]["messages"][-1]["content"]
    assert "population" in last and "not valid" in last


async def test_invalid_json_forever_fails_clearly(fake_ollama):
    fake_ollama.on("city", "{broken")
    with pytest.raises(LLMInvalidOutput, match="no valid Answer in 3 attempts"):
        await make_llm(fake_ollama).ask_model([{"role": "user", "content": "city?"}], Answer,
                                              role="A")
    assert fake_ollama.chat_calls == 3


async def test_server_down_names_the_host_and_ollama_serve():
    with pytest.raises(LLMUnavailable, match=r"127\.0\.0\.1:9.*ollama serve"):
        await make_llm(None).ask([{"role": "user", "content": "x"}], role="A")


async def test_timeout(fake_ollama):
    fake_ollama.on("slow", "late", delay_s=1.0)
    with pytest.raises(LLMTimeout, match="did not answer within 0.2 s"):
        await make_llm(fake_ollama, timeout=0.2).ask([{"role": "user", "content": "slow"}],
                                                      role="A")


async def test_http_500(fake_ollama):
    fake_ollama.on("x", "model crashed", status=500)
    with pytest.raises(LLMServerError, match="HTTP 500"):
        await make_llm(fake_ollama).ask([{"role": "user", "content": "x"}], role="A")


async def test_budget_exhausted_before_the_call(fake_ollama):
    fake_ollama.on("x", "y" * 400)
    llm = make_llm(fake_ollama, budget=Budget(max_cost=0.0001),
                   prices={"qwen2.5": Price(prompt=1000, completion=1000)})
    await llm.ask([{"role": "user", "content": "x"}], role="A")
    with pytest.raises(BudgetExceeded, match="budget exhausted"):
        await llm.ask([{"role": "user", "content": "x"}], role="A")
    assert fake_ollama.chat_calls == 1
    token_llm = make_llm(fake_ollama, budget=Budget(max_tokens=5))
    await token_llm.ask([{"role": "user", "content": "x"}], role="A")
    with pytest.raises(BudgetExceeded, match="token budget"):
        await token_llm.ask([{"role": "user", "content": "x"}], role="A")


async def test_record_then_replay_without_server(fake_ollama, store):
    fake_ollama.on("q", "first", "second")
    rec = make_llm(fake_ollama, store, cache=CacheMode.RECORD)
    msgs = [{"role": "user", "content": "q"}]
    assert [await rec.ask(msgs, role="A"), await rec.ask(msgs, role="A")] == ["first", "second"]
    fake_ollama.stop()
    replay = make_llm(None, store, cache=CacheMode.REPLAY)
    assert [await replay.ask(msgs, role="A"), await replay.ask(msgs, role="A")] == [
        "first", "second"]
    assert replay.cost.total.calls == 2  # usage counted as recorded, so metrics match
    with pytest.raises(ReplayMiss, match="no recorded answer"):
        await replay.ask([{"role": "user", "content": "other"}], role="A")


async def test_task_journal_replays_finished_calls_on_resume(fake_ollama, store):
    fake_ollama.on("q", "one", "two")
    msgs = [{"role": "user", "content": "q"}]
    first = make_llm(fake_ollama, store, task_id="t1")
    assert await first.ask(msgs, role="A") == "one"
    again = make_llm(fake_ollama, store, task_id="t1")
    assert await again.ask(msgs, role="A") == "one"
    assert await again.ask(msgs, role="A") == "two"
    assert fake_ollama.chat_calls == 2


async def test_preflight_pulls_a_missing_model_with_progress(fake_ollama):
    provider = OllamaProvider(fake_ollama.host)
    seen = []
    await provider.ensure_model("llama3.2", lambda s, c, t: seen.append((s, c, t)))
    assert fake_ollama.pulls == ["llama3.2"]
    assert ("downloading", 100, 100) in seen
    await provider.ensure_model("qwen2.5")
    assert fake_ollama.pulls == ["llama3.2"]
    with pytest.raises(ModelMissing, match="missing-model"):
        await provider.ensure_model("missing-model")
    with pytest.raises(LLMUnavailable, match="ollama serve"):
        await OllamaProvider("http://127.0.0.1:9").ensure_model("qwen2.5")


async def test_chat_with_a_model_the_server_lacks(fake_ollama):
    fake_ollama.on("x", "y")
    llm = LLM(OllamaProvider(fake_ollama.host), model="nope", cost=CostManager())
    with pytest.raises(ModelMissing, match="ollama pull nope"):
        await llm.ask([{"role": "user", "content": "x"}], role="A")


async def test_openai_compatible_provider(fake_ollama):
    fake_ollama.on("city", json.dumps({"city": "Rome", "population": 3}))
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager({"qwen2.5": Price(prompt=1e6, completion=0)}))
    answer = await llm.ask_model([{"role": "user", "content": "city"}], Answer, role="A")
    assert answer.city == "Rome"
    body = fake_ollama.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert llm.cost.total.cost == pytest.approx(llm.cost.total.prompt_tokens)


def test_llm_spec_parsing():
    assert str(parse_llm_spec("ollama:qwen2.5")) == "ollama:qwen2.5"
    spec = parse_llm_spec("openai:gpt-4o-mini@http://host/v1")
    assert (spec.provider, spec.model, spec.host) == ("openai", "gpt-4o-mini", "http://host/v1")
    assert parse_llm_spec("llama3.2:3b").model == "llama3.2:3b"
    with pytest.raises(ValueError):
        parse_llm_spec("  ")


PINNED_KEY = "d3aaf61e9d8ef7d2d5f38863d2f4fcd913460b09be6c9d15b07d18c66359785a"
"""The key of ``pinned_request()``, computed before requests carried role, action or bounds."""


def pinned_request():
    """The request whose cache key was pinned (``PINNED_KEY``, scope "Planner")."""
    from company.llm.base import ChatRequest

    return ChatRequest(
        model="qwen2.5",
        messages=[{"role": "system", "content": "You are the Planner."},
                  {"role": "user", "content": "## Task: WritePlan\nplan it"}],
        json_schema={"type": "object", "properties": {"steps": {"type": "array"}}},
        options={"temperature": 0},
    )


def test_cache_keys_are_pinned_and_ignore_who_asks():
    """Keys computed before requests carried role/action: recorded caches stay valid."""
    from company.llm.base import ChatRequest
    from company.llm.cache import request_key

    request = pinned_request()
    assert request_key("ollama", request, scope="Planner") == PINNED_KEY
    labelled = request.model_copy(update={"role": "Planner", "action": "WritePlan"})
    assert request_key("ollama", labelled, scope="Planner") == PINNED_KEY
    bare = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], action="X")
    assert request_key("ollama", bare) == (
        "9ab847f601b252e8fc956998dbeac33f16036553e7486041d481c39e145f271c")
