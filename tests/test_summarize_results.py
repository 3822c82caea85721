"""SummarizeResults: the model's narrative over a results table written from the data, for
executed results or for a plan nobody executed; a lone step's answer passed on without a
call; table cells are escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults, nothing_run, results_section
from actions.transcribe import Transcribe
from actions.write_plan import WritePlan
from company.boss import UserRequirement
from company.config import AppConfig
from company.events import EventKind
from company.llm.base import ChatResult
from company.notebook import Notebook
from company.payloads import GraphResults, Report, StepResult
from company.status import StepStatus
from tests.action_support import harness, offline_config
from tests.conftest import ANALYSIS, PLAN

REPORT = "# Report\n\nThe product is 42."
"""The answer for RESULTS: the multiplication's result (the word count failed)."""
PLANNED = "# Report\n\nThe product and the word count are planned."
"""The answer for a plan nobody ran."""
RESULTS = GraphResults(steps=[
    StepResult(step_id="s1", graph="calculate", status=StepStatus.COMPLETED,
               outputs={"result": [42.0]}),
    StepResult(step_id="s2", graph="word_count", status=StepStatus.FAILED, error="no text"),
])


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


@pytest.fixture
def h(config, store):
    h = harness(config, store, {"SummarizeResults": REPORT + "\n\n"})
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    return h


