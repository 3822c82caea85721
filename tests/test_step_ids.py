"""step_ids: a step's references, renamed and renumbered steps."""

from __future__ import annotations

from actions.step_ids import renamed, renumbered, step_refs
from company.payloads import PlanStep

COUNT = PlanStep(id="s3", graph="word_count", inputs={"text": "{{ s7.result }} and {{s2.x}}"})


def test_a_steps_references_are_the_ids_it_uses():
    assert step_refs(COUNT) == {"s7", "s2"}


def test_renaming_changes_the_id_and_the_references_it_names():
    step = renamed(COUNT, {"s3": "s9", "s7": "s1"})
    assert (step.id, step.inputs) == ("s9", {"text": "{{ s1.result }} and {{ s2.x }}"})


def test_renumbering_keeps_each_reference_on_its_step():
    steps = [PlanStep(id="s7", graph="calculate", inputs={"a": 1, "b": 2, "operation": "Add"}),
             PlanStep(id="s3", graph="word_count", inputs={"text": "{{ s7.result }} apples"})]
    plan = renumbered(steps, "n")
    assert [(s.id, s.inputs) for s in plan.steps] == [
        ("s1", {"a": 1, "b": 2, "operation": "Add"}), ("s2", {"text": "{{ s1.result }} apples"})]
    assert plan.notes == "n"
