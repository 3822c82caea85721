"""plan_problems and derive_dependencies: what a schema cannot say about a plan (order,
references to outputs and to later steps), dependencies taken from the references, and what
the catalogue offers the repairs."""

from actions.planning import (
    RepairScope,
    derive_dependencies,
    drop_neutral_steps,
    plan_problems,
    repair_references,
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
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"},
         "depends_on": ["s2"]},
        {"id": "s2", "graph": "calculate",
         "inputs": {"a": "{{ s1.result }}", "b": 2, "operation": "Add"}},
        {"id": "s3", "graph": "word_count",
         "inputs": {"text": "{{s2.result}} and {{ s1.result }}, again {{ s2.result }}"}},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "plain"}, "depends_on": ["s1"]},
    )
    assert [s.depends_on for s in plan.steps] == [[], ["s1"], ["s2", "s1"], []]
    assert plan_problems(plan, CATALOGUE) == []  # the model's stray depends_on is gone


def test_a_choice_left_to_its_default_is_a_problem():
    """What the 0.5B model wrote for "79 times 2" where the schema was not enforced: the
    default operation (Add) would have answered 81."""
    assert problems(
        {"id": "s1", "graph": "calculate", "inputs": {"a": 79, "b": 2}},
        {"id": "s2", "graph": "compare_values", "inputs": {"a": 1, "b": 2, "operator": ">"}},
        {"id": "s3", "graph": "replace_text", "inputs": {"text": "a-b", "old": "-"}},
    ) == ["step s1 gives no operation: choose one of Add, Subtract, Multiply, Divide, Power"]


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


def test_an_old_stored_plan_with_depends_on_still_loads():
    stored = {"steps": [{"id": "s1", "graph": "word_count", "inputs": {"text": "a b"},
                         "depends_on": [], "purpose": "count"}], "notes": "old"}
    assert Plan.model_validate(stored).steps[0].purpose == "count"
    assert Plan.model_validate({"steps": [{"id": "s1", "graph": "word_count"}]}).steps[0] \
        .depends_on == []


