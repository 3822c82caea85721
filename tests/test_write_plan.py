"""WritePlan, the action: a plan for the newest analysis, re-asked with its problems until it
is valid, and re-planned with a reviewer's feedback (plan_problems: tests/test_planning.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.review_results import ReviewResults
from actions.write_plan import WritePlan, describe_plan
from company.action import ActionFailed
from company.config import AppConfig
from company.payloads import Plan, Review
from tests.action_support import harness, offline_config
from tests.conftest import ANALYSIS, PLAN

BAD_PLAN = {"steps": [{"id": "s1", "graph": "teleport", "inputs": {}}]}


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


def planner(config, store, answers, **options):
    return harness(config, store, {"WritePlan": answers}, role="Planner", options=options)


async def test_the_newest_analysis_becomes_a_plan(config, store):
    h = planner(config, store, PLAN)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    [out] = await h.publish(WritePlan, [analysis])
    assert out.cause_by == "WritePlan" and out.send_to is None
    assert out.payload == Plan.model_validate(PLAN)
    assert out.content == (
        "1. s1: run calculate with {'a': 6, 'b': 7, 'operation': 'Multiply'}. multiply\n"
        "2. s2: run word_count with {'text': 'the quick brown fox'} after s1. count words")
    [prompt] = h.prompts("WritePlan")
    assert f"Request summary: {ANALYSIS['summary']}" in prompt
    assert "- [high] Multiply 6 by 7\n- [medium] Count the words" in prompt
    assert "calculate" in prompt and "word_count" in prompt  # the catalogue is offered
    assert "rejected" not in prompt
    assert h.provider.calls[0].role == "Planner"


async def test_a_re_plan_reads_the_analysis_from_memory_and_the_feedback_from_the_news(
        config, store):
    h = planner(config, store, PLAN)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("plan", WritePlan, {"steps": []}, sent_from="Planner")
    review = h.remember("Re-plan: also count the words", ReviewResults,
                        Review(verdict="replan", feedback="also count the words"),
                        sent_from="Analyst", send_to=["Planner"])
    [out] = await h.publish(WritePlan, [review])
    assert out.payload == Plan.model_validate(PLAN)
    prompt = h.prompts("WritePlan")[0]
    assert "Your previous plan was rejected. Fix these problems:\n" \
           "- reviewer: also count the words" in prompt
    assert f"Request summary: {ANALYSIS['summary']}" in prompt


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
    assert out.payload == Plan.model_validate(PLAN)
    first, second = h.prompts("WritePlan")
    assert "teleport" not in first
    assert "Fix these problems:\n- step s1:" in second and "teleport" in second


async def test_a_plan_still_invalid_after_max_plan_fixes_fails_the_action(config, store):
    h = planner(config, store, [BAD_PLAN, BAD_PLAN, PLAN], max_plan_fixes=1)
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    with pytest.raises(ActionFailed, match=r"still invalid after 2 attempts: - step s1: .*"
                                           r"teleport"):
        await WritePlan(h.ctx).run([analysis])
    assert len(h.provider.calls_for("WritePlan")) == 2  # the third answer was never asked


async def test_no_analysis_anywhere_fails_without_asking(config, store):
    h = planner(config, store, PLAN)
    review = h.remember("Re-plan", ReviewResults, Review(verdict="replan"), sent_from="Analyst")
    with pytest.raises(ActionFailed, match="there is no analysis to plan from"):
        await WritePlan(h.ctx).run([review])
    assert h.provider.calls == []


def test_it_is_triggered_by_an_analysis_or_a_review():
    assert WritePlan.trigger_names() == {"AnalyzeRequest", "ReviewResults"}
    assert WritePlan.payload is Plan


def test_describe_plan_of_no_steps_gives_the_notes():
    assert describe_plan(Plan(notes="Nothing in the catalogue helps.")) == (
        "No steps. Nothing in the catalogue helps.")
    assert describe_plan(Plan()) == "No steps."
