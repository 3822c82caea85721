"""plan_merge: a re-asked plan merged with the doubted plan it answers, a step given the text
an earlier-asked replacement changes given the changed text, and a step that looks in the
changed text for what the replacement took out given what it put in."""

from __future__ import annotations

from typing import Any

from actions.plan_merge import chained_texts, extended_plan, followed_replacements, merged_plan
from company.payloads import Plan, PlanStep

LINE = "ERROR: disk full; ERROR: retry failed"
REPLACE = {"graph": "replace_text", "inputs": {"text": LINE, "old": "ERROR", "new": "WARN"}}
COUNT = {"graph": "word_count", "inputs": {"text": LINE}}


def plan(*steps: dict[str, Any]) -> Plan:
    return Plan(steps=[PlanStep(id=f"s{n}", **step) for n, step in enumerate(steps, 1)])


def shape(p: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    return [(s.id, s.graph, s.inputs) for s in p.steps]


def test_a_re_ask_that_swapped_a_step_is_merged_with_the_plan_it_answers():
    counted = plan({"graph": "word_count", "inputs": {"text": "carpe diem"}})
    counted.notes = "Counted its characters."
    asked = plan({"graph": "answer_question", "inputs": {"question": "What does carpe diem mean?"}})
    asked.notes = "No step can count characters."
    merged = merged_plan(counted, asked)
    assert merged is not None and merged.notes == "Counted its characters."
    assert shape(merged) == [
        ("s1", "word_count", {"text": "carpe diem"}),
        ("s2", "answer_question", {"question": "What does carpe diem mean?"})]


def test_added_steps_keep_their_references_among_themselves():
    first = plan({"graph": "word_count", "inputs": {"text": "a b"}})
    second = plan({"graph": "calculate", "inputs": {"a": 2, "b": 3, "operation": "Add"}},
                  {"graph": "compare_values",
                   "inputs": {"a": "{{ s1.result }}", "b": 5, "operator": "=="}},
                  {"graph": "word_count", "inputs": {"text": "other"}})
    merged = merged_plan(first, second)
    assert merged is not None
    assert [(s.id, s.graph) for s in merged.steps] == [
        ("s1", "word_count"), ("s2", "calculate"), ("s3", "compare_values")]
    assert merged.steps[2].inputs["a"] == "{{ s2.result }}"


def test_nothing_to_merge_when_the_re_ask_adds_no_graph_or_needs_a_step_it_does_not_add():
    counted = plan(COUNT)
    assert merged_plan(counted, plan(COUNT)) is None
    assert merged_plan(counted, plan()) is None
    uses_count = plan(COUNT, {"graph": "calculate", "inputs": {
        "a": "{{ s1.word_count }}", "b": 2, "operation": "Multiply"}})
    assert merged_plan(counted, uses_count) is None


def test_a_count_asked_after_a_replacement_counts_the_replaced_text():
    request = f"In '{LINE}', replace ERROR with WARN and then count the words of the new line."
    chained, changes = chained_texts(plan(COUNT, REPLACE), request)
    assert shape(chained) == [("s1", "replace_text", REPLACE["inputs"]),
                              ("s2", "word_count", {"text": "{{ s1.replaced }}"})]
    assert changes == ["s1.text -> s2.replaced"]


def test_a_count_asked_before_the_replacement_counts_the_text_as_given():
    request = f"Count the words of '{LINE}', and replace ERROR with WARN in it."
    assert chained_texts(plan(COUNT, REPLACE), request) == (plan(COUNT, REPLACE), [])


def test_a_second_replacement_in_the_same_text_takes_the_first_ones_result():
    template = "Dear {name}, your order {id} has shipped"
    first = {"graph": "replace_text", "inputs": {"text": template, "old": "{name}", "new": "P"}}
    second = {"graph": "replace_text", "inputs": {"text": template, "old": "{id}", "new": "A1"}}
    counted = {"graph": "word_count", "inputs": {"text": template}}
    request = (f"In '{template}', put P in place of {{name}} and then A1 in place of {{id}}, "
               "then count the characters.")
    chained, changes = chained_texts(plan(first, second, counted), request)
    assert [s.inputs["text"] for s in chained.steps] == [
        template, "{{ s1.replaced }}", "{{ s2.replaced }}"]
    assert changes == ["s2.text -> s1.replaced", "s3.text -> s2.replaced"]


def test_a_split_on_what_the_replacement_took_out_keeps_the_original():
    """"Replace the semicolons with commas … then give me the addresses one by one": splitting
    the new text on ";" would find one part."""
    emails = "a@x.com; b@x.com"
    replace = {"graph": "replace_text", "inputs": {"text": emails, "old": ";", "new": ","}}
    split = {"graph": "split_text", "inputs": {"text": emails, "delimiter": ";"}}
    request = f"Replace the semicolons with commas in '{emails}' and then split them one by one."
    assert chained_texts(plan(replace, split), request)[1] == []


def test_a_step_given_another_text_or_a_request_without_cues_is_left_alone():
    other = {"graph": "word_count", "inputs": {"text": "something else"}}
    request = f"In '{LINE}', replace ERROR with WARN and then count the words."
    assert chained_texts(plan(REPLACE, other), request)[1] == []
    assert chained_texts(plan(REPLACE, COUNT), f"Do things with '{LINE}'.")[1] == []


EMAILS = "a@x.com; b@x.com"
SEMICOLONS = {"graph": "replace_text", "inputs": {"text": EMAILS, "old": ";", "new": ","}}


def test_a_split_of_the_replaced_text_on_what_was_taken_out_splits_on_what_was_put_in():
    split = {"graph": "split_text", "inputs": {"text": "{{ s1.replaced }}", "delimiter": ";"}}
    followed, changes = followed_replacements(plan(SEMICOLONS, split))
    assert shape(followed) == [("s1", "replace_text", SEMICOLONS["inputs"]),
                               ("s2", "split_text", {"text": "{{ s1.replaced }}",
                                                     "delimiter": ","})]
    assert changes == ["s2.delimiter: ';' -> ',' (s1 replaced ';' with ',' in the text s2 "
                       "reads)"]


def test_a_step_reading_the_original_or_another_output_or_another_text_is_left_alone():
    on_original = {"graph": "split_text", "inputs": {"text": EMAILS, "delimiter": ";"}}
    elsewhere = {"graph": "split_text", "inputs": {"text": "{{ s1.replaced }}", "delimiter": "@"}}
    part = {"graph": "split_text", "inputs": {"text": "{{ s1.replaced }} x", "delimiter": ";"}}
    for step in (on_original, elsewhere, part):
        assert followed_replacements(plan(SEMICOLONS, step)) == (plan(SEMICOLONS, step), [])


def test_a_change_that_puts_nothing_in_or_a_second_change_is_left_alone():
    removed = {"graph": "replace_text", "inputs": {"text": EMAILS, "old": ";", "new": ""}}
    kept = {"graph": "replace_text", "inputs": {"text": EMAILS, "old": ";", "new": ";;"}}
    split = {"graph": "split_text", "inputs": {"text": "{{ s1.replaced }}", "delimiter": ";"}}
    again = {"graph": "replace_text",
             "inputs": {"text": "{{ s1.replaced }}", "old": ";", "new": " and "}}
    for first, second in ((removed, split), (kept, split), (SEMICOLONS, again)):
        assert followed_replacements(plan(first, second))[1] == []


def calc(a: Any, b: Any, operation: str) -> dict[str, Any]:
    return {"graph": "calculate", "inputs": {"a": a, "b": b, "operation": operation}}


def test_a_step_added_after_steps_of_the_same_graphs_extends_the_plan():
    """The 0.5B model added the division by 9 and changed the 32 to 0 on the way."""
    first = plan(calc(98.6, 32, "Subtract"), calc("{{ s1.result }}", 5, "Multiply"))
    first.notes = "first"
    second = plan(calc(98.6, 0, "Subtract"), calc("{{ s1.result }}", 5, "Multiply"),
                  calc("{{ s2.result }}", 9, "Divide"))
    extended = extended_plan(first, second)
    assert extended is not None and extended.notes == "first"
    assert [s.inputs for s in extended.steps] == [
        {"a": 98.6, "b": 32, "operation": "Subtract"},
        {"a": "{{ s1.result }}", "b": 5, "operation": "Multiply"},
        {"a": "{{ s2.result }}", "b": 9, "operation": "Divide"}]


def test_an_extension_follows_the_first_plans_ids():
    first = Plan(steps=[PlanStep(id="s7", **calc(1, 2, "Add"))])
    second = Plan(steps=[PlanStep(id="s3", **calc(1, 3, "Add")),
                         PlanStep(id="s9", **calc("{{ s3.result }}", 4, "Divide"))])
    extended = extended_plan(first, second)
    assert extended is not None
    assert [(s.id, s.inputs["a"]) for s in extended.steps] == [("s1", 1), ("s2", "{{ s1.result }}")]


def test_a_plan_that_is_no_extension_gives_nothing():
    first = plan(calc(98.6, 32, "Subtract"), calc("{{ s1.result }}", 5, "Multiply"))
    assert extended_plan(first, first) is None  # nothing added
    assert extended_plan(first, plan(calc(98.6, 32, "Subtract"))) is None  # shorter
    other = plan(COUNT, calc(98.6, 32, "Subtract"), calc(1, 9, "Divide"))
    assert extended_plan(first, other) is None  # other graphs before the added step
