"""AnalyzeRequest: the Boss's newest request (typed or transcribed), with the conversation so
far and the relevant notes of the notebook, becomes an Analysis; the ideas and items the Boss
said (their source found in the request) go to the notebook, the model's own claims do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.analyze_request import AnalyzeRequest, answer_schema, describe_analysis
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from company.action import ActionFailed
from company.boss import UserRequirement
from company.config import AppConfig
from company.events import EventKind
from company.grounding import grounded_idea, item_source
from company.llm.base import ChatResult, LLMUnavailable
from company.notebook import Notebook
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
    # the scripted idea quotes no words of the Boss: the model's own claim, left out
    assert out.payload == Analysis.model_validate({**ANALYSIS, "ideas": []})
    assert out.content == (
        "The Boss wants 6 times 7 computed and the words of a sentence counted.\n"
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


GROUNDED = {
    "summary": "The Boss wants the invoice sent to Bob.",
    "ideas": [{"source": "Bob prefers PDF", "text": "Bob prefers PDF invoices",
               "priority": "low"}],
    "action_items": [{"source": "send the invoice to Bob by Friday",
                      "text": "Send the invoice to Bob by Friday", "priority": "high"}],
}


async def test_ideas_and_items_go_to_the_notebook_against_the_newest_request(config, store):
    h = harness(config, store, {"AnalyzeRequest": GROUNDED})
    first = h.remember("Please send the invoice to Bob by Friday.", UserRequirement)
    second = h.remember("Bob prefers PDF.", UserRequirement)
    [out] = await h.publish(AnalyzeRequest, [first, second])
    assert out.payload == Analysis.model_validate(GROUNDED)
    notes = Notebook(store).list_notes()
    assert [(n.kind, n.text, n.priority, n.status, n.source, n.task_id, n.message_id)
            for n in notes] == [
        ("item", "Send the invoice to Bob by Friday", "high", "open",
         "send the invoice to Bob by Friday", TASK_ID, second.id),
        ("idea", "Bob prefers PDF invoices", "low", "kept", "Bob prefers PDF", TASK_ID,
         second.id)]
    assert store.ideas(TASK_ID) == []  # the old table is no longer written
    assert "Please send the invoice to Bob by Friday.\n\nBob prefers PDF." in h.prompts(
        "AnalyzeRequest")[0]


async def test_a_claim_of_the_model_is_not_kept_as_an_idea(config, store):
    """The 'extraordinary has 10 characters' case: the model's own (wrong) fact, with a made-up
    source, or a true quote that does not hold its number, is no idea of the Boss's."""
    said = "How many characters does the word 'extraordinary' have?"
    answer = {"summary": "The Boss wants the letters of a word counted.", "ideas": [
        {"source": "the word 'extraordinary' has 10 characters",
         "text": "The word 'extraordinary' has 10 characters", "priority": "low"},
        {"source": "the word 'extraordinary'",
         "text": "'extraordinary' has 10 characters", "priority": "low"},
        {"text": "The Boss likes long words", "priority": "low"}],
        "action_items": [{"source": "How many characters does the word 'extraordinary' have",
                          "text": "Count the characters of 'extraordinary'",
                          "priority": "high"},
                         {"source": "", "text": "Look up the etymology online",
                          "priority": "low"}]}
    h = harness(config, store, {"AnalyzeRequest": answer})
    [out] = await h.publish(AnalyzeRequest, [h.remember(said, UserRequirement)])
    assert out.payload.ideas == [] and "Ideas:" not in out.content and "10" not in out.content
    assert len(out.payload.action_items) == 2  # the Planner still gets every item
    notes = Notebook(store).list_notes()
    assert [(n.kind, n.text, n.source) for n in notes] == [
        ("item", "Count the characters of 'extraordinary'",
         "How many characters does the word 'extraordinary' have")]


async def test_the_prompt_shows_the_open_items_that_matter(config, store):
    notebook = Notebook(store)
    friday = notebook.add("item", "Send the invoice to Bob by Friday", priority="high",
                          task_id="t-old")[0]
    done = notebook.add("item", "Book the Friday meeting room", task_id="t-old")[0]
    notebook.mark_done(done.id)
    passport = notebook.add("item", "Renew the passport", task_id="t-old")[0]
    h = harness(config, store, {"AnalyzeRequest": {"summary": "The Boss asks what is open."}})
    await h.publish(AnalyzeRequest, [h.remember("What is still open for Friday?",
                                                UserRequirement)])
    [prompt] = h.prompts("AnalyzeRequest")
    assert prompt.endswith(
        "In the Boss's notebook:\n"
        f"- open item #{friday.id} (high): Send the invoice to Bob by Friday\n"
        f"- open item #{passport.id} (medium): Renew the passport\n"
        "\nRequest:\nWhat is still open for Friday?")
    assert "meeting room" not in prompt  # done


