"""plan_repairs: what the request or the plan decides, repaired by the code."""

from __future__ import annotations

from typing import Any

import pytest

from actions.plan_repairs import (
    fetched_addresses,
    given_text,
    percent_amounts,
    percent_factors,
    question_context,
    repeated_steps,
    searched_addresses,
    subtraction_order,
    whole_given_text,
)
from company.payloads import Plan


def plan(*steps: dict[str, Any]) -> Plan:
    return Plan.model_validate({"steps": list(steps)})


def subtract(a: Any, b: Any, step_id: str = "s1", operation: str = "Subtract") -> dict[str, Any]:
    return {"id": step_id, "graph": "calculate", "purpose": "p",
            "inputs": {"a": a, "b": b, "operation": operation}}


@pytest.mark.parametrize("request_text, a, b, after", [
    ("Take 45 away from 30. What do I get?", 45, 30, (30, 45)),
    ("subtract 420 from 1000", 420, 1000, (1000, 420)),
    ("subtract 420 from 1000", 1000, 420, (1000, 420)),   # already right: kept
    ("Subtract 1,200 from 2,340.50", 1200, 2340.5, (2340.5, 1200)),
    ("What is 45 minus 30?", 45, 30, (45, 30)),            # no "from": as written
    ("Take 45 away from 30", 45, 12, (45, 12)),            # other numbers: not this wording's
    ("He came from 45 to 30", 45, 30, (45, 30)),           # "from" between no two numbers
])
def test_a_subtraction_worded_a_from_b_is_b_minus_a(request_text, a, b, after) -> None:
    fixed, changes = subtraction_order(plan(subtract(a, b)), request_text)
    inputs = fixed.steps[0].inputs
    assert (inputs["a"], inputs["b"]) == after and inputs["operation"] == "Subtract"
    assert bool(changes) is ((a, b) != after)


def test_only_subtractions_of_literal_numbers_are_reordered() -> None:
    request = "Take 45 away from 30"
    steps = plan(subtract(45, 30, operation="Add"), subtract("{{ s1.result }}", 30, "s2"))
    fixed, changes = subtraction_order(steps, request)
    assert fixed == steps and changes == []
    fixed, changes = subtraction_order(plan(subtract(45, 30)), request)
    assert changes == ["s1: 45 − 30 -> 30 − 45 (the request says 45 from 30)"]


@pytest.mark.parametrize("request_text, a, b, operation", [
    ("Take 15% off 80: work out the discount, then the sale price.", 80, 15, "Subtract"),
    ("Take 15% off 80.", 15, 80, "Subtract"),                 # the percentage first: same
    ("A monitor costs $249.99. Add 8.25% sales tax.", 249.99, 0.0825, "Add"),  # as a fraction
    ("Raise 1200 by 5 percent", 1200, 5, "Add"),
])
def test_a_percentage_added_as_an_amount_is_its_share_of_the_amount(request_text, a, b,
                                                                    operation) -> None:
    fixed, changes = percent_amounts(plan(subtract(a, b, operation=operation),
                                          subtract("{{ s1.result }}", 2, "s2", "Divide")),
                                     request_text)
    amount, share = (b, a) if a in (15, 5) else (a, b)
    percent = share if share > 1 else share * 100
    assert [(s.id, s.inputs) for s in fixed.steps] == [
        ("s1", {"a": amount, "b": percent / 100, "operation": "Multiply"}),
        ("s2", {"a": amount, "b": "{{ s1.result }}", "operation": operation}),
        ("s3", {"a": "{{ s2.result }}", "b": 2, "operation": "Divide"})]  # uses the total
    assert changes == [f"s1: {operation} {percent:g}% of {amount}"]


@pytest.mark.parametrize("request_text, a, b, operation", [
    ("What is 15% of 80?", 80, 0.15, "Multiply"),             # a share already
    ("Rates went from 3% up by 2%.", 3, 2, "Add"),            # two percentages
    ("15% of 80, plus 15", 12, 15, "Add"),                    # 15 written without a sign too
    ("Add 15 to 80", 80, 15, "Add"),                          # no percentage
    ("Take 100% off 80", 80, 100, "Subtract"),
])
def test_other_calculations_with_percentages_stay(request_text, a, b, operation) -> None:
    steps = plan(subtract(a, b, operation=operation))
    assert percent_amounts(steps, request_text) == (steps, [])