def cells(row: str) -> list[str]:
    """A Markdown table row's cells, split on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


async def test_executed_results_get_a_results_section(h):
    results = h.remember("results", RunGraphs, RESULTS, sent_from="Executor")
    [out] = await h.publish(SummarizeResults, [results])
    assert out.cause_by == "SummarizeResults" and out.send_to is None
    assert out.content == (
        f"{REPORT}\n\n## Results\n\n"
        "| step | graph | status | outputs | error |\n|---|---|---|---|---|\n"
        '| s1 | calculate | COMPLETED | {"result": [42.0]} |  |\n'
        "| s2 | word_count | FAILED |  | no text |")
    assert out.payload == Report(markdown=out.content)
    assert out.payload.unchecked is None
    [prompt] = h.prompts("SummarizeResults")
    assert "The Boss asked:\nWhat is 6 times 7?\n" in prompt
    assert ANALYSIS["summary"] not in prompt  # the Boss's words, not the Analyst's re-telling
    assert "Multiply 6 by 7" not in prompt  # no action items to re-list
    assert '- s1 `calculate` (COMPLETED): outputs {"result": [42.0]}' in prompt
    assert "- s2 `word_count` (FAILED); error: no text" in prompt
    assert "Say plainly that s2 (word_count) failed, and why." in prompt
    assert "nothing was run" not in prompt
    assert h.events == []  # nothing re-asked


async def test_the_report_leads_with_the_answer_and_keeps_the_table(config, store):
    h = harness(config, store, {"SummarizeResults": "6 × 7 = 42.\n\nThe multiplication ran; "
                                                    "the word count failed: no text."})
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    results = h.remember("results", RunGraphs, RESULTS, sent_from="Executor")
    out = await SummarizeResults(h.ctx).run([results])
    first, rest = out.content.split("\n\n", 1)
    assert first == "6 × 7 = 42."  # 42 matches the output 42.0: no re-ask, no flag
    assert rest.startswith("The multiplication ran; the word count failed: no text.\n\n"
                           "## Results\n\n| step |")
    assert '| s1 | calculate | COMPLETED | {"result": [42.0]} |  |' in out.content
    assert out.payload.unchecked is None and h.events == []
    assert len(h.prompts("SummarizeResults")) == 1


async def test_a_plan_nobody_executed_is_reported_as_planned(h):
    h.provider.answers["SummarizeResults"] = PLANNED
    h.remember("old results", RunGraphs, RESULTS, sent_from="Executor")  # an earlier turn's
    plan = h.memory.latest(WritePlan)
    out = await SummarizeResults(h.ctx).run([plan])
    assert out.content.startswith(f"{PLANNED}\n\n")  # the narrative, stripped, first
    table = out.content.removeprefix(f"{PLANNED}\n\n")
    assert table.startswith("## Plan (planned, not executed)\n")
    assert "| s1 | calculate | planned, not executed |  |  |" in table
    assert "| s2 | word_count | planned, not executed |  |  |" in table
    assert "## Results" not in table and "42.0" not in table
    assert table.endswith("These steps were planned but not executed: no Executor ran them.")
    prompt = h.prompts("SummarizeResults")[0]
    assert "No step was run, so there is no result yet" in prompt
    assert "(planned, not executed)" in prompt


async def test_a_voice_request_reaches_the_report_with_its_typed_text(config, store):
    h = harness(config, store, {"SummarizeResults": REPORT})
    words = "Voice note (transcribed): how many words did I type?\n\nTyped text: 'red, green'"
    h.remember(words, Transcribe, sent_from="Transcriber")
    results = h.remember("results", RunGraphs, RESULTS, sent_from="Executor")
    await SummarizeResults(h.ctx).run([results])
    prompt = h.prompts("SummarizeResults")[0]
    assert f"The Boss asked:\n{words}\n" in prompt
    assert "Earlier in this conversation" not in prompt


async def test_requests_since_the_last_report_are_this_turn(h):
    h.remember("Voice note (transcribed): and count the words", Transcribe,
               sent_from="Transcriber")
    results = h.remember("results", RunGraphs, RESULTS, sent_from="Executor")
    await SummarizeResults(h.ctx).run([results])
    prompt = h.prompts("SummarizeResults")[0]
    assert ("The Boss asked:\nWhat is 6 times 7?\n\n"
            "Voice note (transcribed): and count the words\n") in prompt


async def test_a_follow_up_shows_the_earlier_turns(config, store):
    h = harness(config, store, {"SummarizeResults": "42 + 1 = 43."})
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("# Report\n\n6 × 7 = 42. Done.\n\n## Results\n\n| s1 |", SummarizeResults,
               sent_from="Analyst")
    h.remember("Now add 1 to 'that number'.", UserRequirement)
    h.remember("plan", WritePlan, {"steps": [{"id": "s1", "graph": "calculate", "inputs": {
        "a": 42, "b": 1, "operation": "Add"}}]}, sent_from="Planner")
    results = h.remember("results", RunGraphs, GraphResults(steps=[StepResult(
        step_id="s1", graph="calculate", status=StepStatus.COMPLETED,
        outputs={"result": [43.0]})]), sent_from="Executor")
    out = await SummarizeResults(h.ctx).run([results])
    prompt = h.prompts("SummarizeResults")[0]
    assert "The Boss asked:\nNow add 1 to 'that number'.\n" in prompt
    assert ("Earlier in this conversation:\n- Boss: What is 6 times 7?\n"
            "- Report: 6 × 7 = 42. Done.\n") in prompt
    assert out.payload.unchecked is None  # 42 and 1 are inputs, 43 an output


async def test_no_plan_at_all_says_so(config, store):
    h = harness(config, store, {"SummarizeResults": "Nothing was done."})
    request = h.remember("hello", UserRequirement)
    out = await SummarizeResults(h.ctx).run([request])
    assert out.content == "Nothing was done.\n\n## Plan\n\nNo plan was made in this run."
    prompt = h.prompts("SummarizeResults")[0]
    assert "- (none)" in prompt and "No step was run" in prompt


async def test_the_planners_note_reaches_the_report(config, store):
    h = harness(config, store, {"SummarizeResults": "No graph can book flights."})
    h.remember("Book me a flight to Oslo.", UserRequirement)
    h.remember("plan", WritePlan, {"steps": [], "notes": "nothing books flights"},
               sent_from="Planner")
    results = h.remember("results", RunGraphs, GraphResults(), sent_from="Executor")
    out = await SummarizeResults(h.ctx).run([results])
    assert "Planner's note: nothing books flights" in h.prompts("SummarizeResults")[0]
    assert out.content == ("No graph can book flights.\n\n## Results\n\nNo graph steps were "
                           "planned. The Planner's note: nothing books flights")


# --- the narrative's checks: re-asked once, then flagged ---

ECHO = ("## Task: SummarizeResults\nWrite the Boss a short report in Markdown. Start with the "
        "answer in one or two sentences.")


def checked(config, store, *answers: str):
    """A harness whose report answers come in turn, after a 6 × 7 run."""
    h = harness(config, store, {"SummarizeResults": list(answers)})
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    return h, h.remember("results", RunGraphs, RESULTS, sent_from="Executor")


def reasks(h) -> list[dict]:
    return [data for kind, data in h.events
            if kind is EventKind.PROGRESS and data.get("what") == "report_reasked"]


async def test_an_echoed_prompt_is_re_asked_once_and_a_good_answer_is_used(config, store):
    h, results = checked(config, store, ECHO, "6 × 7 = 42. The word count failed: no text.")
    out = await SummarizeResults(h.ctx).run([results])
    first, second = h.prompts("SummarizeResults")
    assert "rejected" not in first
    assert ("Your last answer was rejected: the answer repeats the prompt's instructions. "
            "Write the report itself, not the instructions.") in second
    assert out.content.startswith("6 × 7 = 42. The word count failed: no text.\n\n## Results")
    assert "Task:" not in out.content and out.payload.unchecked is None
    assert reasks(h) == [{"role": "Analyst", "what": "report_reasked",
                          "reason": "the answer repeats the prompt's instructions",
                          "check": "echo"}]


async def test_a_re_ask_is_the_prompt_with_its_problem_drawn_with_randomness(config, store):
    h, results = checked(config, store, "6 × 7 = 43.", "6 × 7 = 42.")
    out = await SummarizeResults(h.ctx).run([results])
    first, second = h.provider.calls_for("SummarizeResults")
    assert all("6 × 7 = 43." not in m["content"] for m in second.messages)  # not shown it
    assert second.messages[-1]["content"].startswith(first.messages[-1]["content"].split(
        "Write the Boss a short report")[0])
    assert first.options.get("temperature", 0) == 0 and second.options["temperature"] > 0
    assert out.content.startswith("6 × 7 = 42.\n\n## Results") and out.payload.unchecked is None


async def test_an_echo_without_the_header_is_caught_by_its_words(config, store):
    h, results = checked(config, store, "", "")
    prompt_words = ("Start with the answer in one or two sentences, with numbers and text "
                    "copied exactly from the step outputs.")
    h.provider.answers["SummarizeResults"] = [prompt_words, "6 × 7 = 42."]
    out = await SummarizeResults(h.ctx).run([results])
    assert [r["check"] for r in reasks(h)] == ["echo"]
    assert out.content.startswith("6 × 7 = 42.\n\n")


async def test_a_twice_echoed_prompt_is_flagged_and_left_out(config, store):
    h, results = checked(config, store, ECHO, ECHO)
    out = await SummarizeResults(h.ctx).run([results])
    assert len(h.prompts("SummarizeResults")) == 2  # re-asked once, not more
    status = ("> ⚠ Unchecked: the answer repeats the prompt's instructions. It is left out: "
              "the results below are the steps' own.")
    assert out.content.startswith(f"{status}\n\n## Results\n\n")
    assert ECHO not in out.content
    assert out.payload.unchecked == "the answer repeats the prompt's instructions"
    assert len(reasks(h)) == 1


async def test_an_empty_answer_is_re_asked_then_flagged(config, store):
    h, results = checked(config, store, "  \n", "")
    out = await SummarizeResults(h.ctx).run([results])
    assert "Your last answer was rejected: the answer was empty." in h.prompts(
        "SummarizeResults")[1]
    assert out.content.startswith("> ⚠ Unchecked: the answer was empty.\n\n## Results\n\n")
    assert out.payload.unchecked == "the answer was empty"
    assert [r["check"] for r in reasks(h)] == ["empty"]


async def test_a_contradicting_number_is_re_asked_then_flagged(config, store):
    h, results = checked(config, store, "6 × 7 = 43.", "The product is 43.")
    out = await SummarizeResults(h.ctx).run([results])
    second = h.prompts("SummarizeResults")[1]
    assert ("Your last answer was rejected: the answer names 43, which no step produced. "
            "Give only values from the step results, copied exactly (s1 (calculate) gave "
            "42.0); if no step gave the answer, say that there is no answer.") in second
    assert out.content.startswith(
        "> ⚠ Unchecked: the answer names 43, which no step produced.\n\n"
        "The product is 43.\n\n## Results")
    assert out.payload.unchecked == "the answer names 43, which no step produced"
    assert reasks(h)[0]["reason"] == "the answer names 43, which no step produced"


async def test_a_data_echo_is_caught_by_the_prompts_labels(config, store):
    echo = ("The Boss asked:\nWhat is 6 times 7?\n\nStep results:\n"
            '- s1 `calculate` (COMPLETED): outputs {"result": [42.0]}')
    h, results = checked(config, store, echo, "6 × 7 = 42.")
    out = await SummarizeResults(h.ctx).run([results])
    assert [r["check"] for r in reasks(h)] == ["echo"]
    assert out.content.startswith("6 × 7 = 42.\n\n## Results")


def turns(h) -> list[list[tuple[str, str]]]:
    """Every report call's messages, as (role, content) pairs."""
    return [[(m["role"], m["content"]) for m in call.messages]
            for call in h.provider.calls_for("SummarizeResults")]