def test_a_reference_to_an_output_the_graph_lacks_is_pointed_at_its_first_output():
    plan = derived(
        {"id": "s1", "graph": "replace_text", "inputs": {"text": "a,b", "old": "x"}},
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


def test_quotes_copied_around_a_quoted_phrase_are_taken_off():
    from actions.planning import unquote_copied_inputs

    request = "How many characters is 'carpe diem'? And \"Don't panic,\" she said. \"Go.\""
    plan = Plan.model_validate({"steps": [
        {"id": "s1", "graph": "word_count", "inputs": {"text": "'carpe diem'"}},
        {"id": "s2", "graph": "word_count",
         "inputs": {"text": "\"Don't panic,\" she said. \"Go.\""}},  # quotes are the line's
        {"id": "s3", "graph": "word_count", "inputs": {"text": "'not in the request'"}},
        {"id": "s4", "graph": "calculate", "inputs": {"a": 1, "b": 2, "operation": "Add"}},
    ]})
    fixed, changes = unquote_copied_inputs(plan, request)
    assert [s.inputs.get("text") for s in fixed.steps] == [
        "carpe diem", "\"Don't panic,\" she said. \"Go.\"", "'not in the request'", None]
    assert changes == ["s1.text"]
    assert unquote_copied_inputs(plan, "")[1] == []


def test_curly_quotes_come_off_too():
    from actions.planning import unquote_copied_inputs

    plan = Plan.model_validate({"steps": [
        {"id": "s1", "graph": "word_count", "inputs": {"text": "\u201cJust do it\u201d"}}]})
    fixed, _ = unquote_copied_inputs(plan, "Count \u201cJust do it\u201d please")
    assert fixed.steps[0].inputs["text"] == "Just do it"


def network_failure(step_id="s1", graph="wikipedia_lookup",
                    error="cannot resolve host 'en.wikipedia.org'"):
    from company.payloads import StepResult

    return StepResult(step_id=step_id, graph=graph, status="FAILED", error=error)


def test_offline_plan_swaps_only_steps_whose_network_failed():
    from actions.planning import offline_plan

    plan = Plan.model_validate({"steps": [
        {"id": "s1", "purpose": "What is 2 + 2", "graph": "calculate",
         "inputs": {"a": 2, "b": 2, "operation": "Add"}},
        {"id": "s2", "purpose": "Who wrote Hamlet", "graph": "web_search",
         "inputs": {"query": "Hamlet author"}},
    ]})
    swapped = offline_plan(plan, [network_failure("s2", "web_search")], CATALOGUE)
    assert swapped is not None
    assert [s.graph for s in swapped.steps] == ["calculate", "answer_question"]
    assert swapped.steps[1].inputs == {"question": "Who wrote Hamlet (Hamlet author)"}
    asked = offline_plan(plan, [network_failure("s2", "web_search")], CATALOGUE,
                         "Who wrote Hamlet, and what is 2 + 2?")
    assert asked.steps[1].inputs["context"] == (
        "The Boss asked: Who wrote Hamlet, and what is 2 + 2?")
    assert "s2 (web_search)" in swapped.notes
    # not the network, a graph that does not fetch, or no plan: the model re-plans
    assert offline_plan(plan, [network_failure("s2", "web_search", "no results")],
                        CATALOGUE) is None
    assert offline_plan(plan, [network_failure("s1", "calculate")], CATALOGUE) is None
    assert offline_plan(None, [network_failure()], CATALOGUE) is None
    assert offline_plan(plan, [network_failure("s2", "web_search")],
                        CATALOGUE.without({"answer_question"})) is None


def test_an_offline_question_keeps_what_the_lookup_was_given():
    from actions.planning import offline_question
    from company.payloads import PlanStep

    def step(purpose, **inputs):
        return PlanStep(id="s1", graph="wikipedia_lookup", purpose=purpose, inputs=inputs)

    assert offline_question(step("identify the book", topic="Pride and Prejudice")) == (
        "identify the book (Pride and Prejudice)")
    assert offline_question(step("", topic="Rosetta Stone")) == "Rosetta Stone"
    assert offline_question(step("look it up", topic="{{ s1.result }}", n=3, flag=True)) == (
        "look it up (3)")


def test_a_calculation_that_changes_nothing_is_dropped_and_its_references_rewired() -> None:
    """What stays after its doubt was said: 20 × 1 for "order 20 markers", ^ 1 for "square"."""
    request = "Add 19.99 and 5.01, then square the result, and count the words of it."
    plan = Plan.model_validate({"steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 19.99, "b": 5.01, "operation": "Add"}},
        {"id": "s2", "graph": "calculate",
         "inputs": {"a": "{{ s1.result }}", "b": 1, "operation": "Power"}},
        {"id": "s3", "graph": "calculate",
         "inputs": {"a": 0, "b": "{{ s2.result }}", "operation": "Add"}},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "it is {{ s3.result }} now"}},
    ], "notes": "n"})
    kept, dropped = drop_neutral_steps(plan, request)
    assert dropped == ["s2", "s3"]
    assert [s.id for s in kept.steps] == ["s1", "s4"]
    assert kept.steps[1].inputs == {"text": "it is {{ s1.result }} now"}
    assert kept.steps[1].depends_on == ["s1"]
    assert kept.notes == ("n Dropped s2, s3: a calculation that changes nothing (raises to the "
                          "power 1; adds 0).")
    literal = Plan.model_validate({"steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 20, "b": 1, "operation": "Multiply"}},
        {"id": "s2", "graph": "compare_values", "inputs": {"a": "{{ s1.result }}", "b": 3}}]})
    kept, _ = drop_neutral_steps(literal, "Please order 20 whiteboard markers.")
    assert kept.steps[0].inputs == {"a": 20, "b": 3} and kept.steps[0].depends_on == []
    assert drop_neutral_steps(literal, "Multiply 20 by 1, then compare it with 3.") == (
        literal, [])


def test_the_repairs_scope_of_the_shipped_catalogue() -> None:
    scope = RepairScope.of(CATALOGUE)
    assert scope.takes_context
    assert scope.fetchers == {"read_web_page", "summarize_web_page", "youtube_transcript"}
    assert RepairScope.of(CATALOGUE.without({"answer_question", "read_web_page",
                                             "youtube_transcript"})) == RepairScope(
        takes_context=False, fetchers=frozenset({"summarize_web_page"}))