@pytest.mark.parametrize("request_text, a, b, after", [
    ("What's 18% of 67.40?", 18, 67.4, (0.18, 67.4)),
    ("What's 18% of 67.40?", 67.4, 18, (67.4, 0.18)),
    ("What's 18% of 67.40?", 67.4, 0.18, (67.4, 0.18)),       # a factor already
    ("18% of 67.40, times 18", 18, 67.4, (18, 67.4)),          # 18 written without a sign too
    ("Take 100% of 80", 100, 80, (100, 80)),
])
def test_a_percentage_multiplied_as_a_whole_number_is_its_factor(request_text, a, b,
                                                                 after) -> None:
    fixed, changes = percent_factors(plan(subtract(a, b, operation="Multiply")), request_text)
    assert (fixed.steps[0].inputs["a"], fixed.steps[0].inputs["b"]) == after
    assert bool(changes) is ((a, b) != after)


def test_a_plan_that_divides_by_100_keeps_its_whole_percentage() -> None:
    steps = plan(subtract(18, 67.4, operation="Multiply"),
                 subtract("{{ s1.result }}", 100, "s2", "Divide"))
    assert percent_factors(steps, "What's 18% of 67.40?") == (steps, [])


def question_step(question: str, step_id: str) -> dict[str, Any]:
    return {"id": step_id, "graph": "answer_question", "purpose": "p",
            "inputs": {"question": question}}


def test_a_step_that_repeats_an_earlier_one_is_dropped() -> None:
    """The 1.5B model's re-ask for "At what temperature does water boil at sea level?": the
    same question three times (six in the real answer), each used by a later step."""
    question = "At what temperature in Celsius does water boil at sea level?"
    steps = plan(question_step(question, "s1"), question_step(question, "s2"),
                 question_step(question, "s3"),
                 subtract("{{ s3.answer }}", 1, "s4", "Multiply"),
                 subtract("{{ s2.answer }}", 1, "s5", "Multiply"))
    fixed, changes = repeated_steps(steps)
    assert [(s.id, s.graph, s.inputs.get("a")) for s in fixed.steps] == [
        ("s1", "answer_question", None), ("s2", "calculate", "{{ s1.answer }}")]
    assert changes == ["s2: the same as s1", "s3: the same as s1", "s5: the same as s4"]


def test_steps_that_differ_in_any_input_all_stay() -> None:
    steps = plan(question_step("What is a kelvin?", "s1"), question_step("What is a mole?", "s2"),
                 subtract(2, 3), subtract(3, 2, "s4"))
    assert repeated_steps(steps) == (steps, [])


def fetch(graph: str, url: str, step_id: str, **more: Any) -> dict[str, Any]:
    return {"id": step_id, "graph": graph, "purpose": "p", "inputs": {"url": url, **more}}


def test_an_address_given_as_a_reference_is_the_address_that_step_fetched() -> None:
    """What the 1.5B model planned for "Summarize our onboarding page: http://...": read the
    page, then summarize the page's text as if it were an address."""
    address = "http://10.0.4.12/wiki/Onboarding"
    steps = plan(fetch("read_web_page", address, "s1"),
                 fetch("summarize_web_page", "{{ s1.text }}", "s2", focus="general information"))
    fixed, changes = fetched_addresses(steps)
    assert fixed.steps[1].inputs == {"url": address, "focus": "general information"}
    assert changes == [f"s2.url: {{{{ s1.text }}}} -> {address}"]


def search(query: str, step_id: str = "s1") -> dict[str, Any]:
    return {"id": step_id, "graph": "web_search", "purpose": "p", "inputs": {"query": query}}


def test_a_search_for_an_address_is_the_fetch_the_request_asks_for() -> None:
    address = "http://10.0.4.12/wiki/Onboarding"
    fixed, changes = searched_addresses(plan(search(f" {address} ")), {"summarize_web_page"})
    assert [(s.graph, s.inputs) for s in fixed.steps] == [
        ("summarize_web_page", {"url": address})]
    assert changes == [f"s1: web_search for {address} -> summarize_web_page"]


@pytest.mark.parametrize("asked", [set(), {"read_web_page", "summarize_web_page"}])
def test_a_search_for_an_address_stays_unless_one_fetch_is_asked_for(asked) -> None:
    steps = plan(search("http://10.0.4.12/wiki/Onboarding"))
    assert searched_addresses(steps, asked) == (steps, [])


