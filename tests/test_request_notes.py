"""The facts the code adds to the Planner's prompt (actions/request_notes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.request_notes import (
    action_doubts,
    asked_graphs,
    cue_positions,
    implied_operands,
    load_facts,
    math_word_facts,
    missing_graph_doubts,
    missing_graphs,
    other_asks,
    request_notes,
    unit_facts,
    unsupported_actions,
)
from company.graphs.catalogue import Catalogue
from company.payloads import Plan

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue.load(ROOT / "config" / "graphs")
DESCRIBED = CATALOGUE.describe()
CAN_BOOK = DESCRIBED + "\n- book_travel(trip: string) -> booking: Books a flight or a train."


def converts(larger: str, smaller: str, factor: str) -> str:
    return (f"To turn {larger} into {smaller}, multiply by {factor} (to turn {smaller} into "
            f"{larger}, divide by {factor}).")


@pytest.mark.parametrize(("request_text", "expected"), [
    ("How many hours are there in 365 days?", [converts("days", "hours", "24")]),
    ("and how many minutes are in 3.5 hours?", [converts("hours", "minutes", "60")]),
    ("How many seconds in a week?", [converts("weeks", "seconds", "604800")]),
    ("Convert 5 km to miles", [converts("miles", "kilometres", "1.609344")]),
    ("What's 12 inches in feet?", [converts("feet", "inches", "12")]),
])
def test_two_units_of_one_kind_get_how_they_convert(request_text, expected):
    assert unit_facts(request_text) == expected


@pytest.mark.parametrize("request_text", [
    "At 40 hours a week for 52 weeks, how many working hours is that?",
    "Driving at 90 km/h for 30 km, how long does it take?",
    "It costs 3 per hour",
    "How many words in 'three days and two hours'?",  # quoted text is given, not asked
    "e.g. what is 5 plus 2",  # "g" counts only after a number
])
def test_a_rate_a_quote_or_one_unit_gets_no_conversion(request_text):
    assert unit_facts(request_text) == []


def test_a_rate_leaves_out_only_its_own_pair():
    found = unit_facts("At 60 minutes per hour, how many minutes are in 2 days?")
    assert found == [converts("days", "minutes", "1440"), converts("days", "hours", "24")]


@pytest.mark.parametrize(("request_text", "word"), [
    ("Add 19.99 and 5.01, then square the result.", "square a number"),
    ("What is 7 squared?", "square a number"),
    ("Cube 4 for me", "cube a number"),
    ("Double the 250 we had, please", "double a number"),
    ("What's the square root of 81?", "square root of a number"),
])
def test_an_operation_word_gets_what_it_means(request_text, word):
    [note] = math_word_facts(request_text)
    assert word in note


@pytest.mark.parametrize("request_text", [
    "The room is 20 square metres; what is 20 times 3?",
    "Count the words in 'double trouble'",
    "What is 6 times 7?",
])
def test_a_unit_a_quote_or_no_such_word_gets_no_operation_note(request_text):
    assert math_word_facts(request_text) == []


@pytest.mark.parametrize(("request_text", "verb"), [
    ("Book me a flight to Berlin for next Tuesday.", "book"),
    ("Can you restart the staging database server? It hangs.", "restart"),
    ("Please order twenty whiteboard markers.", "order"),
    ("Schedule a 30 minute meeting with Raj.", "schedule"),
    ("Count the words of 'ship it', then email the count to Ana.", "email"),
    ("Could you please shut down the test VM?", "shut down"),
])
def test_a_world_action_no_graph_does_is_named(request_text, verb):
    assert unsupported_actions(request_text, DESCRIBED) == [verb]
    [note] = request_notes(request_text, DESCRIBED)
    assert note.startswith(f"No graph can {verb} anything")


@pytest.mark.parametrize("request_text", [
    "Sort these names in alphabetical order: Ana, Bo",  # not an imperative "order"
    "Which slogan is longer in characters: 'Book now' or 'Restart'?",  # quoted
    "How many vacation days does a new hire get?",
    "Who wrote the book Pride and Prejudice?",
    "Delete every '#' from this: #launch #Q3",  # a text edit, not an action in the world
])
def test_a_verb_that_is_not_asked_names_no_action(request_text):
    assert unsupported_actions(request_text, DESCRIBED) == []


def test_an_action_a_graph_does_is_not_named():
    assert unsupported_actions("Book me a train to Lyon", CAN_BOOK) == []
    # "in dictionary order" (compare_values) describes no ordering a graph does
    assert "dictionary order" in DESCRIBED
    assert unsupported_actions("Order 20 markers", DESCRIBED) == ["order"]
    mailer = DESCRIBED + "\n- send_email(to: string, body: string) -> sent: Sends a message."
    assert unsupported_actions("Email Ana the notes", mailer) == []


def test_most_requests_get_no_notes():
    for request_text in ("What's 17 times 23?", "Split this list at the commas: a, b",
                         "How many words are in 'Ship the release notes before Friday'?", ""):
        assert request_notes(request_text, DESCRIBED) == []


def test_a_plan_with_steps_for_an_action_no_graph_does_is_doubted():
    steps = Plan.model_validate({"steps": [
        {"id": "s1", "purpose": "date", "graph": "current_date_time", "inputs": {}}]})
    [doubt] = action_doubts(steps, "Book me a flight to Berlin.", DESCRIBED)
    assert doubt.startswith("the request asks to book, which no graph can do")
    assert action_doubts(Plan(steps=[], notes="No graph books flights."),
                         "Book me a flight to Berlin.", DESCRIBED) == []
    assert action_doubts(steps, "Book me a flight to Berlin.", CAN_BOOK) == []


def test_the_shipped_facts_load():
    facts = load_facts()
    assert {"time", "length", "mass"} <= set(facts.units)
    assert "{verb}" in facts.actions.note and "{verb}" in facts.actions.doubt


@pytest.mark.parametrize(("request_text", "asked"), [
    ("Which slogan is longer in characters: 'Think different' or 'Just do it'?",
     {"word_count": "longer in characters"}),
    ("Is my email subject under 60 characters? 'Reminder: budget due'",
     {"word_count": "under 60 characters"}),
    ("Take 'the cat sat', swap cat for dog, and tell me how many characters it has.",
     {"word_count": "how many characters", "replace_text": "swap"}),
    ("In 'Dear {name}', put Priya in place of {name}.", {"replace_text": "in place of"}),
    ("Break 'north|south' apart at the pipes.", {"split_text": "break apart"}),
    ("How long is 'carpe diem' in characters, and what does it mean?",
     {"word_count": "how long is in characters", "answer_question": "what does it mean"}),
])
def test_what_a_request_asks_for_in_words_names_its_graph(request_text, asked):
    assert asked_graphs(request_text, CATALOGUE.names()) == asked


@pytest.mark.parametrize("request_text", [
    "Split a 1350 dinner bill between 6 people, how much each?",
    "What's 17 times 23?",
    "Who wrote 'Pride and Prejudice'?",
    "What's the capital of Japan?",
    "Count to three: 'what does it mean'",  # the quoted words are given, not asked
])
def test_a_request_that_asks_no_such_thing_names_no_graph(request_text):
    assert asked_graphs(request_text, CATALOGUE.names()) == {}


def test_where_a_request_asks_for_each_graph_orders_what_it_asks():
    request_text = "Take 'the cat sat', swap cat for dog, and tell me how many characters it has."
    at = cue_positions(request_text, CATALOGUE.names())
    assert set(at) == {"replace_text", "word_count"}
    assert at["replace_text"] < at["word_count"]
    assert cue_positions(request_text, ["calculate"]) == {}


def test_a_plan_without_the_asked_graph_is_doubted():
    compare = Plan.model_validate({"steps": [
        {"id": "s1", "purpose": "longer", "graph": "compare_values",
         "inputs": {"a": "Think different", "b": "Just do it", "operator": ">"}}]})
    request = "Which slogan is longer in characters: 'Think different' or 'Just do it'?"
    assert missing_graphs(compare, request, CATALOGUE.names()) == {
        "word_count": "longer in characters"}
    [doubt] = missing_graph_doubts(compare, request, CATALOGUE.names())
    assert doubt == ('the request asks "longer in characters", and no step runs word_count: '
                     "add the word_count step that does it")
    counted = Plan.model_validate({"steps": [
        {"id": f"s{n}", "purpose": "count", "graph": "word_count", "inputs": {"text": text}}
        for n, text in enumerate(["Think different", "Just do it"], 1)]})
    assert missing_graph_doubts(counted, request, CATALOGUE.names()) == []
    # a catalogue without the graph asks nothing of it
    assert missing_graph_doubts(compare, request, ["compare_values", "calculate"]) == []


def test_a_unit_word_counts_anywhere_a_symbol_only_after_a_number():
    assert unit_facts("How many seconds are in a day?") == [converts("days", "seconds", "86400")]
    assert unit_facts("How many min in 2 hours?") == []  # "min" not after a number
    assert unit_facts("Is 90 min more than 1.5 hours?") == [converts("hours", "minutes", "60")]


def calculations(*inputs: dict) -> Plan:
    return Plan.model_validate({"steps": [
        {"id": f"s{n}", "purpose": "p", "graph": "calculate", "inputs": given}
        for n, given in enumerate(inputs, 1)]})


@pytest.mark.parametrize(("request_text", "given", "implied"), [
    ("How many hours are there in 365 days?", {"a": 365, "b": 1, "operation": "Multiply"},
     {"a": 365, "b": 24, "operation": "Multiply"}),
    ("How many days are 96 hours?", {"a": 96, "b": 1, "operation": "Divide"},
     {"a": 96, "b": 24, "operation": "Divide"}),
    ("Add 19.99 and 5.01, then square the result.",
     {"a": 1, "b": "{{ s0.result }}", "operation": "Multiply"},
     {"a": "{{ s0.result }}", "b": 2, "operation": "Power"}),
    ("Double 250.", {"a": 250, "b": 0, "operation": "Add"}, {"a": 250, "b": 2,
                                                            "operation": "Multiply"}),
    ("What's the square root of 81?", {"a": 81, "b": 1, "operation": "Power"},
     {"a": 81, "b": 0.5, "operation": "Power"}),
])
def test_a_calculation_that_changes_nothing_gets_the_number_the_request_implies(
        request_text, given, implied):
    plan, changes = implied_operands(calculations(given), request_text)
    assert plan.steps[0].inputs == implied
    assert changes == [f"s1: {implied['operation']} {implied['b']:g}"]


@pytest.mark.parametrize(("request_text", "given"), [
    ("What is 7 times 1?", {"a": 7, "b": 1, "operation": "Multiply"}),  # 1 is asked for
    ("How many hours are there in 365 days?", {"a": 365, "b": 24, "operation": "Multiply"}),
    ("How many hours are there in 365 days?", {"a": 365, "b": 0, "operation": "Add"}),
    ("How many seconds and minutes in 2 hours?", {"a": 2, "b": 1, "operation": "Multiply"}),
    ("Square 5 and double 6.", {"a": 5, "b": 1, "operation": "Multiply"}),  # which word?
    ("Restart the server", {"a": 1, "b": 1, "operation": "Multiply"}),
])
def test_what_the_request_does_not_decide_is_left_to_the_doubt(request_text, given):
    assert implied_operands(calculations(given), request_text) == (calculations(given), [])


MIXED = "Can you restart the staging server? Also, how many minutes are in 2.5 hours?"


@pytest.mark.parametrize(("request_text", "others"), [
    (MIXED, ["Also, how many minutes are in 2.5 hours?"]),
    ("Please order 20 markers. How many words are in 'blue pens'?",
     ["How many words are in 'blue pens'?"]),
    ("Book me a flight to Berlin at 9.30 tomorrow.", []),  # the number is the action's
    ("Can you restart the staging server? It's been hanging since lunch.", []),
    ("How many minutes are in 2.5 hours?", []),  # no action no graph can do
])
def test_what_else_a_request_with_a_world_action_asks(request_text, others):
    assert other_asks(request_text, DESCRIBED, CATALOGUE.names()) == others


def test_a_mixed_request_doubts_no_steps_and_not_the_steps_for_its_other_part():
    minutes = calculations({"a": 2.5, "b": 60, "operation": "Multiply"})
    assert action_doubts(minutes, MIXED, DESCRIBED, CATALOGUE.names()) == []
    [doubt] = action_doubts(Plan(steps=[], notes="No graph can restart anything."), MIXED,
                            DESCRIBED, CATALOGUE.names())
    assert doubt.startswith('the request also asks "Also, how many minutes are in 2.5 hours?", '
                            "which a graph can do: plan the steps for it")
