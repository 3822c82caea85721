"""The scripted provider: answers by action (else role), in turn for lists, from functions,
recorded requests, clear errors, and pydantic answers validated through RoleLLM.ask_model."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from company.llm import LLM, BudgetExceeded, LLMError, LLMInvalidOutput, LLMTimeout
from company.llm.base import ChatRequest, ChatResult, LLMOutputTruncated
from company.llm.bounds import DEFAULT_ANSWER_TOKENS
from company.llm.cache import CacheMode
from company.llm.scripted import Script, ScriptedProvider, count_tokens
from company.llm.usage import Budget, CostManager
from company.store import Store


class Plan(BaseModel):
    steps: list[str]
    notes: str = ""


def user(text: str) -> list[dict[str, str]]:
    """One user message."""
    return [{"role": "user", "content": text}]


def make_llm(answers: dict[str, Script], *, budget: Budget | None = None,
             **kwargs: object) -> tuple[LLM, ScriptedProvider]:
    """An LLM over a scripted provider, and the provider."""
    provider = ScriptedProvider(answers)
    return LLM(provider, model="m", cost=CostManager(budget=budget), **kwargs), provider


async def test_answers_are_chosen_by_action_not_by_prompt_text() -> None:
    llm, provider = make_llm({"WritePlan": "the plan", "AnalyzeRequest": "the analysis"})
    planner = llm.for_role("Planner")
    assert await planner.for_action("WritePlan").ask(user("anything at all")) == "the plan"
    assert await planner.for_action("AnalyzeRequest").ask(user("## Task: WritePlan")) == (
        "the analysis")
    assert [(c.role, c.action) for c in provider.calls] == [
        ("Planner", "WritePlan"), ("Planner", "AnalyzeRequest")]


async def test_the_role_answers_when_its_action_is_not_scripted() -> None:
    llm, provider = make_llm({"Analyst": "by role", "Summarize": "by action"})
    analyst = llm.for_role("Analyst")
    assert await analyst.ask(user("x")) == "by role"  # no action at all
    assert await analyst.for_action("Other").ask(user("x")) == "by role"
    assert await analyst.for_action("Summarize").ask(user("x")) == "by action"
    assert [c.action for c in provider.calls_for("Analyst")] == ["", "Other", "Summarize"]
    assert [c.role for c in provider.calls_for("Summarize")] == ["Analyst"]


async def test_a_list_answers_in_turn_then_says_it_ran_out() -> None:
    llm, _ = make_llm({"Step": ["one", "two"]})
    step = llm.for_role("R").for_action("Step")
    assert [await step.ask(user("a")), await step.ask(user("b"))] == ["one", "two"]
    with pytest.raises(LLMError, match=r"scripted answers for 'Step' ran out: 2 scripted, "
                                       r"call 3 asked"):
        await step.ask(user("c"))


async def test_a_function_answers_from_the_request() -> None:
    def echo(request: ChatRequest) -> str:
        return f"{request.role}/{request.action}: {request.messages[-1]['content']}"

    llm, _ = make_llm({"Echo": echo})
    assert await llm.for_role("Boss").for_action("Echo").ask(user("hi")) == "Boss/Echo: hi"


async def test_dicts_lists_of_models_and_functions_become_json() -> None:
    llm, _ = make_llm({
        "Dict": {"steps": ["a"]},
        "Models": [Plan(steps=["b"]), lambda _r: {"steps": ["c"]}],
        "Array": lambda _r: [1, 2],
    })
    role = llm.for_role("R")
    assert json.loads(await role.for_action("Dict").ask(user("x"))) == {"steps": ["a"]}
    models = role.for_action("Models")
    assert json.loads(await models.ask(user("x"))) == {"steps": ["b"], "notes": ""}
    assert json.loads(await models.ask(user("x"))) == {"steps": ["c"]}
    assert json.loads(await role.for_action("Array").ask(user("x"))) == [1, 2]


async def test_a_missing_script_names_the_action_and_the_scripted_ones() -> None:
    llm, provider = make_llm({"WritePlan": "p", "AnalyzeRequest": "a"})
    with pytest.raises(LLMError) as caught:
        await llm.for_role("Executor").for_action("RunGraph").ask(user("x"))
    assert str(caught.value) == (
        "the scripted provider has no answer for action 'RunGraph' of role 'Executor'; "
        "scripted: AnalyzeRequest, WritePlan")
    assert len(provider.calls) == 1  # the unanswered request is still recorded
    assert provider.unused() == ["AnalyzeRequest", "WritePlan"]


async def test_every_request_is_recorded_as_sent() -> None:
    llm, provider = make_llm({"WritePlan": "p"})
    llm.options = {"temperature": 0}
    schema = {"type": "object"}
    await llm.for_role("Planner").for_action("WritePlan").ask(user("plan it"),
                                                              json_schema=schema)
    (call,) = provider.calls_for("WritePlan")
    assert call == ChatRequest(model="m", messages=user("plan it"), json_schema=schema,
                               options={"temperature": 0}, role="Planner", action="WritePlan",
                               max_tokens=DEFAULT_ANSWER_TOKENS["WritePlan"])
    assert provider.unused() == []


async def test_pydantic_answers_are_validated_through_ask_model() -> None:
    llm, provider = make_llm({"WritePlan": Plan(steps=["multiply", "count"], notes="ok")})
    plan = await llm.for_role("Planner").for_action("WritePlan").ask_model(user("plan"), Plan)
    assert plan == Plan(steps=["multiply", "count"], notes="ok")
    assert provider.calls[0].json_schema == Plan.model_json_schema()


async def test_an_invalid_answer_is_reasked_with_the_error_then_gives_up() -> None:
    llm, provider = make_llm({"WritePlan": ["not json", {"steps": "nope"}, {"steps": ["s1"]}]})
    plan = await llm.for_role("Planner").for_action("WritePlan").ask_model(user("plan"), Plan)
    assert plan.steps == ["s1"]
    reask = provider.calls[2].messages[-1]["content"]
    assert reask.startswith("That answer is not valid: steps: Input should be a valid list")
    assert all(c.action == "WritePlan" for c in provider.calls)

    failing, _ = make_llm({"WritePlan": "never json"})
    with pytest.raises(LLMInvalidOutput, match="gave no valid Plan in 3 attempts"):
        await failing.for_role("Planner").for_action("WritePlan").ask_model(user("p"), Plan)


async def test_exceptions_and_chat_results_script_failures() -> None:
    cut = ChatResult(content='{"steps": [', completion_tokens=9, finish_reason="length")
    llm, _ = make_llm({"Slow": LLMTimeout("the scripted server is slow"), "Cut": cut})
    role = llm.for_role("R")
    with pytest.raises(LLMTimeout, match="the scripted server is slow"):
        await role.for_action("Slow").ask(user("x"))
    with pytest.raises(LLMOutputTruncated, match="cut off at its token limit"):
        await role.for_action("Cut").ask_model(user("x"), Plan)


async def test_token_counts_are_words_so_budgets_bite() -> None:
    assert count_tokens("three little words") == 3
    llm, _ = make_llm({"A": "four words of answer"}, budget=Budget(max_tokens=10))
    step = llm.for_role("R").for_action("A")
    await step.ask(user("one two three"))
    assert (llm.cost.total.prompt_tokens, llm.cost.total.completion_tokens) == (3, 4)
    await step.ask(user("one two three"))
    with pytest.raises(BudgetExceeded, match="used 14 of 10 tokens"):
        await step.ask(user("one two three"))


async def test_calls_are_cached_by_role_whatever_the_action(tmp_path) -> None:
    store = Store(tmp_path / "db.sqlite")
    try:
        first, _ = make_llm({"A": "recorded"}, store=store, cache_mode=CacheMode.RECORD)
        await first.for_role("R").for_action("A").ask(user("q"))
        replay, provider = make_llm({}, store=store, cache_mode=CacheMode.REPLAY)
        assert await replay.for_role("R").for_action("B").ask(user("q")) == "recorded"
        assert provider.calls == []  # answered from the cache: the action is only a label
    finally:
        store.close()


async def test_the_provider_needs_no_server() -> None:
    provider = ScriptedProvider({})
    assert (provider.name, provider.host) == ("scripted", "scripted://")
    assert await provider.reachable() is True
    assert await provider.ensure_model("anything") is None
