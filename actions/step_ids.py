"""Step ids and the references that follow them: which steps a step uses, a step renamed, and
steps renumbered ``s1``, ``s2``, … in their order."""

from __future__ import annotations

from actions.input_values import STEP_REF, map_strings, step_reference, step_references
from company.payloads import Plan, PlanStep


def step_refs(step: PlanStep) -> set[str]:
    """The ids of the steps a step's inputs refer to."""
    return {ref for ref, _ in step_references(step.inputs)}


def renamed(step: PlanStep, new_id: dict[str, str]) -> PlanStep:
    """The step with its id and its references to other steps renamed by ``new_id``."""

    def follow(text: str) -> str:
        return STEP_REF.sub(
            lambda m: step_reference(new_id.get(m.group(1), m.group(1)), m.group(2)), text)

    return step.model_copy(update={"id": new_id.get(step.id, step.id),
                                   "inputs": map_strings(step.inputs, follow)})


def renumbered(steps: list[PlanStep], notes: str = "") -> Plan:
    """The steps as a plan with ids ``s1``, ``s2``, … in their order, each reference to a step
    following its new id."""
    new_id = {step.id: f"s{n}" for n, step in enumerate(steps, 1)}
    return Plan(steps=[renamed(step, new_id) for step in steps], notes=notes)