async def test_a_task_whose_steps_failed_is_shown_the_failed_example_first(config, store):
    h, results = checked(config, store, "6 × 7 = 42. The word count failed: no text.")
    await SummarizeResults(h.ctx).run([results])
    [[(asker, asked), (answerer, answer), (role, prompt)]] = turns(h)
    assert (asker, answerer, role) == ("user", "assistant", "user")
    assert asked.startswith("## Task: SummarizeResults\nThe Boss asked:\nWhat does the page")
    assert "- s1 `read_web_page` (FAILED); error: connection refused" in asked
    assert "Say plainly that s1 (read_web_page) failed, and why." in asked
    assert answer.startswith("The page could not be fetched (connection refused)")
    assert "connection refused" not in prompt and "What is 6 times 7?" in prompt


async def test_a_task_whose_steps_passed_is_shown_the_done_example(config, store):
    h = harness(config, store, {"SummarizeResults": "6 × 7 = 42."})
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    done = GraphResults(steps=RESULTS.steps[:1])
    await SummarizeResults(h.ctx).run([h.remember("results", RunGraphs, done,
                                                  sent_from="Executor")])
    [[(_, asked), (_, answer), (_, prompt)]] = turns(h)
    assert ('- s1 `word_count` (COMPLETED): outputs {"character_count": [17], '
            '"word_count": [3]}') in asked and "failed" not in asked
    assert answer.startswith("The phrase 'good morning team' has 3 words (17 characters).")
    assert "good morning team" not in prompt


