"""SummarizeResults: the model's narrative over a results table written from the data, for
executed results or for a plan nobody executed; table cells are escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults, results_section
from actions.transcribe import Transcribe
from actions.write_plan import WritePlan
from company.boss import UserRequirement
from company.config import AppConfig
from company.payloads import GraphResults, Report, StepResult
from company.status import StepStatus
from tests.action_support import harness, offline_config
from tests.conftest import ANALYSIS, PLAN, REPORT

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
    [prompt] = h.prompts("SummarizeResults")
    assert "Request: What is 6 times 7?" in prompt
    assert f"Summary: {ANALYSIS['summary']}" in prompt
    assert '- s1 `calculate` (COMPLETED): outputs {"result": [42.0]}' in prompt
    assert "- s2 `word_count` (FAILED); error: no text" in prompt
    assert "planned but not executed" not in prompt


async def test_a_plan_nobody_executed_is_reported_as_planned(h):
    h.remember("old results", RunGraphs, RESULTS, sent_from="Executor")  # an earlier turn's
    plan = h.memory.latest(WritePlan)
    out = await SummarizeResults(h.ctx).run([plan])
    assert out.content.startswith(f"{REPORT}\n\n")  # the narrative, stripped, first
    table = out.content.removeprefix(f"{REPORT}\n\n")
    assert table.startswith("## Plan (planned, not executed)\n")
    assert "| s1 | calculate | planned, not executed |  |  |" in table
    assert "| s2 | word_count | planned, not executed |  |  |" in table
    assert "## Results" not in table and "42.0" not in table
    assert table.endswith("These steps were planned but not executed: no Executor ran them.")
    prompt = h.prompts("SummarizeResults")[0]
    assert "The steps were planned but not executed: say so." in prompt
    assert "(planned, not executed)" in prompt


async def test_the_newest_request_typed_or_transcribed_is_the_one_reported(h):
    h.remember("Voice note (transcribed): and count the words", Transcribe,
               sent_from="Transcriber")
    results = h.remember("results", RunGraphs, RESULTS, sent_from="Executor")
    await SummarizeResults(h.ctx).run([results])
    prompt = h.prompts("SummarizeResults")[0]
    assert "Request: Voice note (transcribed): and count the words" in prompt
    assert "What is 6 times 7?" not in prompt


async def test_no_plan_at_all_says_so(config, store):
    h = harness(config, store, {"SummarizeResults": "Nothing was done."})
    request = h.remember("hello", UserRequirement)
    out = await SummarizeResults(h.ctx).run([request])
    assert out.content == "Nothing was done.\n\n## Plan\n\nNo plan was made in this run."
    prompt = h.prompts("SummarizeResults")[0]
    assert "- (no steps)" in prompt and "Summary: (no analysis)" in prompt


def test_an_executed_empty_plan_says_no_steps_were_planned():
    assert results_section([], executed=True) == "## Results\n\nNo graph steps were planned."
    assert results_section([], executed=False, planned=True) == (
        "## Plan (planned, not executed)\n\nNo graph steps were planned.")


def test_table_cells_escape_pipes_and_newlines():
    step = StepResult(step_id="s1", graph="text_transform", status=StepStatus.FAILED,
                      outputs={"text": ["a|b"]}, error="bad | input\nsecond line")
    row = results_section([step], executed=True).splitlines()[-1]
    assert row == ('| s1 | text_transform | FAILED | {"text": ["a\\|b"]} |'
                   ' bad \\| input second line |')
    assert cells(row) == ["s1", "text_transform", "FAILED", '{"text": ["a\\|b"]}',
                          "bad \\| input second line"]


def test_long_cells_are_cut_at_300_characters():
    step = StepResult(step_id="s1", graph="g", status=StepStatus.FAILED, error="e" * 400)
    error = cells(results_section([step], executed=True).splitlines()[-1])[-1]
    assert error == "e" * 297 + "..."