async def test_at_most_eight_notes_and_never_the_request_read_again(config, store):
    h = harness(config, store, {"AnalyzeRequest": GROUNDED})
    request = h.remember("Please send the invoice to Bob by Friday.", UserRequirement)
    await h.publish(AnalyzeRequest, [request])
    for i in range(12):
        Notebook(store).add("item", f"Chore number {i}")
    await h.publish(AnalyzeRequest, [request])  # a resumed task reads its request again
    prompt = h.prompts("AnalyzeRequest")[1]
    listed = [line for line in prompt.splitlines() if line.startswith("- open item")]
    assert len(listed) == 8 and not any("invoice" in line for line in listed)
    assert Notebook(store).get(1).mentions == 1  # read again: not a new mention


@pytest.mark.parametrize("role_options, task_options", [
    ({"notebook": False}, {}), ({}, {"notebook": False}), ({}, {"research": {"sop": "x"}})])
async def test_the_notebook_off_reads_and_writes_nothing(config, store, role_options,
                                                         task_options):
    """Off by the Analyst's role option, by the task's, or for a research run's task."""
    Notebook(store).add("item", "Send the invoice to Bob by Friday")
    store.create_task(TASK_ID, "Bob prefers PDF.", "default", "", options=task_options)
    h = harness(config, store, {"AnalyzeRequest": GROUNDED}, options=role_options)
    [out] = await h.publish(AnalyzeRequest, [h.remember("Bob prefers PDF.", UserRequirement)])
    assert "notebook" not in h.prompts("AnalyzeRequest")[0]
    assert Notebook(store).count_notes() == 1
    assert out.payload.ideas  # the analysis itself is the same


def test_the_model_must_quote_a_source_and_the_example_does():
    schema = answer_schema()
    for name in ("Idea", "ActionItem"):
        assert "source" in schema["$defs"][name]["required"]
    assert Analysis.model_json_schema()["$defs"]["Idea"].get("required") == ["text"]
    assert Analysis.model_validate({"summary": "s", "ideas": [{"text": "t"}]}).ideas[0].source \
        == ""  # payloads stored before still load


async def test_the_prompt_example_passes_its_own_rules(h):
    await h.publish(AnalyzeRequest, [h.remember("hi", UserRequirement)])
    lines = h.prompts("AnalyzeRequest")[0].splitlines()
    said = next(line for line in lines if line.startswith("Example request: "))
    said = said.removeprefix("Example request: ")
    example = next(line for line in lines if line.startswith("Answer: {"))
    analysis = Analysis.model_validate_json(example.removeprefix("Answer: "))
    assert analysis.ideas and all(grounded_idea(i.text, i.source, said) for i in analysis.ideas)
    assert all(item_source(i.text, i.source, said) == i.source for i in analysis.action_items)


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
    assert report_line == "- Report: " + ("The answer is 42. " + "x" * 600)[:299] + "…"
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


CUT_OFF = ChatResult(content='{"summary": "C:\\\\Users\\\\dana\\\\Users\\\\dana',
                     finish_reason="length")


@pytest.mark.parametrize("answers", [[CUT_OFF, CUT_OFF], ["not json", "still not", "nope"]],
                         ids=["cut off twice", "invalid three times"])
async def test_no_valid_analysis_makes_the_request_itself_the_analysis(config, store, answers):
    h = harness(config, store, {"AnalyzeRequest": answers})
    text = r"Swap the backslashes for forward slashes in C:\Users\dana\Reports\summary.xlsx"
    request = h.remember(text, UserRequirement)
    [out] = await h.publish(AnalyzeRequest, [request])
    assert out.payload.summary == f"The Boss asked: {text}"
    assert [item.text for item in out.payload.action_items] == [text]
    assert out.payload.ideas == []
    [(kind, data)] = [e for e in h.events if e[1].get("what") == "analysis_fallback"]
    assert kind is EventKind.PROGRESS
    assert "gave no valid Analysis" in data["error"] or "cut off" in data["error"]
    assert Notebook(store).list_notes() == []  # the Boss's words were not analyzed: nothing kept


async def test_a_model_server_that_is_down_still_fails_the_analysis(config, store):
    h = harness(config, store, {"AnalyzeRequest": LLMUnavailable("cannot reach the server")})
    request = h.remember("Multiply 6 by 7", UserRequirement)
    with pytest.raises(LLMUnavailable):
        await AnalyzeRequest(h.ctx).run([request])