async def test_a_plan_nobody_ran_and_the_option_off_show_no_example(config, store):
    h = harness(config, store, {"SummarizeResults": "Nothing ran."})
    h.remember("What is 6 times 7?", UserRequirement)
    plan = h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    await SummarizeResults(h.ctx).run([plan])
    assert [len(call) for call in turns(h)] == [1]  # planned, not executed: no example
    off, results = checked(config, store, "6 × 7 = 42. The word count failed: no text.")
    off.ctx.options["report_example"] = False
    await SummarizeResults(off.ctx).run([results])
    assert [len(call) for call in turns(off)] == [1]


async def test_a_copy_of_the_prompts_example_is_re_asked(config, store):
    copy = "6 × 7 = 42. The word count failed: connection refused."  # the example's error
    h, results = checked(config, store, copy, "6 × 7 = 42. The word count failed: no text.")
    out = await SummarizeResults(h.ctx).run([results])
    assert reasks(h)[0]["reason"] == "the answer repeats the prompt's example"
    assert "rejected: the answer repeats the prompt's example." in h.prompts(
        "SummarizeResults")[1]
    assert out.content.startswith("6 × 7 = 42. The word count failed: no text.\n\n## Results")


async def test_of_two_bad_answers_the_milder_is_kept(config, store):
    h, results = checked(config, store, "6 × 7 = 43. The word count failed.", ECHO)
    out = await SummarizeResults(h.ctx).run([results])
    assert out.content.startswith(
        "> ⚠ Unchecked: the answer names 43, which no step produced.\n\n"
        "6 × 7 = 43. The word count failed.\n\n## Results")
    assert out.payload.unchecked == "the answer names 43, which no step produced"


