"""WritePlan, the action: a plan for the newest analysis and the Boss's own words, asked with
the catalogue's plan schema, its dependencies derived, re-asked with its problems until it is
valid, and re-planned with a reviewer's feedback (plan_problems: tests/test_planning.py; the
schema: tests/test_graphs_plan_schema.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from actions.analyze_request import AnalyzeRequest
from actions.planning import draft_plan
from actions.review_results import ReviewResults
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from actions.write_plan import WritePlan, describe_plan
from company.action import ActionFailed
from company.boss import UserRequirement
from company.config import AppConfig
from company.events import EventKind
from company.graphs.plan_schema import plan_schema
from company.payloads import Analysis, Plan, Review
from tests.action_support import harness, offline_config
from tests.conftest import ANALYSIS, PLAN

BAD_PLAN = {"steps": [{"id": "s1", "graph": "teleport", "inputs": {}}]}
REQUEST = "Multiply 6 by 7 and count the words of 'the quick brown fox'"
DERIVED = Plan.model_validate(PLAN).model_copy(deep=True)
DERIVED.steps[1].depends_on = []  # s2 refers to no output of s1: the scripted edge is dropped


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


def planner(config, store, answers, **options):
    return harness(config, store, {"WritePlan": answers}, role="Planner", options=options)


async def plan_for(h, request: str):
    """The Planner's output for the Boss's ``request`` and the scripted analysis."""
    h.remember(request, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    return out


async def test_the_newest_analysis_becomes_a_plan(config, store):
    h = planner(config, store, PLAN)
    h.remember(REQUEST, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.cause_by == "WritePlan" and out.send_to is None
    assert out.payload == DERIVED
    assert out.content == (
        "1. s1: run calculate with {'a': 6, 'b': 7, 'operation': 'Multiply'}. multiply\n"
        "2. s2: run word_count with {'text': 'the quick brown fox'}. count words")
    [prompt] = h.prompts("WritePlan")
    assert prompt.endswith(f"The Boss's request:\n{REQUEST}")
    assert "To do:" not in prompt  # the Boss's own words, not the Analyst's items, are planned
    assert "calculate(a: number" in prompt and "word_count(text: string)" in prompt
    assert "rejected" not in prompt and "depends_on" not in prompt
    [call] = h.provider.calls
    assert call.role == "Planner"
    assert call.json_schema == plan_schema(h.ctx.services.catalogue())  # the constraint sent
    assert h.events == []


async def test_the_prompt_carries_the_requests_quoted_text_verbatim(config, store):
    request = ("How many words are in this sentence: 'Please send the quarterly report to "
               "finance by Friday'?")
    h = planner(config, store, PLAN)
    h.remember(request, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest,
                          {**ANALYSIS, "action_items": [{"text": "Count the words in the "
                                                         "sentence.", "priority": "high"}]},
                          sent_from="Analyst")
    await WritePlan(h.ctx).run([analysis])
    prompt = h.prompts("WritePlan")[0]  # then re-asked: no step of PLAN uses the quoted text
    assert "'Please send the quarterly report to finance by Friday'" in prompt
    assert "Copy quoted text, numbers and names from the request exactly" in prompt
    assert ANALYSIS["summary"] not in prompt  # the Boss's words, not the Analyst's retelling


async def test_a_voice_note_and_earlier_turns_reach_the_prompt(config, store):
    h = planner(config, store, PLAN)
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("# Report\n\n6 × 7 = 42.", SummarizeResults, sent_from="Analyst")
    h.remember("Voice note (transcribed): Count the words I typed.\n\nTyped text: "
               "Churn is up 2.5% in EMEA.", Transcribe, sent_from="Transcriber")
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    await WritePlan(h.ctx).run([analysis])
    prompt = h.prompts("WritePlan")[0]  # then re-asked: the scripted plan leaves out 2.5
    assert ("The Boss's request:\nVoice note (transcribed): Count the words I typed.\n\n"
            "Typed text: Churn is up 2.5% in EMEA.") in prompt
    earlier = prompt.split("Earlier in this conversation:\n")[1].split("\n\n")[0]
    assert earlier.startswith("- Boss: What is 6 times 7?\n- Report: ")
    assert "42" in earlier


async def test_without_the_boss_words_in_memory_the_analysis_stands_in(config, store):
    h = planner(config, store, PLAN)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    await WritePlan(h.ctx).run([analysis])
    [prompt] = h.prompts("WritePlan")
    assert f"The request, in the Analyst's words: {ANALYSIS['summary']}" in prompt
    assert "To do:\n- Multiply 6 by 7\n- Count the words of 'the quick brown fox'" in prompt
    assert "The Boss's request" not in prompt and "Earlier in this conversation" not in prompt


async def test_the_prompt_shows_real_examples_and_no_placeholders(config, store):
    h = planner(config, store, PLAN)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    await WritePlan(h.ctx).run([analysis])
    [prompt] = h.prompts("WritePlan")
    assert prompt.count("Example. Request: ") == 3
    assert '"graph": "answer_question", "inputs": {"question": ' in prompt
    assert '{"steps": [], "notes": "No graph can send email."}' in prompt
    assert '"graph": "calculate", "inputs": {"a": "{{ s1.result }}"' in prompt
    assert not re.search(r"<[A-Za-z][^<>]*>", prompt)  # no "<earlier step id>" to copy


async def test_the_option_plan_examples_sets_how_many_are_shown(config, store):
    for shown in (0, 1):
        h = planner(config, store, PLAN, plan_examples=shown)
        analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
        await WritePlan(h.ctx).run([analysis])
        assert h.prompts("WritePlan")[0].count("Example. Request: ") == shown


async def test_dependencies_are_derived_from_references(config, store):
    chained = {"steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"},
         "depends_on": ["s2"], "purpose": "multiply"},
        {"id": "s2", "graph": "calculate",
         "inputs": {"a": "{{ s1.result }}", "b": 1, "operation": "Add"}, "purpose": "add"}]}
    h = planner(config, store, chained)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [s.depends_on for s in out.payload.steps] == [[], ["s1"]]
    assert "2. s2: run calculate with {'a': '{{ s1.result }}', 'b': 1, 'operation': 'Add'} " \
           "after s1. add" in out.content


async def test_a_re_plan_reads_the_analysis_from_memory_and_the_feedback_from_the_news(
        config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("plan", WritePlan, {"steps": []}, sent_from="Planner")
    review = h.remember("Re-plan: also count the words", ReviewResults,
                        Review(verdict="replan", feedback="also count the words"),
                        sent_from="Analyst", send_to=["Planner"])
    [out] = await h.publish(WritePlan, [review])
    assert out.payload == DERIVED
    prompt = h.prompts("WritePlan")[0]
    assert "Your previous plan was rejected. Fix these problems:\n" \
           "- reviewer: also count the words" in prompt
    assert "- Multiply 6 by 7" in prompt  # the analysis, from memory


async def test_an_accepting_review_brings_no_feedback(config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    fine = h.remember("fine", "CritiquePlan", Review(verdict="accept", feedback="looks good"),
                      sent_from="Critic")
    await WritePlan(h.ctx).run([fine])
    assert "looks good" not in h.prompts("WritePlan")[0]


async def test_an_invalid_plan_is_re_asked_with_its_problems(config, store):
    h = planner(config, store, [BAD_PLAN, PLAN])
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload == DERIVED
    first, second = h.prompts("WritePlan")
    assert "teleport" not in first
    assert "Fix these problems:\n- step s1:" in second and "teleport" in second
    [(kind, data)] = h.events
    assert kind is EventKind.PROGRESS and data["what"] == "plan_rejected"
    [problem] = data["problems"]
    assert problem.startswith("step s1: Unknown graph 'teleport'. Known graphs: answer_question")


async def test_a_plan_that_copies_an_example_is_rejected_and_re_asked(config, store):
    """What the 1.5B answered to the quickstart's request: the example's own question."""
    copied = {"steps": [
        {"id": "s1", "graph": "answer_question",
         "inputs": {"question": "What language is spoken in Brazil?"}},
        {"id": "s2", "graph": "word_count", "inputs": {"text": "the quick brown fox"}}]}
    h = planner(config, store, [copied, PLAN])
    h.remember("What is 6 times 7, and how many words are in 'the quick brown fox'?",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload == DERIVED
    first, second = h.prompts("WritePlan")
    assert "Example. Request: What language is spoken in Brazil" in first
    assert "- step s1 copies 'What language is spoken in Brazil?' from an example" in second
    assert [d["what"] for _, d in h.events] == ["plan_rejected"]


async def test_a_reference_to_a_later_step_is_rejected_and_re_asked(config, store):
    later = {"steps": [
        {"id": "s1", "graph": "word_count", "inputs": {"text": "{{ s2.result }}"}},
        {"id": "s2", "graph": "calculate", "inputs": {"a": 1, "b": 2}}]}
    h = planner(config, store, [later, PLAN])
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    await WritePlan(h.ctx).run([analysis])
    second = h.prompts("WritePlan")[1]
    assert "- step s1 uses s2.result, but s2 is not an earlier step" in second
    assert [d["what"] for _, d in h.events] == ["plan_rejected"]


async def test_a_plan_still_invalid_after_max_plan_fixes_fails_the_action(config, store):
    h = planner(config, store, [BAD_PLAN, BAD_PLAN, PLAN], max_plan_fixes=1)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    with pytest.raises(ActionFailed, match=r"still invalid after 2 attempts: - step s1: .*"
                                           r"teleport"):
        await WritePlan(h.ctx).run([analysis])
    assert len(h.provider.calls_for("WritePlan")) == 2  # the third answer was never asked
    assert [d["what"] for _, d in h.events] == ["plan_rejected", "plan_rejected"]


async def test_no_analysis_anywhere_fails_without_asking(config, store):
    h = planner(config, store, PLAN)
    review = h.remember("Re-plan", ReviewResults, Review(verdict="replan"), sent_from="Analyst")
    with pytest.raises(ActionFailed, match="there is no analysis to plan from"):
        await WritePlan(h.ctx).run([review])
    assert h.provider.calls == []


def test_it_is_triggered_by_an_analysis_a_review_or_failed_results():
    assert WritePlan.trigger_names() == {"AnalyzeRequest", "ReviewResults", "RunGraphs"}
    assert WritePlan.payload is Plan


def test_describe_plan_of_no_steps_gives_the_notes():
    assert describe_plan(Plan(notes="Nothing in the catalogue helps.")) == (
        "No steps. Nothing in the catalogue helps.")
    assert describe_plan(Plan()) == "No steps."


def failed_results(graph: str = "wikipedia_lookup",
                   error: str = "GetWikipediaSummaryBlock: cannot resolve host "
                                "'en.wikipedia.org': Name or service not known") -> dict:
    return {"steps": [{"step_id": "s1", "graph": graph, "status": "FAILED", "error": error}]}


async def test_results_without_failures_bring_no_re_plan(config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    ok = {"steps": [{"step_id": "s1", "graph": "calculate", "status": "COMPLETED",
                     "outputs": {"result": [42.0]}}]}
    results = h.remember("s1 ok", "RunGraphs", ok, sent_from="Executor", send_to=["Planner"])
    assert await WritePlan(h.ctx).run([results]) is None
    assert h.provider.calls == []


async def test_failed_steps_are_re_planned_with_the_failure_in_view(config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    results = h.remember("s1 failed", "RunGraphs", failed_results(), sent_from="Executor",
                         send_to=["Planner"])
    out = await WritePlan(h.ctx).run([results])
    assert out is not None and [s.graph for s in out.payload.steps] == ["calculate", "word_count"]
    prompt = h.prompts("WritePlan")[-1]
    assert "step s1 (wikipedia_lookup) failed: GetWikipediaSummaryBlock: cannot resolve host" in (
        prompt)


async def test_a_re_plan_after_failure_that_stays_invalid_becomes_an_empty_plan(config, store):
    bad = {"steps": [{"id": "s1", "graph": "teleport", "inputs": {}}], "notes": ""}
    h = planner(config, store, [bad, bad, bad])
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    results = h.remember("s1 failed", "RunGraphs", failed_results(), sent_from="Executor",
                         send_to=["Planner"])
    out = await WritePlan(h.ctx).run([results])
    assert out is not None and out.payload.steps == []
    assert out.payload.notes.startswith("No other plan could be made after the failure: the "
                                        "plan was still invalid after 3 attempts")


async def test_a_re_plan_after_failure_is_not_offered_the_failed_graph(config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    results = h.remember("s1 failed", "RunGraphs", failed_results(), sent_from="Executor",
                         send_to=["Planner"])
    await WritePlan(h.ctx).run([results])
    call = h.provider.calls_for("WritePlan")[-1]
    graphs = {b["properties"]["graph"]["const"]
              for b in call.json_schema["$defs"]["step"]["anyOf"]}
    assert "wikipedia_lookup" not in graphs and "answer_question" in graphs
    assert "wikipedia_lookup(" not in call.messages[-1]["content"].split("failed:")[0]


def offered_graphs(call) -> set[str]:
    return {b["properties"]["graph"]["const"] for b in call.json_schema["$defs"]["step"]["anyOf"]}


async def test_after_a_host_could_not_be_resolved_no_graph_that_needs_the_network_is_offered(
        config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    results = h.remember("s1 failed", "RunGraphs", failed_results(), sent_from="Executor",
                         send_to=["Planner"])
    await WritePlan(h.ctx).run([results])
    graphs = offered_graphs(h.provider.calls_for("WritePlan")[-1])
    assert not graphs & h.ctx.services.catalogue().network_graphs()
    assert "summarize_web_page" not in graphs and {"answer_question", "calculate"} <= graphs


async def test_another_failure_takes_only_its_own_graph_out(config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    failed = failed_results("split_text", "TextSplitBlock: delimiter must not be empty")
    results = h.remember("s1 failed", "RunGraphs", failed, sent_from="Executor",
                         send_to=["Planner"])
    await WritePlan(h.ctx).run([results])
    graphs = offered_graphs(h.provider.calls_for("WritePlan")[-1])
    assert "split_text" not in graphs
    assert {"wikipedia_lookup", "summarize_web_page", "word_count"} <= graphs


WIKI_PLAN = {"steps": [
    {"id": "s1", "purpose": "Find the capital of Australia", "graph": "wikipedia_lookup",
     "inputs": {"topic": "Australia"}},
    {"id": "s2", "purpose": "count its words", "graph": "word_count",
     "inputs": {"text": "{{ s1.summary }}"}},
], "notes": ""}


async def test_a_lookup_that_could_not_reach_its_host_is_answered_from_the_models_knowledge(
        config, store):
    h = planner(config, store, PLAN)
    h.remember("What's the capital of Australia, in words?", UserRequirement)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("plan", WritePlan, WIKI_PLAN, sent_from="Planner")
    results = h.remember("s1 failed", "RunGraphs", failed_results(), sent_from="Executor",
                         send_to=["Planner"])
    out = await WritePlan(h.ctx).run([results])
    assert out is not None and h.provider.calls == []  # no model call for this re-plan
    first, second = out.payload.steps
    assert first.graph == "answer_question"
    assert first.inputs["question"] == "Find the capital of Australia (Australia)"
    assert first.inputs["context"] == (
        "The Boss asked: What's the capital of Australia, in words?")
    assert second.inputs == {"text": "{{ s1.answer }}"} and second.depends_on == ["s1"]
    assert "answered from the model's own knowledge" in out.payload.notes
    assert any(data.get("what") == "offline_fallback" for _, data in h.events)


async def test_a_failure_that_is_not_the_network_is_still_re_planned_by_the_model(
        config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("plan", WritePlan, WIKI_PLAN, sent_from="Planner")
    failed = failed_results(error="GetWikipediaSummaryBlock: no article about 'Australia'")
    results = h.remember("s1 failed", "RunGraphs", failed, sent_from="Executor",
                         send_to=["Planner"])
    out = await WritePlan(h.ctx).run([results])
    assert out is not None and len(h.provider.calls_for("WritePlan")) == 1
    assert [s.graph for s in out.payload.steps] == ["calculate", "word_count"]


UNSAID = "Convert 365 to hours."
"""One unit, no pair: the number that converts is the model's to give (no repair implies it)."""
IDLE_PLAN = {"steps": [{"id": "s1", "purpose": "hours", "graph": "calculate",
                        "inputs": {"a": 365, "b": 1, "operation": "Multiply"}}], "notes": ""}
