"""A report that passes a step's answer on: when the plan's one step ended in a model's answer
written for the Boss (a prose output, ``answer_question``'s ``answer``), that answer leads the
report as it is, and no model is asked to say it again."""

from __future__ import annotations

from typing import Any

from actions.boss_words import shorten
from actions.report_examples import NOT_DONE
from company.payloads import StepResult
from company.status import StepStatus

RELAY_OPTION = "relay_answers"
"""The SOP option (default true) that lets a report pass a step's answer on."""
RELAYED = "report_relayed"
"""The progress event of a report whose answer is a step's own, with no model call."""
RELAY_MAX_CHARS = 600
"""The longest answer passed on as it is; a longer one is the model's to shorten."""
ERROR_CHARS = 160
"""How much of a failed attempt's error the line on what was done quotes."""


def relayed_answer(steps: list[StepResult], catalogue: Any, notes: str = "") -> str | None:
    """The report's narrative when it can be a step's own answer: the plan ran one step, whose
    latest attempt completed with a single short text from a prose output of its graph
    (``OutputSpec.prose``); then a line on what was done and what failed, with the re-plan's
    ``notes`` (the Planner's). Else None."""
    latest = {step.step_id: step for step in steps}  # in run order: a later attempt wins
    if len(latest) != 1:
        return None
    [step] = latest.values()
    if step.status != StepStatus.COMPLETED or step.graph not in catalogue:
        return None
    prose = {output.name for output in catalogue.get(step.graph).outputs if output.prose}
    given = {name: values for name, values in step.outputs.items() if values}
    if len(given) != 1:
        return None
    [(name, values)] = given.items()
    if name not in prose or not isinstance(values, list) or len(values) != 1:
        return None
    answer = values[0].strip() if isinstance(values[0], str) else ""
    if not answer or len(answer) > RELAY_MAX_CHARS:
        return None
    return f"{answer}\n\n{what_was_done(step, steps, notes)}"


def what_was_done(answered: StepResult, steps: list[StepResult], notes: str = "") -> str:
    """One sentence: which graph gave the answer, after which attempts failed and why; when
    some failed, the ``notes`` of the re-plan follow ("answered from the model's own knowledge
    instead, not looked up")."""
    failed = [step for step in steps if step is not answered and step.status in NOT_DONE]
    done = f"This is the answer of the `{answered.graph}` step"
    if not failed:
        return f"{done}."
    reasons = "; ".join(f"`{step.graph}` {step.status.lower()}"
                        + (f" ({shorten(' '.join(step.error.split()), ERROR_CHARS)})"
                           if step.error else "") for step in failed)
    return " ".join(part for part in (f"{done}, run after {reasons}.", notes.strip()) if part)