async def test_a_report_that_leaves_out_a_result_is_re_asked(config, store):
    """The 1.5B model answered the word count and left out the 144 asked in the same
    request; a result a later step used (s1 here) need not be given."""
    steps = GraphResults(steps=[
        StepResult(step_id="s1", graph="calculate", status=StepStatus.COMPLETED,
                   outputs={"result": [12.0]}),
        StepResult(step_id="s2", graph="calculate", status=StepStatus.COMPLETED,
                   outputs={"result": [144.0]}),
        StepResult(step_id="s3", graph="word_count", status=StepStatus.COMPLETED,
                   outputs={"word_count": [9], "character_count": [58]})])
    plan = {"steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 2, "operation": "Multiply"}},
        {"id": "s2", "graph": "calculate",
         "inputs": {"a": "{{ s1.result }}", "b": 12, "operation": "Multiply"}},
        {"id": "s3", "graph": "word_count", "inputs": {"text": "a b c d e f g h i"}}],
        "notes": ""}
    h = harness(config, store, {"SummarizeResults": ["The sentence has 9 words.",
                                                     "It has 9 words, and the product is 144."]})
    h.remember("How many words are in 'a b c d e f g h i', and what is 6 times 2 times 12?",
               UserRequirement)
    h.remember("plan", WritePlan, plan, sent_from="Planner")
    results = h.remember("results", RunGraphs, steps, sent_from="Executor")
    out = await SummarizeResults(h.ctx).run([results])
    assert reasks(h) == [{"role": "Analyst", "what": "report_reasked", "check": "left_out",
                          "reason": "the answer leaves out results (s2 (calculate) gave 144.0)"}]
    assert out.content.startswith("It has 9 words, and the product is 144.\n\n## Results")
    assert out.payload.unchecked is None


async def test_a_contradicting_number_fixed_on_the_re_ask_passes(config, store):
    h, results = checked(config, store, "6 × 7 = 43.", "6 × 7 = 42.")
    out = await SummarizeResults(h.ctx).run([results])
    assert out.content.startswith("6 × 7 = 42.\n\n## Results")
    assert out.payload.unchecked is None and len(reasks(h)) == 1


@pytest.mark.parametrize("answer", [
    "6 × 7 = 42.", "6 × 7 = 42.0.", "The product of 6 and 7 is **42**.",
    "# Report\n\nThe result is 42. Step 2 failed.",
    "The result is 42. The word count failed. Later: 99 bottles.",  # third sentence: not read
])
async def test_numbers_from_the_outputs_inputs_and_request_pass(config, store, answer):
    h, results = checked(config, store, answer)
    out = await SummarizeResults(h.ctx).run([results])
    assert out.payload.unchecked is None and reasks(h) == []
    assert len(h.prompts("SummarizeResults")) == 1