HOURS = {"steps": [{"id": "s1", "purpose": "hours", "graph": "calculate",
                    "inputs": {"a": 365, "b": 24, "operation": "Multiply"}}], "notes": ""}


async def test_a_doubted_plan_is_re_asked_once_with_its_doubts(config, store):
    h = planner(config, store, [IDLE_PLAN, HOURS])
    h.remember(UNSAID, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps[0].inputs["b"] == 24
    second = h.prompts("WritePlan")[1]
    assert "- step s1 multiplies by 1, which changes nothing" in second
    [(kind, data)] = h.events
    assert kind is EventKind.PROGRESS and data["what"] == "plan_doubted"


async def test_a_doubt_is_asked_about_once_and_never_fails_the_plan(config, store):
    h = planner(config, store, [IDLE_PLAN, IDLE_PLAN, HOURS])
    h.remember(UNSAID, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert len(h.provider.calls_for("WritePlan")) == 2
    assert out.payload.steps == []  # the model kept 365 × 1: the code drops what does nothing
    assert out.payload.notes == ("Dropped s1: a calculation that changes nothing (multiplies "
                                 "by 1).")
    assert [d["what"] for _, d in h.events] == ["plan_doubted", "plan_doubts_unresolved",
                                                "plan_steps_dropped"]


def calculation(a: Any, b: Any, operation: str) -> dict[str, Any]:
    return {"steps": [{"id": "s1", "purpose": "left", "graph": "calculate",
                       "inputs": {"a": a, "b": b, "operation": operation}}], "notes": ""}


async def test_a_re_asked_plan_runs_only_when_it_is_less_doubtful(config, store):
    request = "Of a 12000 budget we spent 4750.80. Spread what is left over 4 months?"
    worse = calculation(4750.8, 0, "Add")  # neutral, and 12000 and 4 unused: 2 doubts
    h = planner(config, store, [calculation(12000, 4750.8, "Subtract"), worse])
    h.remember(request, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps[0].inputs == {"a": 12000, "b": 4750.8, "operation": "Subtract"}
    assert [d["what"] for _, d in h.events] == ["plan_doubted", "plan_doubts_unresolved"]
    assert len(h.events[1][1]["doubts"]) == 2
    whole = {"steps": [*calculation(12000, 4750.8, "Subtract")["steps"],
                       {"id": "s2", "purpose": "per month", "graph": "calculate",
                        "inputs": {"a": "{{ s1.result }}", "b": 4, "operation": "Divide"}}]}
    h = planner(config, store, [calculation(12000, 4750.8, "Subtract"), whole])
    h.remember(request, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [s.id for s in out.payload.steps] == ["s1", "s2"]
    assert [d["what"] for _, d in h.events] == ["plan_doubted"]


async def test_when_the_re_asked_plans_are_invalid_the_doubted_one_stands(config, store):
    h = planner(config, store, [IDLE_PLAN, BAD_PLAN, BAD_PLAN], max_plan_fixes=2)
    h.remember(UNSAID, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps == [] and out.payload.notes.startswith("Dropped s1")
    assert [d["what"] for _, d in h.events] == ["plan_doubted", "plan_rejected", "plan_rejected",
                                                "plan_steps_dropped"]


async def test_what_the_request_decides_is_repaired_and_said(config, store):
    """A subtraction worded "A from B" and a page's text given as an address, as small models
    planned them: repaired by the code, with an event each, no re-ask."""
    address = "http://10.0.4.12/wiki/Onboarding"
    answer = {"steps": [
        {"id": "s1", "purpose": "take away", "graph": "calculate",
         "inputs": {"a": 45, "b": 30, "operation": "Subtract"}},
        {"id": "s2", "purpose": "read", "graph": "read_web_page", "inputs": {"url": address}},
        {"id": "s3", "purpose": "summarize", "graph": "summarize_web_page",
         "inputs": {"url": "{{ s2.text }}", "focus": "general information"}}], "notes": ""}
    h = planner(config, store, [answer])
    h.remember(f"Take 45 away from 30, and summarize {address}", UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    first, _, third = out.payload.steps
    assert (first.inputs["a"], first.inputs["b"]) == (30, 45)
    assert third.inputs["url"] == address and third.depends_on == []
    assert [d["what"] for _, d in h.events] == ["plan_operands_reordered",
                                                "plan_addresses_repaired"]
    assert len(h.provider.calls_for("WritePlan")) == 1


async def test_the_prompt_says_the_facts_a_request_needs_and_only_then(config, store):
    h = planner(config, store, [HOURS])
    h.remember("How many hours are there in 365 days?", UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    await h.publish(WritePlan, [analysis])
    [prompt] = h.prompts("WritePlan")
    assert prompt.endswith("Facts for this request:\n- To turn days into hours, multiply by 24 "
                           "(to turn hours into days, divide by 24).")
    h = planner(config, store, PLAN)
    h.remember(REQUEST, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    await h.publish(WritePlan, [analysis])
    assert "Facts for this request" not in h.prompts("WritePlan")[0]


async def test_steps_for_an_action_no_graph_does_are_doubted_and_no_steps_stand(config, store):
    dated = {"steps": [{"id": "s1", "purpose": "when", "graph": "current_date_time",
                        "inputs": {"timezone": "local"}}], "notes": ""}
    none = {"steps": [], "notes": "No graph can restart a server."}
    h = planner(config, store, [dated, none])
    h.remember("Can you restart the staging database server?", UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps == [] and out.content == "No steps. No graph can restart a server."
    first, second = h.prompts("WritePlan")
    assert "- No graph can restart anything: no step can do that." in first
    assert "- the request asks to restart, which no graph can do" in second
    assert [d["what"] for _, d in h.events] == ["plan_doubted"]


async def test_a_plan_without_the_graph_the_request_asks_for_is_doubted(config, store):
    swapped = {"steps": [{"id": "s1", "purpose": "swap", "graph": "replace_text", "inputs": {
        "text": "the cat sat", "old": "cat", "new": "dog"}}], "notes": ""}
    counted = {"steps": [*swapped["steps"], {"id": "s2", "purpose": "count", "graph": "word_count",
                                             "inputs": {"text": "{{ s1.replaced }}"}}]}
    h = planner(config, store, [swapped, counted])
    h.remember("In 'the cat sat', swap cat for dog and tell me how many characters it has.",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [s.graph for s in out.payload.steps] == ["replace_text", "word_count"]
    assert out.payload.steps[1].depends_on == ["s1"]
    assert ('- the request asks "how many characters", and no step runs word_count'
            in h.prompts("WritePlan")[1])
    assert [d["what"] for _, d in h.events] == ["plan_doubted"]


async def test_the_re_ask_for_a_missing_graph_can_only_answer_with_it(config, store):
    """Told to add the word_count step, the 0.5B model answered "No graph can count words" with
    no steps: the re-ask's schema requires a step of the graph the doubt names."""
    compared = {"steps": [{"id": "s1", "purpose": "compare", "graph": "compare_values", "inputs": {
        "a": "Think different", "b": "Just do it", "operator": "!="}}], "notes": ""}
    counted = {"steps": [{"id": "s1", "purpose": "count", "graph": "word_count",
                          "inputs": {"text": "Think different"}}], "notes": ""}
    h = planner(config, store, [compared, counted])
    await plan_for(h, "Which slogan is longer in characters: 'Think different' or 'Just do it'?")
    first, reask = (jsonschema_rs.validator_for(call.json_schema)
                    for call in h.provider.calls_for("WritePlan"))
    nothing = {"steps": [], "notes": "No graph can count words."}
    assert first.is_valid(nothing) and first.is_valid(compared)
    assert reask.is_valid(counted) and reask.is_valid(
        {"steps": [*counted["steps"], {**compared["steps"][0], "id": "s2"}], "notes": ""})
    assert not reask.is_valid(nothing) and not reask.is_valid(compared)
    assert not reask.is_valid(  # first: a model that would rather plan nothing puts it off
        {"steps": [*compared["steps"], {**counted["steps"][0], "id": "s2"}], "notes": ""})
    assert h.events[0][1]["required"] == ["word_count"]


async def test_the_re_ask_for_a_number_left_out_must_calculate_with_it(config, store):
    """(98.6 − 32) × 5 for 98.6°F in Celsius, the 9 left out by the 0.5B model even when told:
    the re-ask's schema requires a calculation with the 9."""
    steps = [{"id": "s1", "purpose": "subtract", "graph": "calculate",
              "inputs": {"a": 98.6, "b": 32, "operation": "Subtract"}},
             {"id": "s2", "purpose": "times 5", "graph": "calculate",
              "inputs": {"a": "{{ s1.result }}", "b": 5, "operation": "Multiply"}}]
    divided = {"steps": [*steps, {"id": "s3", "purpose": "over 9", "graph": "calculate",
                                  "inputs": {"a": "{{ s2.result }}", "b": 9,
                                             "operation": "Divide"}}], "notes": ""}
    h = planner(config, store, [{"steps": steps, "notes": ""}, divided])
    out = await plan_for(h, "Convert 98.6°F to Celsius: subtract 32, multiply by 5, then divide "
                            "by 9.")
    assert [s.inputs["b"] for s in out.payload.steps] == [32, 5, 9]
    assert [d["what"] for _, d in h.events] == ["plan_doubted"]
    reask = jsonschema_rs.validator_for(h.provider.calls_for("WritePlan")[1].json_schema)
    assert reask.is_valid(divided) and not reask.is_valid({"steps": steps, "notes": ""})
    assert not reask.is_valid({"steps": [*steps, {**steps[0], "id": "s3"},  # one step more at most
                                         {**divided["steps"][2], "id": "s4"}], "notes": ""})
    assert h.events[0][1]["required"] == ["calculate with a 9", "calculate with b 9"]


async def test_the_re_ask_for_an_extraction_of_what_it_was_given_must_answer_the_question(
        config, store):
    """The 1.5B model "extracted" '1.5 vacation days per month' from the policy it was asked
    about, also when re-asked: the re-ask must start with answer_question."""
    policy = "New employees accrue 1.5 vacation days per month, up to 18 days per year."
    extracted = {"steps": [{"id": "s1", "purpose": "extract", "graph": "extract_text", "inputs": {
        "text": policy, "pattern": "1.5 vacation days per month"}}], "notes": ""}
    answered = {"steps": [{"id": "s1", "purpose": "answer", "graph": "answer_question", "inputs": {
        "question": "How many vacation days a month?", "context": policy}}], "notes": ""}
    h = planner(config, store, [extracted, answered])
    out = await plan_for(h, f"Using this policy: '{policy}' How many vacation days does a new "
                            "hire get per month?")
    assert [s.graph for s in out.payload.steps] == ["answer_question"]
    doubted = [d for _, d in h.events if d["what"] == "plan_doubted"]
    assert doubted[0]["required"] == ["answer_question"]
    reask = jsonschema_rs.validator_for(h.provider.calls_for("WritePlan")[1].json_schema)
    assert reask.is_valid(answered) and not reask.is_valid(extracted)


async def test_a_re_ask_that_added_the_step_and_broke_another_runs_joined(config, store):
    """Told to use the 9, the 0.5B model added the division and changed the 32 to 0: the
    division runs after the first plan's own steps."""
    steps = [{"id": "s1", "purpose": "subtract", "graph": "calculate",
              "inputs": {"a": 98.6, "b": 32, "operation": "Subtract"}},
             {"id": "s2", "purpose": "times 5", "graph": "calculate",
              "inputs": {"a": "{{ s1.result }}", "b": 5, "operation": "Multiply"}}]
    broken = [{**steps[0], "inputs": {**steps[0]["inputs"], "b": 0}}, steps[1],
              {"id": "s3", "purpose": "over 9", "graph": "calculate",
               "inputs": {"a": "{{ s2.result }}", "b": 9, "operation": "Divide"}}]
    h = planner(config, store, [{"steps": steps, "notes": ""}, {"steps": broken, "notes": ""}])
    out = await plan_for(h, "Convert 98.6°F to Celsius: subtract 32, multiply by 5, then divide "
                            "by 9.")
    assert [s.inputs["b"] for s in out.payload.steps] == [32, 5, 9]
    assert out.payload.steps[2].depends_on == ["s2"]
    assert [d["what"] for _, d in h.events] == ["plan_doubted", "plan_merged"]


async def test_a_percentage_taken_off_as_an_amount_is_taken_as_its_share(config, store):
    """"Take 15% off 80" planned as 80 − 15 (a 1.5B model): the share is worked out first."""
    answer = {"steps": [{"id": "s1", "purpose": "discount", "graph": "calculate",
                         "inputs": {"a": 80, "b": 15, "operation": "Subtract"}}], "notes": ""}
    h = planner(config, store, [answer])
    out = await plan_for(h, "Take 15% off 80: what is the sale price?")
    share, total = out.payload.steps
    assert share.inputs == {"a": 80, "b": 0.15, "operation": "Multiply"}
    assert total.inputs["b"] == "{{ s1.result }}" and total.depends_on == ["s1"]
    assert h.events == [(EventKind.PROGRESS, {"role": "Planner", "what": "plan_percent_shares",
                                              "changes": ["s1: Subtract 15% of 80"]})]
    assert len(h.provider.calls_for("WritePlan")) == 1


async def test_the_number_a_calculation_that_changes_nothing_misses_is_implied(config, store):
    """365 × 1 for "hours in 365 days" (a 1.5B model kept it after its doubt, with "1 day =
    24 hours" in its prompt): the code gives the factor; no re-ask."""
    h = planner(config, store, [IDLE_PLAN])
    h.remember("How many hours are there in 365 days?", UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps[0].inputs == {"a": 365, "b": 24, "operation": "Multiply"}
    assert h.events == [(EventKind.PROGRESS, {"role": "Planner", "what": "plan_operands_implied",
                                              "changes": ["s1: Multiply 24"]})]
    assert len(h.provider.calls_for("WritePlan")) == 1


async def test_no_steps_for_a_request_that_also_asks_what_a_graph_does_is_doubted(config, store):
    """A 1.5B model told "No graph can restart anything" planned nothing, also for the minutes
    the same request asked: re-asked, the plan for the minutes runs (and is not doubted for
    the restart it leaves out)."""
    minutes = {"steps": [{"id": "s1", "purpose": "minutes", "graph": "calculate",
                          "inputs": {"a": 2.5, "b": 60, "operation": "Multiply"}}], "notes": ""}
    h = planner(config, store, [{"steps": [], "notes": "No graph can restart anything."},
                                minutes])
    h.remember("Can you restart the staging server? Also, how many minutes are in 2.5 hours?",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [s.inputs["b"] for s in out.payload.steps] == [60]
    assert '- the request also asks "Also, how many minutes are in 2.5 hours?"' in (
        h.prompts("WritePlan")[1])
    reask = jsonschema_rs.validator_for(h.provider.calls_for("WritePlan")[1].json_schema)
    assert reask.is_valid(minutes) and not reask.is_valid({"steps": [], "notes": "No graph."})
    assert [d["what"] for _, d in h.events] == ["plan_doubted"]


async def test_a_re_ask_that_swapped_its_step_for_the_asked_one_runs_merged(config, store):
    """A 1.5B model asked for the answer_question step its plan lacked dropped its word_count
    step for it: the two plans run as one."""
    counted = {"steps": [{"id": "s1", "purpose": "length", "graph": "word_count",
                          "inputs": {"text": "carpe diem"}}], "notes": ""}
    meant = {"steps": [{"id": "s1", "purpose": "meaning", "graph": "answer_question",
                        "inputs": {"question": "What does carpe diem mean?"}}], "notes": ""}
    h = planner(config, store, [counted, meant])
    h.remember("How many characters is the phrase 'carpe diem', and what does it mean?",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [(s.id, s.graph) for s in out.payload.steps] == [
        ("s1", "word_count"), ("s2", "answer_question")]
    assert [d["what"] for _, d in h.events] == ["plan_doubted", "plan_merged"]
    assert len(h.provider.calls_for("WritePlan")) == 2


async def test_a_re_ask_that_adds_what_was_asked_is_not_merged(config, store):
    counted = {"steps": [{"id": "s1", "purpose": "length", "graph": "word_count",
                          "inputs": {"text": "carpe diem"}}], "notes": ""}
    both = {"steps": [*counted["steps"], {"id": "s2", "purpose": "meaning",
                                          "graph": "answer_question",
                                          "inputs": {"question": "What does carpe diem mean?"}}]}
    h = planner(config, store, [counted, both])
    h.remember("How many characters is the phrase 'carpe diem', and what does it mean?",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload == Plan.model_validate(both).model_copy(update={"notes": ""})
    assert [d["what"] for _, d in h.events] == ["plan_doubted"]


async def test_a_count_asked_after_a_replacement_is_given_the_replaced_text(config, store):
    line = "ERROR: disk full; ERROR: retry failed"
    apart = {"steps": [
        {"id": "s1", "purpose": "count", "graph": "word_count", "inputs": {"text": line}},
        {"id": "s2", "purpose": "replace", "graph": "replace_text",
         "inputs": {"text": line, "old": "ERROR", "new": "WARN"}}], "notes": ""}
    h = planner(config, store, [apart])
    h.remember(f"In '{line}', replace ERROR with WARN and then count the words of the new line.",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [(s.id, s.graph, s.depends_on) for s in out.payload.steps] == [
        ("s1", "replace_text", []), ("s2", "word_count", ["s1"])]
    assert out.payload.steps[1].inputs == {"text": "{{ s1.replaced }}"}
    assert [d["what"] for _, d in h.events] == ["plan_texts_chained"]


async def test_a_split_on_what_the_replacement_took_out_splits_on_what_it_put_in(
        config, store):
    emails = "alice@corp.io; bo@corp.io"
    split = {"steps": [
        {"id": "s1", "purpose": "swap", "graph": "replace_text",
         "inputs": {"text": emails, "old": ";", "new": ","}},
        {"id": "s2", "purpose": "one by one", "graph": "split_text",
         "inputs": {"text": "{{ s1.replaced }}", "delimiter": ";"}}], "notes": ""}
    h = planner(config, store, [split])
    h.remember(f"Swap the semicolons for commas in '{emails}', then list them one by one.",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps[1].inputs == {"text": "{{ s1.replaced }}", "delimiter": ","}
    assert [d["what"] for _, d in h.events] == ["plan_replacement_followed"]
    assert len(h.provider.calls_for("WritePlan")) == 1


HANDBOOK = "http://wiki.corp.local/handbook"


def searching(config, store, *queries: str):
    """A Planner asked to summarize the handbook page, whose plans search for ``queries``."""
    steps = [{"id": f"s{n}", "purpose": "p", "graph": "web_search", "inputs": {"query": q}}
             for n, q in enumerate(queries, 1)]
    h = planner(config, store, [{"steps": steps, "notes": ""}] * 2)
    h.remember(f"Please summarize {HANDBOOK} for me.", UserRequirement)
    return h


async def test_a_search_for_the_address_to_summarize_is_the_summary_without_a_re_ask(
        config, store):
    h = searching(config, store, HANDBOOK)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [(s.graph, s.inputs) for s in out.payload.steps] == [
        ("summarize_web_page", {"url": HANDBOOK})]
    assert [d["what"] for _, d in h.events] == ["plan_search_fetches_address"]
    assert len(h.provider.calls_for("WritePlan")) == 1


async def test_a_step_using_the_searchs_results_uses_the_summary_once_it_is_fetched(
        config, store):
    """The 0.5B model searched for the address and extracted from ``{{ s1.result }}``: once
    the search is the summary, the reference is pointed at its output, not rejected."""
    steps = [{"id": "s1", "purpose": "p", "graph": "web_search", "inputs": {"query": HANDBOOK}},
             {"id": "s2", "purpose": "p", "graph": "extract_text",
              "inputs": {"text": "{{ s1.result }}", "pattern": "per diem"}}]
    h = planner(config, store, [{"steps": steps, "notes": ""}])
    h.remember(f"Please summarize {HANDBOOK} for me.", UserRequirement)
    plan = await draft_plan(WritePlan(h.ctx), Analysis.model_validate(ANALYSIS))
    assert [(s.graph, s.inputs) for s in plan.steps] == [
        ("summarize_web_page", {"url": HANDBOOK}),
        ("extract_text", {"text": "{{ s1.summary }}", "pattern": "per diem"})]
    assert [d["what"] for _, d in h.events] == [
        "plan_references_repaired", "plan_search_fetches_address", "plan_references_repaired"]
    assert len(h.provider.calls_for("WritePlan")) == 1


async def test_a_re_plan_without_the_fetch_graph_keeps_the_search_it_cannot_repair(
        config, store):
    """After summarize_web_page failed, the re-plan is not offered it: a search for the
    address stays a search (repaired into the excluded graph, it was rejected three times)."""
    h = searching(config, store, "onboarding handbook", HANDBOOK)
    plan = await draft_plan(WritePlan(h.ctx), Analysis.model_validate(ANALYSIS),
                            exclude={"summarize_web_page"})
    assert [s.graph for s in plan.steps] == ["web_search", "web_search"]
    assert "plan_rejected" not in [d["what"] for _, d in h.events]


async def test_a_re_plan_offered_no_fetch_graph_does_not_doubt_a_search_for_the_address(
        config, store):
    h = searching(config, store, HANDBOOK)
    plan = await draft_plan(WritePlan(h.ctx), Analysis.model_validate(ANALYSIS), exclude={
        "read_web_page", "summarize_web_page", "youtube_transcript"})
    assert [s.graph for s in plan.steps] == ["web_search"]
    assert h.events == [] and len(h.provider.calls_for("WritePlan")) == 1


async def test_a_quoted_part_of_the_given_line_is_given_the_whole_line_without_a_re_ask(
        config, store):
    line = '"Don\'t panic," she said. "It\'s only a 3.5% dip."'
    part = {"steps": [{"id": "s1", "purpose": "count", "graph": "word_count",
                       "inputs": {"text": "Don't panic,"}}], "notes": ""}
    h = planner(config, store, [part])
    h.remember(f"I need the word count and the character count for this line: {line}",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps[0].inputs == {"text": line}
    assert [d["what"] for _, d in h.events] == ["plan_given_text_restored"]
    assert len(h.provider.calls_for("WritePlan")) == 1


async def test_a_question_about_it_gets_the_request_as_its_context(config, store):
    both = {"steps": [
        {"id": "s1", "purpose": "length", "graph": "word_count", "inputs": {"text": "carpe diem"}},
        {"id": "s2", "purpose": "meaning", "graph": "answer_question",
         "inputs": {"question": "what does it mean?"}}], "notes": ""}
    request = "How many characters is the phrase 'carpe diem', and what does it mean?"
    h = planner(config, store, [both])
    h.remember(request, UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.payload.steps[1].inputs["context"] == f"The Boss asked: {request}"
    assert [d["what"] for _, d in h.events] == ["plan_question_context"]


async def test_a_merged_plan_is_repaired_and_its_repairs_said_when_it_runs(config, store):
    """The 0.5B model replaced, then re-asked for the count, counted the original line: the
    merge counts the replaced one."""
    line = "ERROR: disk full; ERROR: retry failed"
    replaced = {"steps": [{"id": "s1", "purpose": "replace", "graph": "replace_text",
                           "inputs": {"text": line, "old": "ERROR", "new": "WARN"}}], "notes": ""}
    counted = {"steps": [{"id": "s1", "purpose": "count", "graph": "word_count",
                          "inputs": {"text": line}}], "notes": ""}
    h = planner(config, store, [replaced, counted])
    h.remember(f"In '{line}', replace ERROR with WARN and then count the words of the new line.",
               UserRequirement)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert [(s.graph, s.inputs.get("text")) for s in out.payload.steps] == [
        ("replace_text", line), ("word_count", "{{ s1.replaced }}")]
    assert [d["what"] for _, d in h.events] == [
        "plan_doubted", "plan_texts_chained", "plan_merged"]
