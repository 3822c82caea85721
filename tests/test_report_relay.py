"""report_relay: which step results a report may pass on as its answer, and the line on what
was done that follows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.report_relay import RELAY_MAX_CHARS, relayed_answer, what_was_done
from company.graphs.catalogue import Catalogue
from company.payloads import StepResult
from company.status import StepStatus

CATALOGUE_DIR = Path(__file__).resolve().parents[1] / "config" / "graphs"
ANSWER = "The capital of Australia is Canberra."


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(CATALOGUE_DIR)


def step(graph: str, outputs: dict | None = None, *, status: StepStatus = StepStatus.COMPLETED,
         step_id: str = "s1", error: str | None = None) -> StepResult:
    return StepResult(step_id=step_id, graph=graph, status=status, outputs=outputs or {},
                      error=error)


def test_a_lone_answer_is_passed_on_with_what_was_done(catalogue):
    relayed = relayed_answer([step("answer_question", {"answer": [f"  {ANSWER}\n"]})], catalogue)
    assert relayed == f"{ANSWER}\n\nThis is the answer of the `answer_question` step."


def test_an_answer_after_a_failed_attempt_says_what_failed_and_why(catalogue):
    failed = step("wikipedia_lookup", status=StepStatus.FAILED,
                  error="GetWikipediaSummaryBlock: cannot resolve host 'en.wikipedia.org'")
    answered = step("answer_question", {"answer": [ANSWER]})
    notes = "answered from the model's own knowledge instead, not looked up."
    relayed = relayed_answer([failed, answered], catalogue, notes)
    assert relayed is not None and relayed.startswith(f"{ANSWER}\n\n")
    assert relayed.endswith("run after `wikipedia_lookup` failed (GetWikipediaSummaryBlock: "
                            f"cannot resolve host 'en.wikipedia.org'). {notes}")
    assert relayed_answer([answered], catalogue, notes) == (  # a first plan's note: not news
        f"{ANSWER}\n\nThis is the answer of the `answer_question` step.")


def test_a_summary_of_a_page_is_prose_but_a_looked_up_summary_is_not(catalogue):
    assert relayed_answer([step("summarize_web_page", {"summary": ["A page about onboarding."]})],
                          catalogue)
    assert relayed_answer([step("wikipedia_lookup", {"summary": ["Canberra is ..."]})],
                          catalogue) is None


@pytest.mark.parametrize("steps", [
    [step("calculate", {"result": [42.0]})],  # a number: the model says what it answers
    [step("answer_question", {"answer": [ANSWER]}),
     step("word_count", {"word_count": [6]}, step_id="s2")],  # two steps
    [step("answer_question", status=StepStatus.FAILED, error="model down")],
    [step("answer_question", {"answer": ["   "]})],  # nothing said
    [step("answer_question", {"answer": ["x" * (RELAY_MAX_CHARS + 1)]})],  # the model shortens
    [step("answer_question", {"answer": [ANSWER, "A second answer."]})],
    [step("summarize_web_page", {"summary": ["A page."], "fetch_error": ["timeout"]})],
    [step("not_in_the_catalogue", {"answer": [ANSWER]})],
    [],
])
def test_anything_else_is_the_models_to_report(catalogue, steps):
    assert relayed_answer(steps, catalogue) is None


def test_what_was_done_names_a_skipped_attempt_and_shortens_a_long_error():
    answered = step("answer_question", {"answer": [ANSWER]})
    skipped = step("read_web_page", status=StepStatus.SKIPPED, error="x " * 200)
    line = what_was_done(answered, [skipped, answered])
    assert line.startswith("This is the answer of the `answer_question` step, run after "
                           "`read_web_page` skipped (x x")
    assert line.endswith("…).") and len(line) < 300