async def test_the_opening_is_checked_even_under_a_heading(config, store):
    h, results = checked(config, store, "# Report\n\nThe answer is 41.", "# Report\n\n- 40")
    out = await SummarizeResults(h.ctx).run([results])
    assert out.payload.unchecked == "the answer names 40, which no step produced"


def test_an_executed_empty_plan_says_no_steps_were_planned():
    assert results_section([], executed=True) == "## Results\n\nNo graph steps were planned."
    assert results_section([], executed=False, planned=True) == (
        "## Plan (planned, not executed)\n\nNo graph steps were planned.")
    assert results_section([], executed=True, notes=" No graph can book flights. ") == (
        "## Results\n\nNo graph steps were planned. The Planner's note: No graph can book "
        "flights.")
    assert results_section([], executed=False, planned=False, notes="x") == (
        "## Plan\n\nNo plan was made in this run.")


def test_table_cells_escape_pipes_and_newlines():
    step = StepResult(step_id="s1", graph="split_text", status=StepStatus.FAILED,
                      outputs={"text": ["a|b"]}, error="bad | input\nsecond line")
    row = results_section([step], executed=True).splitlines()[-1]
    assert row == ('| s1 | split_text | FAILED | {"text": ["a\\|b"]} |'
                   ' bad \\| input second line |')
    assert cells(row) == ["s1", "split_text", "FAILED", '{"text": ["a\\|b"]}',
                          "bad \\| input second line"]


def test_long_cells_are_cut_at_300_characters():
    step = StepResult(step_id="s1", graph="g", status=StepStatus.FAILED, error="e" * 400)
    error = cells(results_section([step], executed=True).splitlines()[-1])[-1]
    assert error == "e" * 297 + "..."


async def test_a_runaway_report_leaves_the_results_and_says_so(config, store):
    """The 0.5B model looped to its token limit, also when asked to be brief: the task still
    ends with its results, flagged."""
    loop = ChatResult(content="The answer is " + "very " * 50, finish_reason="length")
    h, results = checked(config, store, loop, loop)
    out = await SummarizeResults(h.ctx).run([results])
    assert len(h.prompts("SummarizeResults")) == 2  # the client's brief re-ask, nothing more
    assert out.content.startswith(
        "> ⚠ Unchecked: the model's answer ran past its token limit, also when asked to be "
        "brief. It is left out: the results below are the steps' own.\n\n## Results\n\n")
    assert "very" not in out.content and "42" in out.content
    [cut] = [d for k, d in h.events if d.get("what") == "report_cut_off"]
    assert "cut off at its token limit" in cut["error"]


async def test_a_runaway_re_ask_keeps_the_first_answer_with_its_problem(config, store):
    """The 0.5B's re-ask after a wrong number looped to its limit twice: the task still gets
    a report, the first answer flagged, instead of failing."""
    loop = ChatResult(content="The answer is " + "very " * 50, finish_reason="length")
    h, results = checked(config, store, "6 × 7 = 43.", loop, loop)
    out = await SummarizeResults(h.ctx).run([results])
    assert len(h.prompts("SummarizeResults")) == 3  # the answer, the re-ask, its brief re-ask
    assert out.content.startswith("> ⚠ Unchecked: the answer names 43, which no step produced."
                                  "\n\n6 × 7 = 43.\n\n## Results")
    assert [d["what"] for _, d in h.events] == ["report_reasked", "report_cut_off"]


