"""The Analyst's worked reports (prompts/report_examples.yaml): shown to the model as an earlier
turn of the conversation before its own report task, and the phrases whose copy into a report
marks it as a copy of the example.

An example as a turn, rather than a line of the prompt describing it, was measured on 50
recorded reports (see the data file): small models copied the described example's sentence
into reports about other requests, and ran on; a turn they answer in its own form."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from actions.report_checks import EXAMPLE_WORDS, quoted_spans
from company.payloads import StepResult
from company.prompts import PROMPT_DIR, load_model_list
from company.status import StepStatus

EXAMPLES_FILE = PROMPT_DIR / "report_examples.yaml"
"""The shipped worked reports."""
NOT_DONE = frozenset({StepStatus.FAILED, StepStatus.TERMINATED, StepStatus.SKIPPED})
"""Statuses a report must name as failed (or not run)."""

Situation = Literal["done", "failed", "none"]


class ReportExample(BaseModel):
    """A request, its step results and a good report on them; ``when``: the task it is shown
    to (``done``: steps ran and none failed; ``failed``: a step failed; ``none``: the plan had
    no steps, its ``notes`` say why)."""

    when: Situation
    request: str
    steps: list[StepResult]
    report: str
    notes: str = ""


def load_examples(path: Path = EXAMPLES_FILE) -> tuple[ReportExample, ...]:
    """The examples in a worked-reports file (read again when the file changes)."""
    return load_model_list(path, ReportExample, "worked reports")


def situation(steps: Sequence[StepResult], executed: bool) -> Situation | None:
    """Which example a report task gets: None when the plan was not executed."""
    if not executed:
        return None
    if not steps:
        return "none"
    return "failed" if any(step.status in NOT_DONE for step in steps) else "done"


def example_for(steps: Sequence[StepResult], executed: bool,
                examples: Sequence[ReportExample]) -> ReportExample | None:
    """The first example for this task's situation, or None."""
    wanted = situation(steps, executed)
    return next((example for example in examples if example.when == wanted), None)


def telltales(example: ReportExample) -> list[str]:
    """The example's own phrases of two words or more: the texts its request quotes and its
    steps' errors; a report that holds one the task's data lacks copied the example."""
    phrases = quoted_spans(example.request)
    phrases += [step.error.strip() for step in example.steps if step.error]
    return [phrase for phrase in phrases if len(phrase.split()) >= EXAMPLE_WORDS]