def test_a_search_for_words_or_a_sentence_with_an_address_stays() -> None:
    steps = plan(search("onboarding guide"), search("see http://x.io/a", "s2"))
    assert searched_addresses(steps, {"read_web_page"}) == (steps, [])


def test_other_references_and_addresses_stay() -> None:
    steps = plan(
        {"id": "s1", "graph": "web_search", "purpose": "p", "inputs": {"query": "onboarding"}},
        fetch("read_web_page", "{{ s1.results }}", "s2"),     # s1 fetched no address
        fetch("summarize_web_page", "https://example.com/a", "s3"),
        {"id": "s4", "graph": "word_count", "purpose": "p", "inputs": {"text": "{{ s3.summary }}"}},
    )
    fixed, changes = fetched_addresses(steps)
    assert fixed == steps and changes == []


DIALOGUE = ('I need the word count and the character count for this line: "Don\'t panic," she '
            'said. "It\'s only a 3.5% dip."')
LINE = '"Don\'t panic," she said. "It\'s only a 3.5% dip."'


@pytest.mark.parametrize("request_text, text", [
    (DIALOGUE, LINE),
    ("Count the words of the following: 'Hi', she said, 'bye'.", "'Hi', she said, 'bye'."),
    ('How long is this SMS in characters: "Running 10 min late!"', None),  # one quoted text
    ("Which slogan is longer: 'Think different' or 'Just do it'?", None),  # no "this"
    ("How many words are in this sentence: The review moved to Thursday.", None),  # no quotes
])
def test_a_text_given_after_this_line_with_quotes_inside_is_one_text(request_text, text):
    assert given_text(request_text) == text


def count(text: str, step_id: str = "s1") -> dict[str, Any]:
    return {"id": step_id, "graph": "word_count", "purpose": "p", "inputs": {"text": text}}


def test_a_quoted_part_of_a_given_text_is_given_the_whole_text():
    """Both models counted "Don't panic," alone, also after the doubt named the whole line."""
    repaired, changes = whole_given_text(plan(count("Don't panic,"),
                                              count('"It\'s only a 3.5% dip."', "s2")), DIALOGUE)
    assert [s.inputs["text"] for s in repaired.steps] == [LINE, LINE]
    assert changes == ["s1.text", "s2.text"]


def test_a_plan_that_has_the_whole_given_text_or_other_texts_is_left_alone():
    whole = plan(count(LINE), count("Don't panic,", "s2"))
    assert whole_given_text(whole, DIALOGUE) == (whole, [])
    other = plan(count("she said"))
    assert whole_given_text(other, DIALOGUE) == (other, [])
    slogans = plan(count("Think different"))
    request = "Which slogan is longer: 'Think different' or 'Just do it'?"
    assert whole_given_text(slogans, request) == (slogans, [])


def ask(question: str, **more: Any) -> dict[str, Any]:
    return {"id": "s1", "graph": "answer_question", "purpose": "p",
            "inputs": {"question": question, **more}}


def test_a_question_that_refers_to_a_quoted_text_it_does_not_name_gets_the_request():
    """Asked "what does it mean?" alone, the 0.5B model's step answered about nothing."""
    request = "How many characters is the phrase 'carpe diem', and what does it mean?"
    repaired, changes = question_context(plan(ask("what does it mean?")), request)
    assert repaired.steps[0].inputs == {"question": "what does it mean?",
                                        "context": f"The Boss asked: {request}"}
    assert changes == ["s1"]


@pytest.mark.parametrize("step, request_text", [
    (ask("What does carpe diem mean?"), "What does 'carpe diem' mean, and how long is it?"),
    (ask("What language is spoken in Brazil?"), "Count the words of 'the quick brown fox'."),
    (ask("what does it mean?", context="a Latin phrase"), "What does 'carpe diem' mean?"),
    (ask("{{ s1.matches }} -- what is it?"), "Find the dates in 'due 2025-01-02'."),
    (ask("what does it mean?"), "What does carpe diem mean?"),  # nothing quoted
])
def test_a_question_that_names_its_subject_or_has_a_context_is_left_alone(step, request_text):
    questions = plan(step)
    assert question_context(questions, request_text) == (questions, [])
