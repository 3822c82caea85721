"""ReviewResults: sends the Planner back while re-plans are left (max_replans), then accepts
and reports through SummarizeResults."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.review_results import ReviewResults
from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from actions.write_plan import WritePlan
from company.boss import UserRequirement
from company.config import AppConfig
from company.environment import Environment
from company.message import Message
from company.payloads import GraphResults, Report, Review, StepResult
from company.role import Role
from company.status import StepStatus
from tests.action_support import harness, offline_config
from tests.conftest import ANALYSIS, PLAN, REPORT

RESULTS = GraphResults(steps=[
    StepResult(step_id="s1", graph="calculate", status=StepStatus.COMPLETED,
               outputs={"result": [42.0]}),
])
REPLAN = Review(verdict="replan", feedback="also count the words")


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


def analyst(config, store, review=REPLAN, earlier_replans: int = 0, **options):
    """The Analyst after a run: request, analysis, plan and (earlier) re-plans in memory."""
    h = harness(config, store, {"ReviewResults": review, "SummarizeResults": REPORT},
                options=options)
    h.remember("What is 6 times 7? And count the words.", UserRequirement)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    for _ in range(earlier_replans):
        h.remember("plan", WritePlan, PLAN, sent_from="Planner")
        h.remember("results", RunGraphs, RESULTS, sent_from="Executor")
        h.remember("Re-plan", ReviewResults, REPLAN, sent_from="Analyst", send_to=["Planner"])
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    return h


def results(h) -> Message:
    return h.remember("results", RunGraphs, RESULTS, sent_from="Executor")


async def test_short_results_send_the_planner_back(config, store):
    h = analyst(config, store)
    [out] = await h.publish(ReviewResults, [results(h)])
    assert out.cause_by == "ReviewResults"
    assert out.send_to == ["Planner"]
    assert out.payload == REPLAN
    assert out.content == "Re-plan: also count the words"
    [prompt] = h.prompts("ReviewResults")
    assert "(1 re-plan(s) left)" in prompt
    assert "The Boss asked:\nWhat is 6 times 7? And count the words.\n" in prompt
    assert ANALYSIS["summary"] not in prompt  # the Boss's own words, not the re-telling
    assert '- s1 `calculate` COMPLETED: {"result": [42.0]}' in prompt
    assert "Earlier in this conversation" not in prompt
    assert h.provider.calls_for("SummarizeResults") == []  # no report yet


async def test_review_sees_a_voice_note_and_the_earlier_turns(config, store):
    h = harness(config, store, {"ReviewResults": REPLAN})
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("# Report\n\n6 × 7 = 42.", SummarizeResults, sent_from="Analyst")
    said = "Voice note (transcribed): count the words I typed\n\nTyped text: 'a b c'"
    h.remember(said, Transcribe, sent_from="Transcriber")
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    await h.publish(ReviewResults, [results(h)])
    [prompt] = h.prompts("ReviewResults")
    assert f"The Boss asked:\n{said}\n" in prompt
    assert ("Earlier in this conversation:\n- Boss: What is 6 times 7?\n"
            "- Report: 6 × 7 = 42.\n") in prompt


async def test_review_sees_an_earlier_attempt_of_a_re_plan(config, store):
    h = analyst(config, store)
    failed = StepResult(step_id="s1", graph="wikipedia_lookup", status=StepStatus.FAILED,
                        error="cannot resolve host")
    retried = StepResult(step_id="s1", graph="answer_question", status=StepStatus.COMPLETED,
                         outputs={"answer": ["Grace Hopper was a computer scientist."]},
                         attempt=2)
    news = h.remember("results", RunGraphs, GraphResults(steps=[retried], earlier=[failed]),
                      sent_from="Executor")
    await h.publish(ReviewResults, [news])
    [prompt] = h.prompts("ReviewResults")
    assert "- s1 `wikipedia_lookup` FAILED; error: cannot resolve host\n" in prompt
    assert ('- s1 (attempt 2) `answer_question` COMPLETED: {"answer": ["Grace Hopper was a '
            'computer scientist."]}') in prompt


async def test_once_max_replans_are_used_it_accepts_and_reports(config, store):
    h = analyst(config, store, earlier_replans=1, max_replans=1)
    [out] = await h.publish(ReviewResults, [results(h)])
    assert h.provider.calls_for("ReviewResults") == []  # no review asked: nothing left
    assert out.cause_by == "SummarizeResults" and out.send_to is None
    assert out.payload == Report(markdown=out.content)
    assert out.content.startswith(REPORT) and "## Results" in out.content
    assert "What is 6 times 7?" in h.prompts("SummarizeResults")[0]


@pytest.mark.parametrize(("max_replans", "earlier", "asks", "left"), [
    (0, 0, False, None), (2, 0, True, 2), (2, 1, True, 1), (2, 2, False, None)])
async def test_max_replans_bounds_the_reviews(config, store, max_replans, earlier, asks, left):
    h = analyst(config, store, earlier_replans=earlier, max_replans=max_replans)
    [out] = await h.publish(ReviewResults, [results(h)])
    asked = h.prompts("ReviewResults")
    assert bool(asked) is asks
    if asks:
        assert out.cause_by == "ReviewResults" and out.send_to == ["Planner"]
        assert f"({left} re-plan(s) left)" in asked[0]
    else:
        assert out.cause_by == "SummarizeResults"


async def test_an_accepting_review_reports(config, store):
    h = analyst(config, store, review=Review(verdict="accept", feedback="all there"))
    [out] = await h.publish(ReviewResults, [results(h)])
    assert len(h.prompts("ReviewResults")) == 1
    assert out.cause_by == "SummarizeResults" and out.payload == Report(markdown=out.content)
    assert "all there" not in out.content


async def test_no_results_means_nothing_to_review(config, store):
    h = analyst(config, store)
    assert await ReviewResults(h.ctx).run([h.memory.latest(WritePlan)]) is None
    assert h.provider.calls == []


async def test_the_re_plan_reaches_the_planner_and_no_one_else(config, store):
    h = analyst(config, store)
    reviewer = Role(name="Analyst", watch=[RunGraphs], actions=[ReviewResults], ctx=h.ctx)
    planner = Role(name="Planner", watch=[])
    bystander = Role(name="Bystander", watch=[ReviewResults])
    env = Environment("t", [reviewer, planner, bystander], memory=h.memory)
    env.publish(Message(content="results", cause_by="RunGraphs", sent_from="Executor",
                        payload=RESULTS.model_dump(mode="json")))
    outcome = await env.run_round()
    assert [(m.cause_by, m.send_to) for m in outcome.published] == [
        ("ReviewResults", ["Planner"])]
    assert planner.has_news and not bystander.has_news


def test_it_is_triggered_by_executed_results():
    assert ReviewResults.trigger_names() == {"RunGraphs"}
    assert ReviewResults.payload is Review
