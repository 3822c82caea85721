"""The Planner's worked examples: valid plans in the shipped catalogue's terms
(prompts/plan_examples.yaml), shown in the plan prompt, and the check that a plan did not copy
them.

Choosing the examples closest in wording to each request was tried and not kept (see the
closing note of issue 12): small models copied a close example's own steps into their plans."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from actions.input_values import holds_reference, strings_in
from company.payloads import Plan
from company.prompts import PROMPT_DIR, load_model_list

EXAMPLES_FILE = PROMPT_DIR / "plan_examples.yaml"
"""The shipped library of worked plans."""
SHOWN = 3
"""How many of the library's examples a plan prompt shows, in order (the option
``plan_examples``)."""


class PlanExample(BaseModel):
    """A request and a valid plan for it; ``unless``: left out where a graph's description
    holds that word (the example would be false there)."""

    request: str
    plan: Plan
    unless: str = ""


def load_examples(path: Path = EXAMPLES_FILE) -> tuple[PlanExample, ...]:
    """The examples in a library file (read again when the file changes)."""
    return load_model_list(path, PlanExample, "examples")


COPY_MIN_CHARS = 8
"""The shortest phrase (of two words or more) whose copy from an example into a plan counts."""


def copied_from_examples(plan: Plan, shown: Sequence[PlanExample], request: str) -> list[str]:
    """The problems of a plan that copied a phrase of a shown example's inputs that the request
    does not hold (a 1.5B model answered "What is 6 times 7, and how many words are in ...?"
    with the example's own step "What language is spoken in Brazil?")."""
    phrases = {text.strip().lower() for example in shown for step in example.plan.steps
               for text in strings_in(step.inputs)}
    wanted = request.lower()
    found = []
    for step in plan.steps:
        for text in strings_in(step.inputs):
            phrase = text.strip().lower()
            if (phrase in phrases and len(phrase) >= COPY_MIN_CHARS and " " in phrase
                    and not holds_reference(phrase) and phrase not in wanted):
                found.append(f"step {step.id} copies {text.strip()!r} from an example: the "
                             "examples only show the form of an answer; plan the Boss's request")
    return found