async def test_a_left_out_report_with_no_steps_still_says_what_was_asked(config, store):
    """A 1.5B model's report on "Please order 20 whiteboard markers" ran away twice: the code
    says what was asked, that nothing was run, and why."""
    loop = ChatResult(content="The answer is " + "very " * 50, finish_reason="length")
    h = harness(config, store, {"SummarizeResults": [loop, loop]})
    h.remember("Please order 20 whiteboard markers.", UserRequirement)
    h.remember("plan", WritePlan, {"steps": [], "notes": "No graph can order anything."},
               sent_from="Planner")
    results = h.remember("results", RunGraphs, GraphResults(), sent_from="Executor")
    out = await SummarizeResults(h.ctx).run([results])
    assert out.content.startswith(
        "> ⚠ Unchecked: the model's answer ran past its token limit, also when asked to be "
        "brief. It is left out: the results below are the steps' own.\n\nNothing was run for "
        "this request: Please order 20 whiteboard markers. No graph can order anything.\n\n"
        "## Results\n\n")
    assert "very" not in out.content


def test_the_nothing_run_line_ends_the_request_and_may_lack_a_reason():
    assert nothing_run("Book a room", "") == "Nothing was run for this request: Book a room."
    assert nothing_run("", "No graph can book.") == "Nothing was run. No graph can book."


def answered(config, store, *answers: str, options: dict | None = None):
    """A harness after a one-step answer_question run ("What is the capital of Australia?")."""
    h = harness(config, store, {"SummarizeResults": list(answers)}, options=options)
    h.remember("What is the capital of Australia?", UserRequirement)
    h.remember("plan", WritePlan, PLAN, sent_from="Planner")
    done = GraphResults(steps=[StepResult(
        step_id="s1", graph="answer_question", status=StepStatus.COMPLETED,
        outputs={"answer": ["The capital of Australia is Canberra."]})])
    return h, h.remember("results", RunGraphs, done, sent_from="Executor")


async def test_a_lone_answer_leads_the_report_with_no_model_call(config, store):
    h, results = answered(config, store)  # no scripted answer: a call would fail the test
    out = await SummarizeResults(h.ctx).run([results])
    assert out.content.startswith("The capital of Australia is Canberra.\n\nThis is the answer "
                                  "of the `answer_question` step.\n\n## Results\n")
    assert out.payload.unchecked is None
    assert h.provider.calls_for("SummarizeResults") == []
    assert [(data["what"], data["graph"]) for _, data in h.events] == [
        ("report_relayed", "answer_question")]


async def test_the_relay_option_off_asks_the_model(config, store):
    h, results = answered(config, store, "Canberra is the capital.",
                          options={"relay_answers": False})
    out = await SummarizeResults(h.ctx).run([results])
    assert out.content.startswith("Canberra is the capital.\n\n## Results")
    assert len(h.provider.calls_for("SummarizeResults")) == 1


def nothing_planned(config, store, request: str):
    """A harness after an executed plan with no steps, and its results message."""
    h = harness(config, store, {"SummarizeResults": "I cannot do that: nothing was run."})
    h.remember(request, UserRequirement)
    h.remember("plan", WritePlan, {"steps": [], "notes": "No graph can book flights."},
               sent_from="Planner")
    return h, h.remember("results", RunGraphs, GraphResults(), sent_from="Executor")


async def test_a_plan_with_no_steps_is_shown_the_nothing_done_example(config, store):
    h, results = nothing_planned(config, store, "Book me a flight to Oslo.")
    await SummarizeResults(h.ctx).run([results])
    [[(_, asked), (_, answer), (_, prompt)]] = turns(h)
    assert "'Casa Verde Bistro'" in asked and "Planner's note: No graph can make reservations." \
        in asked and "- (none)" in asked
    assert answer.startswith("I could not reserve the table at Casa Verde Bistro")
    assert "Book me a flight to Oslo." in prompt and "Casa Verde" not in prompt


async def test_no_example_when_the_notebook_may_hold_the_answer(config, store):
    Notebook(store).add("item", "Book the flight to Oslo for the offsite")
    h, results = nothing_planned(config, store, "Did I note a flight to Oslo?")
    await SummarizeResults(h.ctx).run([results])
    [[(_, prompt)]] = turns(h)
    assert "Book the flight to Oslo for the offsite" in prompt
