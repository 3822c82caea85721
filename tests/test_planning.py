"""plan_problems and derive_dependencies: what a schema cannot say about a plan (order,
references to outputs and to later steps), and dependencies taken from the references."""

from actions.planning import (
    derive_dependencies,
    plan_problems,
    repair_references,
    step_references,
)
from company.config import CONFIG_DIR
from company.graphs.catalogue import Catalogue
from company.payloads import Plan

CATALOGUE = Catalogue.load(CONFIG_DIR / "graphs")


def problems(*steps):
    return plan_problems(Plan.model_validate({"steps": list(steps)}), CATALOGUE)


def derived(*steps):
    return derive_dependencies(Plan.model_validate({"steps": list(steps)}))


def test_a_valid_plan_with_references_has_no_problems():
    assert problems(
        {"id": "s1", "graph": "calculate", "inputs": {"a": 1, "b": 2, "operation": "Add"}},
        {"id": "s2", "graph": "word_count", "inputs": {"text": "n={{ s1.result }}"},
         "depends_on": ["s1"]},
    ) == []


def test_unknown_graph_missing_input_and_bad_references_are_named():
    found = problems(
        {"id": "s1", "graph": "teleport", "inputs": {}},
        {"id": "s2", "graph": "calculate", "inputs": {"a": 1}},
        {"id": "s3", "graph": "word_count", "inputs": {"text": "{{ s2.result }}"}},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "{{ s2.nope }}"},
         "depends_on": ["s2"]},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "x"}, "depends_on": ["s9"]},
    )
    text = "\n".join(found)
    assert "teleport" in text and "calculate" in text  # unknown graph lists the known ones
    assert "step s2" in text and "b" in text            # missing required input
    assert "list s2 (an earlier step) in depends_on" in text  # a stored plan, not derived
    assert "calculate has outputs result" in text
    assert "used twice" in text and "'s9', which is not an earlier step" in text


def test_dependencies_come_from_the_references_in_the_inputs():
    plan = derived(
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7}, "depends_on": ["s2"]},
        {"id": "s2", "graph": "calculate", "inputs": {"a": "{{ s1.result }}", "b": 2}},
        {"id": "s3", "graph": "word_count",
         "inputs": {"text": "{{s2.result}} and {{ s1.result }}, again {{ s2.result }}"}},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "plain"}, "depends_on": ["s1"]},
    )
    assert [s.depends_on for s in plan.steps] == [[], ["s1"], ["s2", "s1"], []]
    assert plan_problems(plan, CATALOGUE) == []  # the model's stray depends_on is gone


def test_a_reference_to_a_later_or_missing_step_is_named_once():
    plan = derived(
        {"id": "s1", "graph": "word_count", "inputs": {"text": "{{ s2.word_count }}"}},
        {"id": "s2", "graph": "word_count", "inputs": {"text": "{{ s0.result }}"}},
    )
    assert plan.steps[0].depends_on == ["s2"]
    assert plan_problems(plan, CATALOGUE) == [
        "step s1 uses s2.word_count, but s2 is not an earlier step: a step can only use the "
        "outputs of the steps before it",
        "step s2 uses s0.result, but s0 is not an earlier step: a step can only use the "
        "outputs of the steps before it",
    ]


def test_references_are_found_in_nested_values():
    assert step_references({"a": ["{{ s1.x }}", {"b": "{{s2.y}}"}], "n": 3}) == [
        ("s1", "x"), ("s2", "y")]


def test_an_old_stored_plan_with_depends_on_still_loads():
    stored = {"steps": [{"id": "s1", "graph": "word_count", "inputs": {"text": "a b"},
                         "depends_on": [], "purpose": "count"}], "notes": "old"}
    assert Plan.model_validate(stored).steps[0].purpose == "count"
    assert Plan.model_validate({"steps": [{"id": "s1", "graph": "word_count"}]}).steps[0] \
        .depends_on == []


def test_a_reference_to_an_output_the_graph_lacks_is_pointed_at_its_first_output():
    plan = derived(
        {"id": "s1", "graph": "text_transform", "inputs": {"text": "a,b", "old": "x"}},
        {"id": "s2", "graph": "word_count", "inputs": {"text": "got {{ s1.result }}"}},
        {"id": "s3", "graph": "calculate",
         "inputs": {"a": "{{s2.word_count}}", "b": "{{ s9.result }}", "operation": "Add"}},
    )
    assert plan_problems(plan, CATALOGUE)  # as the model wrote it
    fixed, changes = repair_references(plan, CATALOGUE)
    assert fixed.steps[1].inputs == {"text": "got {{ s1.replaced }}"}
    # known outputs and references to steps that do not exist are left as they were
    assert fixed.steps[2].inputs["a"] == "{{s2.word_count}}"
    assert fixed.steps[2].inputs["b"] == "{{ s9.result }}"
    assert changes == ["s1.result -> s1.replaced"]
    assert [p for p in plan_problems(fixed, CATALOGUE) if "s1" in p] == []
