"""The worked reports: the shipped file loads, each example fits its situation and passes the
report checks on its own data, and the telltales a copy is caught by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.report_checks import KnownNumbers, check_narrative
from actions.report_examples import (
    ReportExample,
    example_for,
    load_examples,
    situation,
    telltales,
)
from company.payloads import StepResult
from company.research.requests import load_requests
from company.status import StepStatus

EVAL_DIR = Path(__file__).resolve().parent.parent / "config" / "eval"

DONE = StepResult(step_id="s1", graph="calculate", status=StepStatus.COMPLETED,
                  outputs={"result": [42.0]})
FAILED = StepResult(step_id="s2", graph="word_count", status=StepStatus.FAILED, error="x")
SKIPPED = StepResult(step_id="s2", graph="word_count", status=StepStatus.SKIPPED)


def test_the_situation_decides_which_example_a_task_gets() -> None:
    examples = load_examples()
    assert situation([DONE], executed=True) == "done"
    assert situation([DONE, FAILED], executed=True) == "failed"
    assert situation([DONE, SKIPPED], executed=True) == "failed"
    assert situation([DONE], executed=False) is None and situation([], executed=False) is None
    assert situation([], executed=True) == "none"
    assert example_for([DONE], True, examples).when == "done"
    assert example_for([DONE, FAILED], True, examples).when == "failed"
    assert example_for([], True, examples).when == "none"
    assert example_for([], False, examples) is None
    assert example_for([DONE, FAILED], True, [e for e in examples if e.when == "done"]) is None


@pytest.mark.parametrize("example", load_examples(), ids=lambda e: e.when)
def test_each_shipped_example_fits_its_situation_and_passes_the_checks(example) -> None:
    assert situation(example.steps, executed=True) == example.when
    known = KnownNumbers()
    known.add_values([example.request, *(s.outputs for s in example.steps)])
    data = json.dumps([example.request, [s.model_dump(mode="json") for s in example.steps]])
    assert check_narrative(example.report, "", known, data, telltales(example)) is None
    assert telltales(example)  # something a copy of it is caught by


def test_no_example_uses_an_eval_requests_wording() -> None:
    requests = [" ".join([r.request, r.speak or ""]).lower()
                for path in sorted(EVAL_DIR.glob("*.jsonl")) for r in load_requests(path).requests]
    assert len(requests) > 60
    for example in load_examples():
        for phrase in [example.request, *telltales(example)]:
            assert not any(phrase.lower() in request for request in requests), phrase


def test_telltales_are_quoted_request_texts_and_errors_of_two_words_or_more() -> None:
    example = ReportExample(
        when="failed", request="Count 'see you soon' and 'hi'.",
        steps=[FAILED, StepResult(step_id="s3", graph="calculate", status=StepStatus.FAILED,
                                  error="host unreachable")],
        report="The count failed.")
    assert telltales(example) == ["see you soon", "host unreachable"]


def test_a_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "examples.yaml"
    path.write_text("when: done\n")
    with pytest.raises(ValueError, match="expected a list of worked reports"):
        load_examples(path)
