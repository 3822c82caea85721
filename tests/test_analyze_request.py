"""AnalyzeRequest: the Boss's newest request (typed or transcribed), with the conversation so
far, becomes an Analysis; its ideas are stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.analyze_request import AnalyzeRequest, describe_analysis
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from company.action import ActionFailed
from company.boss import UserRequirement
from company.config import AppConfig
from company.payloads import Analysis, TranscriptPayload
from tests.action_support import TASK_ID, harness, offline_config
from tests.conftest import ANALYSIS


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


@pytest.fixture
def h(config, store):
    return harness(config, store, {"AnalyzeRequest": ANALYSIS})


async def test_a_typed_request_becomes_an_analysis(h):
    request = h.remember("Multiply 6 by 7, please", UserRequirement)
    [out] = await h.publish(AnalyzeRequest, [request])
    assert out.cause_by == "AnalyzeRequest" and out.send_to is None
    assert out.payload == Analysis.model_validate(ANALYSIS)
    assert out.content == (
        "The Boss wants 6 times 7 computed and the words of a sentence counted.\n"
        "Ideas: [low] The Boss likes quick arithmetic\n"
        "Action items: [high] Multiply 6 by 7; [medium] Count the words of "
        "'the quick brown fox'")
    [prompt] = h.prompts("AnalyzeRequest")
    assert prompt.startswith("## Task: AnalyzeRequest")
    assert prompt.endswith("Request:\nMultiply 6 by 7, please")
    assert "Earlier in this conversation" not in prompt  # nothing came before
    assert h.provider.calls[0].role == "Analyst"


async def test_the_prompt_carries_the_quoted_text_and_asks_to_copy_it(h):
    words = "Count the words in: 'Please send the quarterly report to finance by Friday'"
    request = h.remember(words, UserRequirement)
    await h.publish(AnalyzeRequest, [request])
    [prompt] = h.prompts("AnalyzeRequest")
    assert prompt.endswith(f"Request:\n{words}")
    assert "Action items copy quoted text, numbers and names from the request exactly" in prompt
    example = next(line for line in prompt.splitlines() if line.startswith("Answer: {"))
    Analysis.model_validate_json(example.removeprefix("Answer: "))  # the example is valid
    assert '"high"|' not in prompt and "JSON only" not in prompt  # the schema says those


async def test_the_ideas_are_stored_against_the_newest_request(h, store):
    first = h.remember("first part", UserRequirement)
    second = h.remember("second part", UserRequirement)
    await h.publish(AnalyzeRequest, [first, second])
    ideas = store.ideas(TASK_ID)
    assert [(i["message_id"], i["text"], i["priority"]) for i in ideas] == [
        (second.id, "The Boss likes quick arithmetic", "low")]
    assert "first part\n\nsecond part" in h.prompts("AnalyzeRequest")[0]


async def test_a_transcribed_voice_request_is_analyzed_too(h):
    said = h.remember("Voice note (transcribed): count my words", Transcribe,
                      TranscriptPayload(transcript="count my words"), sent_from="Transcriber")
    [out] = await h.publish(AnalyzeRequest, [said])
    assert out.payload.summary == ANALYSIS["summary"]
    assert "Request:\nVoice note (transcribed): count my words" in h.prompts("AnalyzeRequest")[0]


async def test_a_follow_up_is_read_with_the_earlier_requests_and_reports(h):
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("The answer is 42. " + "x" * 600, SummarizeResults, sent_from="Analyst")
    follow_up = h.remember("And now add 1.", UserRequirement)
    await h.publish(AnalyzeRequest, [follow_up])
    prompt = h.prompts("AnalyzeRequest")[0]
    assert "Earlier in this conversation:\n- Boss: What is 6 times 7?\n" in prompt
    report_line = next(line for line in prompt.splitlines() if line.startswith("- Report:"))
    assert report_line == "- Report: " + ("The answer is 42. " + "x" * 600)[:500]
    assert prompt.endswith("Request:\nAnd now add 1.")
    assert "- Boss: And now add 1." not in prompt  # the request itself is not history


async def test_news_without_a_request_asks_nothing(h):
    plan = h.remember("a plan", "WritePlan", sent_from="Planner")
    assert await AnalyzeRequest(h.ctx).run([plan]) is None
    assert h.provider.calls == []


async def test_an_empty_request_is_refused_without_asking_the_model(h):
    blank = h.remember("   ", UserRequirement)
    with pytest.raises(ActionFailed, match="the request is empty"):
        await AnalyzeRequest(h.ctx).run([blank])
    assert h.provider.calls == []


def test_it_is_triggered_by_typed_and_transcribed_requests():
    assert AnalyzeRequest.trigger_names() == {"UserRequirement", "Transcribe"}
    assert AnalyzeRequest.payload is Analysis


def test_describe_analysis_leaves_out_empty_sections():
    assert describe_analysis(Analysis(summary="Just a greeting.")) == "Just a greeting."
