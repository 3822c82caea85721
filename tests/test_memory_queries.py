"""The memory queries actions share: the Boss's requests in order, the newest payload of an
action (news first, then memory), and the reviews that send a plan back."""

from __future__ import annotations

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.memory_queries import boss_requests, latest_payload, replan_requests
from actions.review_results import ReviewResults
from actions.transcribe import Transcribe
from actions.write_plan import WritePlan
from company.boss import UserRequirement, VoiceRequest
from company.memory import Memory
from company.payloads import Plan, Review
from tests.action_support import remember
from tests.conftest import ANALYSIS


def plan(step_id: str) -> dict:
    return {"steps": [{"id": step_id, "graph": "word_count", "inputs": {"text": step_id}}]}


def test_boss_requests_are_typed_and_transcribed_in_the_order_made():
    memory = Memory()
    remember(memory, "first, typed", UserRequirement)
    remember(memory, "analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    remember(memory, "(voice)", VoiceRequest, {"audio_path": "a.wav"})
    remember(memory, "second, spoken", Transcribe, sent_from="Transcriber")
    remember(memory, "third, typed", UserRequirement)
    remember(memory, "fourth, spoken", Transcribe, sent_from="Transcriber")
    found = boss_requests(memory)
    assert [m.content for m in found] == ["first, typed", "second, spoken", "third, typed",
                                          "fourth, spoken"]
    assert [m.seq for m in found] == [1, 4, 5, 6]  # the raw voice note is not a request
    assert boss_requests(Memory()) == []


def test_latest_payload_prefers_the_news_over_memory():
    memory = Memory()
    older = remember(memory, "older", WritePlan, plan("older"), sent_from="Planner")
    remember(memory, "newer", WritePlan, plan("newer"), sent_from="Planner")
    found = latest_payload(memory, [older], WritePlan)
    assert isinstance(found, Plan) and found.steps[0].id == "older"


def test_latest_payload_takes_the_newest_in_the_news():
    memory = Memory()
    first = remember(memory, "a", WritePlan, plan("a"), sent_from="Planner")
    second = remember(memory, "b", WritePlan, plan("b"), sent_from="Planner")
    other = remember(memory, "r", ReviewResults, Review(verdict="accept"), sent_from="Analyst")
    assert latest_payload(memory, [first, second, other], WritePlan).steps[0].id == "b"


def test_latest_payload_falls_back_to_memory_then_none():
    memory = Memory()
    assert latest_payload(memory, [], WritePlan) is None
    remember(memory, "a", WritePlan, plan("a"), sent_from="Planner")
    remember(memory, "b", WritePlan, plan("b"), sent_from="Planner")
    request = remember(memory, "go", UserRequirement)
    assert latest_payload(memory, [request], WritePlan).steps[0].id == "b"
    bare = remember(memory, "no payload", WritePlan, sent_from="Planner")
    assert latest_payload(memory, [bare], WritePlan) is None  # the newest in memory has none


def test_latest_payload_needs_an_action_with_a_payload_model():
    with pytest.raises(AssertionError, match="UserRequirement declares no payload model"):
        latest_payload(Memory(), [], UserRequirement)


def test_replan_requests_come_from_any_reviewer_and_only_say_replan():
    memory = Memory()
    news = [
        remember(memory, "x", ReviewResults, Review(verdict="replan", feedback="add 1"),
                 sent_from="Analyst"),
        remember(memory, "x", "CritiquePlan", {"verdict": "replan", "feedback": "too long"},
                 sent_from="Critic"),
        remember(memory, "x", "CritiquePlan", Review(verdict="accept", feedback="fine"),
                 sent_from="Critic"),
        remember(memory, "x", WritePlan, plan("p"), sent_from="Planner"),
        remember(memory, "x", UserRequirement),
    ]
    assert replan_requests(news) == [Review(verdict="replan", feedback="add 1"),
                                     Review(verdict="replan", feedback="too long")]
    assert replan_requests(news[2:]) == []
