"""Bounded LLM calls: every call has an answer-token bound (per action, from the config) and a
deadline; an answer cut off by either is asked once more, then the call fails naming the
setting to raise; LLM_CALL events say which action asked and why a call re-asks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from company.config import LLMSettings, load_config
from company.events import EventBus, EventKind
from company.llm import (
    LLM,
    BudgetExceeded,
    CallBounds,
    LLMInvalidOutput,
    LLMOutputTruncated,
    LLMTimeout,
)
from company.llm.base import ChatRequest, ChatResult
from company.llm.bounds import DEFAULT_ANSWER_TOKENS
from company.llm.cache import CacheMode, request_key
from company.llm.client import Reask
from company.llm.embedded import EmbeddedProvider, EmbeddedSettings
from company.llm.ollama_provider import OllamaProvider
from company.llm.openai_provider import OpenAICompatProvider
from company.llm.scripted import Script, ScriptedProvider
from company.llm.usage import Budget, CostManager
from company.store import Store
from tests.fakes.ollama_server import FakeOllama


class Verdict(BaseModel):
    verdict: str
    feedback: str = ""


def user(text: str) -> list[dict[str, str]]:
    """One user message."""
    return [{"role": "user", "content": text}]


def scripted(answers: dict[str, Script], *, bounds: CallBounds | None = None,
             budget: Budget | None = None, cut: bool = False,
             **kwargs: Any) -> tuple[LLM, ScriptedProvider, EventBus]:
    """An LLM over a scripted provider, the provider, and the bus its events go to."""
    provider = ScriptedProvider(answers, cut_at_max_tokens=cut)
    bus = EventBus("t")
    llm = LLM(provider, model="m", cost=CostManager(budget=budget), bounds=bounds,
              emit=bus.emit, **kwargs)
    return llm, provider, bus


def calls(bus: EventBus) -> list[dict[str, Any]]:
    """The data of the LLM_CALL events, in order."""
    return [e.data for e in bus.history if e.kind is EventKind.LLM_CALL]


CUT = ChatResult(content='{"verdict": "acc', prompt_tokens=40, completion_tokens=200,
                 finish_reason="length")


# -- the bound reaches the server ------------------------------------------------------------

async def test_ollama_gets_the_actions_bound_as_num_predict(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("review", json.dumps({"verdict": "accept"}))
    llm = LLM(OllamaProvider(fake_ollama.host), model="qwen2.5", cost=CostManager(),
              options={"temperature": 0})
    reviewer = llm.for_role("Reviewer").for_action("ReviewResults")
    assert (await reviewer.ask_model(user("review"), Verdict)).verdict == "accept"
    await reviewer.ask(user("review"), max_tokens=77)
    await llm.for_role("Executor").ask(user("review"))  # a graph LLM block: no action
    sent = [r["options"] for r in fake_ollama.requests]
    assert sent == [{"temperature": 0, "num_predict": 200}, {"temperature": 0, "num_predict": 77},
                    {"temperature": 0, "num_predict": DEFAULT_ANSWER_TOKENS["default"]}]


async def test_an_options_num_predict_below_the_bound_stays(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("x", "y")
    llm = LLM(OllamaProvider(fake_ollama.host), model="qwen2.5", cost=CostManager(),
              options={"num_predict": 50})
    await llm.ask(user("x"), role="A", action="WritePlan")
    assert fake_ollama.requests[0]["options"] == {"num_predict": 50}


async def test_openai_compatible_servers_get_max_tokens(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("plan", json.dumps({"verdict": "accept"}))
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager(), bounds=CallBounds(max_answer_tokens={"WritePlan": 321}))
    await llm.ask_model(user("plan"), Verdict, role="Planner", action="WritePlan")
    await llm.ask(user("plan"), role="Planner", action="AnalyzeRequest", max_tokens=33)
    assert [r["max_tokens"] for r in fake_ollama.requests] == [321, 33]


class _Running:
    """Stands in for a started embedded server."""

    running = True
    url = "http://embedded"


def embedded_on(fake: FakeOllama, ceiling: int) -> EmbeddedProvider:
    """An embedded provider whose 'server' is the fake's OpenAI-compatible endpoint."""
    provider = EmbeddedProvider("qwen2.5", EmbeddedSettings(max_tokens=ceiling))
    provider._server = _Running()  # type: ignore[assignment]
    provider._client = OpenAICompatProvider(f"{fake.host}/v1")
    return provider


async def test_the_embedded_ceiling_caps_every_bound(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("x", "short")
    llm = LLM(embedded_on(fake_ollama, ceiling=300), model="qwen2.5", cost=CostManager())
    await llm.ask(user("x"), role="Planner", action="WritePlan")  # 600 > the ceiling
    await llm.ask(user("x"), role="Reviewer", action="ReviewResults")  # 200 < the ceiling
    assert [r["max_tokens"] for r in fake_ollama.requests] == [300, 200]


async def test_a_cut_under_the_embedded_ceiling_names_its_setting(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.on("x", "The answer is").finish_reason = "length"
    llm = LLM(embedded_on(fake_ollama, ceiling=64), model="qwen2.5", cost=CostManager())
    with pytest.raises(LLMOutputTruncated, match=r"caps every answer at 64 tokens: raise "
                       r"llm\.embedded\.max_tokens in config/config\.yaml"):
        await llm.ask(user("x"), role="Boss", action="SummarizeResults")


# -- bounds from the config --------------------------------------------------------------------

def test_bounds_come_from_the_config_over_the_shipped_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("llm: {max_answer_tokens: {WritePlan: 900, Translate: 64}, "
                    "call_deadline_s: 42}\n")
    bounds = load_config(path).llm.bounds()
    assert bounds.call_deadline_s == 42
    assert bounds.answer_tokens("WritePlan") == 900
    assert bounds.answer_tokens("Translate") == 64
    assert bounds.answer_tokens("AnalyzeRequest") == DEFAULT_ANSWER_TOKENS["AnalyzeRequest"]
    assert bounds.answer_tokens("SomethingNew") == bounds.answer_tokens("") == 512
    assert bounds.setting_for("WritePlan") == "llm.max_answer_tokens.WritePlan"
    assert bounds.setting_for("SomethingNew") == "llm.max_answer_tokens.default"


def test_the_shipped_config_states_the_bounds() -> None:
    defaults = LLMSettings()
    shipped = load_config().llm
    assert shipped.max_answer_tokens == defaults.max_answer_tokens == DEFAULT_ANSWER_TOKENS
    assert shipped.call_deadline_s == defaults.call_deadline_s == 300
    assert shipped.call_deadline_s < shipped.embedded.request_timeout_s  # the deadline decides
    for action in ("AnalyzeRequest", "WritePlan", "SummarizeResults", "ReviewResults",
                   "RoleReact", "RolePlan"):
        assert defaults.max_answer_tokens[action] <= shipped.embedded.max_tokens, action


@pytest.mark.parametrize("bad", [8, 0, "many", 12.5, True])
def test_a_bound_must_be_a_sensible_token_count(bad: object) -> None:
    with pytest.raises(ValidationError, match="llm.max_answer_tokens.WritePlan must be a whole "
                       "number of at least 16 tokens"):
        LLMSettings(max_answer_tokens={"WritePlan": bad})
    with pytest.raises(ValidationError, match="call_deadline_s"):
        LLMSettings(call_deadline_s=0)


async def test_the_llm_applies_the_configured_bounds() -> None:
    settings = LLMSettings(max_answer_tokens={"WritePlan": 700})
    llm, provider, _ = scripted({"WritePlan": "p", "RoleReact": "r"}, bounds=settings.bounds())
    planner = llm.for_role("Planner")
    await planner.for_action("WritePlan").ask(user("plan"))
    await planner.for_action("RoleReact").ask(user("next"))
    assert [c.max_tokens for c in provider.calls] == [700, DEFAULT_ANSWER_TOKENS["RoleReact"]]


# -- a cut-off answer is asked once more, then fails --------------------------------------------

async def test_a_truncated_answer_is_asked_once_more_briefly_then_fails_clearly() -> None:
    llm, provider, bus = scripted({"ReviewResults": CUT})
    reviewer = llm.for_role("Reviewer").for_action("ReviewResults")
    with pytest.raises(LLMOutputTruncated) as caught:
        await reviewer.ask_model(user("review it"), Verdict)
    message = str(caught.value)
    assert "cut off at its token limit" in message and "(40 prompt + 200 answer tokens)" in message
    assert "the Reviewer's ReviewResults" in message
    assert "Raise llm.max_answer_tokens.ReviewResults (now 200) in config/config.yaml" in message
    assert len(provider.calls) == 2  # once more, not max_retries more
    first, second = (c.messages[-1]["content"] for c in provider.calls)
    assert first == "review it"
    assert second.startswith("review it\n\nYour last answer was cut off at the limit of 200 "
                             "tokens") and "more briefly" in second
    assert [(c["reask"], c["cut_off"]) for c in calls(bus)] == [
        (None, "truncated"), ("truncated", "truncated")]
    assert llm.cost.total.calls == 2 and llm.cost.total.completion_tokens == 400


async def test_a_truncated_answer_then_a_whole_one_is_the_answer() -> None:
    llm, provider, bus = scripted({"ReviewResults": [CUT, Verdict(verdict="accept")]})
    verdict = await llm.for_role("Reviewer").for_action("ReviewResults").ask_model(
        user("review"), Verdict)
    assert verdict.verdict == "accept" and len(provider.calls) == 2
    assert [c["reask"] for c in calls(bus)] == [None, "truncated"]


async def test_plain_text_cut_mid_sentence_is_not_an_answer() -> None:
    long_report = "The answer is 42 and " + "more words " * 40

    def report(request: ChatRequest) -> str:
        return "The answer is 42." if "more briefly" in request.messages[-1]["content"] \
            else long_report

    llm, provider, bus = scripted({"SummarizeResults": report}, cut=True,
                                  bounds=CallBounds(max_answer_tokens={"SummarizeResults": 20}))
    text = await llm.for_role("Boss").for_action("SummarizeResults").ask(user("report"))
    assert text == "The answer is 42."
    assert provider.calls[0].max_tokens == 20 and len(provider.calls) == 2
    assert [c["cut_off"] for c in calls(bus)] == ["truncated", None]

    always, _, _ = scripted({"SummarizeResults": long_report * 10}, cut=True)
    with pytest.raises(LLMOutputTruncated, match=r"finishing its answer \(the Boss's "
                       r"SummarizeResults\).*SummarizeResults \(now 500\)"):
        await always.for_role("Boss").for_action("SummarizeResults").ask(user("report"))


async def test_a_truncated_answer_without_an_own_bound_names_the_default() -> None:
    llm, _, _ = scripted({"Translate": CUT})
    with pytest.raises(LLMOutputTruncated, match=r"Raise llm\.max_answer_tokens\.default "
                       r"\(now 512\), or give the action its own "
                       r"llm\.max_answer_tokens\.Translate in config/config\.yaml"):
        await llm.for_role("Executor").for_action("Translate").ask(user("x"))
    llm, _, _ = scripted({"Translate": CUT})
    with pytest.raises(LLMOutputTruncated, match=r"action's code bounds this answer to 99 "
                       r"tokens"):
        await llm.for_role("Executor").for_action("Translate").ask(user("x"), max_tokens=99)


async def test_truncation_through_the_fake_ollama_server(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("plan", '{"steps": [{"id": "s1"').finish_reason = "length"
    llm = LLM(OllamaProvider(fake_ollama.host), model="qwen2.5", cost=CostManager())
    with pytest.raises(LLMOutputTruncated, match=r"llm\.max_answer_tokens\.WritePlan "
                       r"\(now 600\)"):
        await llm.ask_model(user("plan"), Verdict, role="Planner", action="WritePlan")
    assert fake_ollama.chat_calls == 2
    assert [r["options"]["num_predict"] for r in fake_ollama.requests] == [600, 600]


# -- the deadline ------------------------------------------------------------------------------

def slow(seconds: float, answer: str = "late") -> Any:
    """A scripted answer that takes ``seconds``."""
    async def answer_later(request: ChatRequest) -> str:
        await asyncio.sleep(seconds)
        return answer
    return answer_later


async def test_a_call_past_its_deadline_is_asked_once_more_then_fails_clearly() -> None:
    llm, provider, bus = scripted({"AnalyzeRequest": slow(5)},
                                  bounds=CallBounds(call_deadline_s=0.05))
    with pytest.raises(LLMTimeout) as caught:
        await llm.for_role("Analyst").for_action("AnalyzeRequest").ask(user("x"))
    message = str(caught.value)
    assert "no answer within the call deadline of 0.05 s (the Analyst's AnalyzeRequest, " \
           "asked twice)" in message
    assert "Raise llm.call_deadline_s in config/config.yaml" in message
    assert [c.messages for c in provider.calls] == [user("x"), user("x")]  # the same request
    assert [(c["reask"], c["cut_off"], c["completion_tokens"]) for c in calls(bus)] == [
        (None, "deadline", 0), ("deadline", "deadline", 0)]
    assert all(c["duration_s"] < 1 for c in calls(bus))
    assert llm.cost.total.calls == 2  # a call that ran out of time still counts


async def test_a_late_call_then_a_timely_one_is_the_answer() -> None:
    llm, _, bus = scripted({"AnalyzeRequest": [slow(5), slow(0, "in time")]},
                           bounds=CallBounds(call_deadline_s=0.1))
    assert await llm.for_role("Analyst").for_action("AnalyzeRequest").ask(user("x")) == "in time"
    assert [c["reask"] for c in calls(bus)] == [None, "deadline"]


async def test_the_deadline_cuts_a_slow_ollama_server(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("slow", "late", delay_s=0.6)
    llm = LLM(OllamaProvider(fake_ollama.host, timeout_s=5), model="qwen2.5",
              cost=CostManager(), bounds=CallBounds(call_deadline_s=0.15))
    with pytest.raises(LLMTimeout, match=r"call deadline of 0\.15 s"):
        await llm.ask(user("slow"), role="Analyst")
    assert fake_ollama.chat_calls == 2


async def test_the_http_limit_is_retried_once_and_named(fake_ollama: FakeOllama) -> None:
    fake_ollama.on("slow", "late", delay_s=0.6)
    llm = LLM(OllamaProvider(fake_ollama.host, timeout_s=0.15), model="qwen2.5",
              cost=CostManager())
    with pytest.raises(LLMTimeout, match=r"did not answer within 0\.15 s \(the Analyst, asked "
                       r"twice\)\. Raise the HTTP limit \(llm\.timeout_s"):
        await llm.ask(user("slow"), role="Analyst")
    assert fake_ollama.chat_calls == 2


# -- budget, journal and cache ---------------------------------------------------------------

async def test_the_budget_applies_to_the_retry() -> None:
    llm, provider, _ = scripted({"ReviewResults": CUT}, budget=Budget(max_llm_calls=1))
    with pytest.raises(BudgetExceeded, match="made 1 of 1 calls"):
        await llm.for_role("Reviewer").for_action("ReviewResults").ask(user("x"))
    assert len(provider.calls) == 1


async def test_the_journal_keeps_the_final_answer_and_replays_it_without_retrying(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "company.db")
    try:
        first, provider, _ = scripted({"ReviewResults": [CUT, "whole answer"]}, store=store,
                                      task_id="t1")
        role = first.for_role("Reviewer").for_action("ReviewResults")
        assert await role.ask(user("review")) == "whole answer"
        assert len(provider.calls) == 2
        again, replaying, bus = scripted({"ReviewResults": CUT}, store=store, task_id="t1")
        role = again.for_role("Reviewer").for_action("ReviewResults")
        assert await role.ask(user("review")) == "whole answer"
        assert replaying.calls == [] and calls(bus)[0]["source"] == "journal"
    finally:
        store.close()


async def test_recorded_answers_replay_with_their_bounds(tmp_path: Path) -> None:
    store = Store(tmp_path / "company.db")
    try:
        rec, _, _ = scripted({"WritePlan": "the plan"}, store=store,
                             cache_mode=CacheMode.RECORD)
        assert await rec.ask(user("p"), role="Planner", action="WritePlan") == "the plan"
        replay, provider, _ = scripted({}, store=store, cache_mode=CacheMode.REPLAY)
        assert await replay.ask(user("p"), role="Planner", action="WritePlan") == "the plan"
        assert provider.calls == []
    finally:
        store.close()


def test_cache_keys_without_a_bound_are_unchanged() -> None:
    """The keys pinned before bounds existed (tests/test_llm.py) stay; a bound changes them."""
    from tests.test_llm import PINNED_KEY, pinned_request

    request, pinned = pinned_request(), PINNED_KEY
    assert request.max_tokens is None
    assert request_key("ollama", request, scope="Planner") == pinned
    bounded = request.model_copy(update={"max_tokens": 600})
    other = request.model_copy(update={"max_tokens": 601})
    keys = {request_key("ollama", r, scope="Planner") for r in (request, bounded, other)}
    assert len(keys) == 3


# -- events and the shared interface -----------------------------------------------------------

async def test_events_carry_the_action_and_why_a_call_reasks() -> None:
    llm, _, bus = scripted({"WritePlan": ["not json", {"verdict": "accept"}]})
    await llm.for_role("Planner").for_action("WritePlan").ask_model(user("plan"), Verdict)
    events = calls(bus)
    assert [(e["role"], e["action"], e["reask"], e["cut_off"], e["max_tokens"])
            for e in events] == [("Planner", "WritePlan", None, None, 600),
                                 ("Planner", "WritePlan", "invalid", None, 600)]


async def test_schema_replaces_the_output_models_schema_as_the_constraint() -> None:
    constraint = {"type": "object", "properties": {"verdict": {"enum": ["accept", "replan"]}},
                  "required": ["verdict"]}
    llm, provider, _ = scripted({"ReviewResults": ["{}", {"verdict": "replan"}]})
    reviewer = llm.for_role("Reviewer").for_action("ReviewResults")
    verdict = await reviewer.ask_model(user("review"), Verdict, schema=constraint, max_tokens=90)
    assert verdict == Verdict(verdict="replan")
    assert [c.json_schema for c in provider.calls] == [constraint, constraint]
    assert [c.max_tokens for c in provider.calls] == [90, 90]
    assert json.dumps(constraint) in provider.calls[1].messages[-1]["content"]


async def test_ask_takes_schema_as_another_name_for_json_schema() -> None:
    constraint = {"type": "object"}
    llm, provider, _ = scripted({"A": "{}"})
    role = llm.for_role("R").for_action("A")
    await role.ask(user("x"), schema=constraint, max_tokens=30)
    await role.ask(user("x"), json_schema=constraint)
    assert [(c.json_schema, c.max_tokens) for c in provider.calls] == [
        (constraint, 30), (constraint, DEFAULT_ANSWER_TOKENS["default"])]
    with pytest.raises(ValueError, match="json_schema= or schema=, not both"):
        await role.ask(user("x"), json_schema=constraint, schema={"type": "array"})


async def test_the_scripted_provider_cuts_at_the_bound_when_asked() -> None:
    provider = ScriptedProvider({"A": "one two three four five"}, cut_at_max_tokens=True)
    cut = await provider.chat(ChatRequest(model="m", messages=user("x"), action="A",
                                          max_tokens=3))
    assert (cut.content, cut.completion_tokens, cut.finish_reason) == (
        "one two three", 3, "length")
    whole = await provider.chat(ChatRequest(model="m", messages=user("x"), action="A"))
    assert (whole.content, whole.finish_reason) == ("one two three four five", "stop")


# -- an answer the server discarded ----------------------------------------------------------

PEG = "The model produced output that does not match the expected peg-native format"


async def test_an_answer_the_server_rejected_is_drawn_again_with_some_randomness(
        fake_ollama: FakeOllama) -> None:
    def reply(body: dict[str, Any]) -> str:
        if rule.used == 1:
            rule.status = 200  # the next draw passes
            return PEG
        return json.dumps({"verdict": "accept"})

    rule = fake_ollama.on("plan", reply, status=500)
    bus = EventBus("t")
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager(), options={"temperature": 0}, emit=bus.emit)
    verdict = await llm.ask_model(user("plan"), Verdict, role="Planner", action="WritePlan")
    assert verdict.verdict == "accept"
    first, again = fake_ollama.requests
    assert first["temperature"] == 0 and again["temperature"] > 0 and "seed" in again
    assert first["messages"] == again["messages"]  # nothing to show the model: asked the same
    assert [(c["reask"], c["cut_off"]) for c in calls(bus)] == [(None, "rejected"),
                                                                ("rejected", None)]


async def test_a_text_answer_the_caller_s_check_rejected_is_asked_again_sampled(
        fake_ollama: FakeOllama) -> None:
    """A report re-asked for what its check found (``Reask.CHECKED``) is drawn with some
    randomness: at temperature 0 a 0.5B model gave the same report back."""
    fake_ollama.on("report", "The product is 42.")
    bus = EventBus("t")
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager(), options={"temperature": 0}, emit=bus.emit)
    await llm.ask(user("report"), role="Analyst", action="SummarizeResults")
    await llm.ask(user("report"), role="Analyst", action="SummarizeResults",
                  reask=Reask.CHECKED)
    first, again = fake_ollama.requests
    assert first["temperature"] == 0 and again["temperature"] > 0 and "seed" in again
    assert [c["reask"] for c in calls(bus)] == [None, "checked"]


async def test_a_doubted_ask_is_labelled_so_and_asked_as_configured(
        fake_ollama: FakeOllama) -> None:
    """A caller that doubts a valid answer asks again; its LLM_CALL says why, and an invalid
    answer to it is re-asked as any other."""
    answers = iter(["not json", json.dumps({"verdict": "accept"})])
    fake_ollama.on("plan", lambda body: next(answers))
    bus = EventBus("t")
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager(), options={"temperature": 0}, emit=bus.emit)
    verdict = await llm.ask_model(user("plan"), Verdict, role="Planner", action="WritePlan",
                                  reask=Reask.DOUBTED)
    assert verdict.verdict == "accept"
    assert [r["temperature"] for r in fake_ollama.requests] == [0, 0]
    assert [c["reask"] for c in calls(bus)] == ["doubted", "invalid"]


async def test_an_answer_rejected_every_time_fails_naming_the_server_error(
        fake_ollama: FakeOllama) -> None:
    fake_ollama.on("plan", PEG, status=500)
    llm = LLM(OpenAICompatProvider(f"{fake_ollama.host}/v1"), model="qwen2.5",
              cost=CostManager(), max_retries=1)
    with pytest.raises(LLMInvalidOutput, match="peg-native format"):
        await llm.ask_model(user("plan"), Verdict, role="Planner", action="WritePlan")
    assert fake_ollama.chat_calls == 2


async def test_the_embedded_model_s_rejected_answer_is_drawn_again_too(
        fake_ollama: FakeOllama) -> None:
    def reply(body: dict[str, Any]) -> str:
        if rule.used == 1:
            rule.status = 200
            return PEG
        return json.dumps({"verdict": "accept"})

    rule = fake_ollama.on("plan", reply, status=500)
    llm = LLM(embedded_on(fake_ollama, 512), model="qwen2.5", cost=CostManager())
    verdict = await llm.ask_model(user("plan"), Verdict, role="Planner", action="WritePlan")
    assert verdict.verdict == "accept" and fake_ollama.chat_calls == 2
