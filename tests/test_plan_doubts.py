"""Doubts about valid plans: a calculation whose operand changes nothing, a quoted text of the
request that no step uses (the re-ask itself: tests/test_write_plan.py)."""

from __future__ import annotations

from typing import Any

import pytest

from actions.plan_doubts import (
    address_search_doubts,
    literal_extract_doubts,
    made_up_calculation_doubts,
    mentions_number,
    plan_doubts,
    quoted_spans,
    unused_number_doubts,
)
from company.payloads import Plan


def plan(*steps: tuple[str, dict[str, Any]]) -> Plan:
    return Plan.model_validate({"steps": [
        {"id": f"s{n}", "purpose": "p", "graph": graph, "inputs": inputs}
        for n, (graph, inputs) in enumerate(steps, 1)], "notes": ""})


def calc(a: Any, b: Any, operation: str) -> tuple[str, dict[str, Any]]:
    return "calculate", {"a": a, "b": b, "operation": operation}


@pytest.mark.parametrize("step, says", [
    (calc(365, 1, "Multiply"), "step s1 multiplies by 1, which changes nothing"),
    (calc(1, 365, "Multiply"), "step s1 multiplies by 1"),
    (calc(25, 1, "Power"), "step s1 raises to the power 1"),
    (calc(25, "1", "Divide"), "step s1 divides by 1"),
    (calc(25, 0.0, "Add"), "step s1 adds 0"),
    (calc(25, 0, "Subtract"), "step s1 subtracts 0"),
])
def test_a_neutral_operand_the_request_never_says_is_doubted(step, says) -> None:
    [doubt] = plan_doubts(plan(step), "How many hours are in 365 days?"
                          if 365 in step[1].values() else "Square 25.")
    assert doubt.startswith(says) and "no steps if no graph can do what is asked" in doubt


@pytest.mark.parametrize("step, request_text", [
    (calc(7, 1, "Multiply"), "What is 7 times 1?"),
    (calc(7, 1, "Power"), "Raise 7 to the power of one."),
    (calc(7, 0, "Add"), "Add zero to 7"),
    (calc(0, 7, "Subtract"), "Take 7 from 0"),  # a neutral a only counts where order does not
    (calc(1, 7, "Divide"), "Divide 1 by 7"),
    (calc(24, 365, "Multiply"), "How many hours are in 365 days?"),
    (calc("{{ s1.result }}", 2, "Power"), "square it"),
])
def test_a_calculation_that_does_something_or_was_asked_for_is_not(step, request_text) -> None:
    assert plan_doubts(plan(step), request_text) == []


def test_numbers_are_found_as_digits_or_words_not_inside_other_numbers() -> None:
    assert mentions_number("deploy at 1 pm", 1) and mentions_number("just one more", 1)
    assert not mentions_number("19.99 and 2010 and 1.5 days", 1)
    assert not mentions_number("Replace 'v1' with 'v2' in the Q1 notes", 1)  # names
    assert not mentions_number("someone once... no", 0)


def test_quoted_spans_skip_apostrophes() -> None:
    assert quoted_spans("Which is longer: 'Think different' or 'Just do it'?") == [
        "Think different", "Just do it"]
    line = 'the line: "Don\'t panic," she said. "It\'s only a 3.5% dip."'
    assert quoted_spans(line) == ["Don't panic,", "It's only a 3.5% dip."]
    assert quoted_spans("it's Bob's and Alice's car") == []
    assert quoted_spans("\u201csmart\u201d and \u2018quotes\u2019") == ["smart", "quotes"]


def test_a_quoted_text_no_step_uses_is_doubted() -> None:
    request = "Which slogan is longer in characters: 'Think different' or 'Just do it'?"
    one = plan(("word_count", {"text": "Think different"}))
    [doubt] = plan_doubts(one, request)
    assert doubt.startswith('the request quotes "Just do it", but no step uses it')
    both = plan(("word_count", {"text": "Think different"}), ("word_count", {"text": "Just do it"}))
    assert plan_doubts(both, request) == []
    inside = plan(("answer_question", {"question": "What does 'Just do it' or 'Think different' "
                                                   "sell?"}))
    assert plan_doubts(inside, request) == []


def test_no_steps_or_no_request_raise_no_doubt() -> None:
    assert plan_doubts(plan(), "Count 'these words' please") == []
    assert plan_doubts(plan(calc(3, 1, "Multiply")), "  ") == []


def test_a_percentage_multiplied_as_a_whole_number_is_doubted() -> None:
    [doubt] = plan_doubts(plan(calc(18, 67.4, "Multiply")), "What's 18% of 67.40?")
    assert doubt == ("step s1 multiplies by 18, but the request says 18%, which is 0.18 as a "
                     "factor")
    assert plan_doubts(plan(calc(249.99, 0.0825, "Multiply")), "Add 8.25 % tax to 249.99") == []
    divided = plan(calc(18, 67.4, "Multiply"), calc("{{ s1.result }}", 100, "Divide"))
    assert plan_doubts(divided, "What's 18% of 67.40?") == []
    assert plan_doubts(plan(calc(5, 3, "Multiply")), "5 percent of 3?") != []
    assert plan_doubts(plan(calc(18, 2, "Add")), "18% plus 2") == []  # only a product is doubted


def test_a_number_of_the_request_no_step_uses_is_doubted() -> None:
    request = ("We have a 12,000 budget and spent 4750.80 so far. What's left, spread over the 4 "
               "remaining months?")
    left_out = plan(calc(12000, 4750.8, "Subtract"))
    assert plan_doubts(left_out, request) == [
        "the request says 4, but no step uses it: add the step that needs it, or answer with no "
        "steps if no graph can do what is asked"]
    whole = plan(calc(12000, 4750.8, "Subtract"), calc("{{ s1.result }}", "4", "Divide"))
    assert plan_doubts(whole, request) == []
    [doubt] = unused_number_doubts(plan(calc(3, 1.5, "Add")), "Add 3, 7 and -2 to 1.5")
    assert doubt.startswith("the request says 7 and -2, but no step uses them")


def test_numbers_held_in_texts_percentages_and_unused_quotes_are_not_doubted_twice() -> None:
    assert unused_number_doubts(plan(("word_count", {"text": "deploy v2 at 9:30 on day 14"})),
                                "Count the words: deploy v2 at 9:30 on day 14") == []
    assert unused_number_doubts(plan(calc(0.18, 67.4, "Multiply")), "What's 18% of 67.40?") == []
    assert unused_number_doubts(plan(), "Schedule 30 minutes with Raj") == []
    request = "Which is longer: 'Just do it 2' or 'Think different'?"
    doubts = plan_doubts(plan(("word_count", {"text": "Think different"})), request)
    assert doubts == ['the request quotes "Just do it 2", but no step uses it: copy it into the '
                      'step that needs it']
    assert unused_number_doubts(plan(("answer_question", {"question": "Who is Q3's v2 lead?"})),
                                "Who leads Q3 v2?") == []


def test_a_calculation_with_no_number_from_the_request_or_a_step_is_doubted() -> None:
    assert plan_doubts(plan(calc(1, 1, "Add")), "Can you restart the staging server?") == [
        "step s1 calculates with 1 and 1, and the request says neither: use the request's "
        "numbers, or answer with no steps if no graph can do what is asked"]
    [doubt] = made_up_calculation_doubts(plan(calc(0.0, 100.5, "Add")), "Where does water boil?")
    assert doubt.startswith("step s1 calculates with 0 and 100.5, and the request says neither")


@pytest.mark.parametrize("step, request_text", [
    (calc(6, 7, "Multiply"), "What is six times seven?"),  # number words, as a transcript says
    (calc(0.18, 67.4, "Multiply"), "What's 18% of 67.40?"),  # a percentage as its fraction
    (calc(3.5, 60, "Multiply"), "How many minutes are in 3.5 hours?"),  # one operand suffices
    (calc("{{ s1.result }}", 12, "Divide"), "Split it by the year"),  # an earlier step's output
    (calc("2,500", 4, "Divide"), "Share 2,500 four ways"),
])
def test_a_calculation_with_a_number_from_the_request_or_a_step_is_not(step, request_text) -> None:
    assert made_up_calculation_doubts(plan(step), request_text) == []


def test_numbers_of_earlier_turns_may_be_calculated_with() -> None:
    again = plan(calc(42, 7, "Divide"))
    assert made_up_calculation_doubts(again, "And now divide that by seven") == []
    assert made_up_calculation_doubts(plan(calc(6, 7, "Multiply")), "Once more, please.",
                                      ["Boss: What is 6 times 7?", "Report: 42"]) == []
    assert plan_doubts(plan(calc(6, 7, "Multiply")), "Once more, please.") != []


def test_a_neutral_operand_doubt_names_what_the_step_is_for() -> None:
    square = plan(calc(19.99, 5.01, "Add"), calc("{{ s1.result }}", 1, "Multiply"))
    square.steps[1].purpose = "square the sum"
    [doubt] = plan_doubts(square, "Add 19.99 and 5.01, then square it.")
    assert doubt == ("step s2 multiplies by 1, which changes nothing, and the request never says "
                     "1: give it the number (or earlier step's output) that does what it is for "
                     "(square the sum), or answer with no steps if no graph can do what is asked")


def test_a_web_search_for_a_web_address_is_doubted_where_a_fetch_graph_is_offered() -> None:
    address = "http://10.0.4.12/wiki/Onboarding"
    assert address_search_doubts(plan(("web_search", {"query": f" {address} "}))) == [
        f"step s1 searches the web for the address {address}: a page is read or summarised "
        "from its address, not searched for"]
    assert address_search_doubts(plan(("web_search", {"query": f"onboarding {address}"}))) == []
    assert address_search_doubts(plan(("read_web_page", {"url": address}))) == []
    searched = plan(("web_search", {"query": address}))
    assert plan_doubts(searched, f"Summarize {address}") != []
    assert plan_doubts(searched, f"Summarize {address}", fetches=False) == []  # none offered


DIALOGUE = ('I need the word count and the character count for this line: "Don\'t panic," she '
            'said. "It\'s only a 3.5% dip."')
LINE = '"Don\'t panic," she said. "It\'s only a 3.5% dip."'


def test_the_quoted_parts_of_a_given_text_counted_apart_are_doubted_as_the_whole_text():
    parts = plan(("word_count", {"text": "Don't panic,"}),
                 ("word_count", {"text": "It's only a 3.5% dip."}))
    [doubt] = plan_doubts(parts, DIALOGUE)
    assert doubt.startswith(f"no step uses the whole text the request gives after its colon: "
                            f"{LINE} -- copy all of it")
    assert plan_doubts(plan(("word_count", {"text": LINE})), DIALOGUE) == []


POLICY = "New employees accrue 1.5 vacation days per month, up to 18 days per year."


@pytest.mark.parametrize("pattern", ["1.5 vacation days per month", "vacation"])
def test_extracting_a_text_the_step_already_holds_word_for_word_is_doubted(pattern):
    [doubt] = literal_extract_doubts(plan(("extract_text", {"text": POLICY, "pattern": pattern})))
    assert doubt.startswith(f"step s1 extracts {pattern!r} from a text that holds it word for "
                            "word")
    assert "use answer_question with the text as its context" in doubt


@pytest.mark.parametrize("pattern", [
    r"\d+(?:\.\d+)? vacation days",  # finds what it was not given
    r"(\d+) days",  # a group: its matches are the numbers
    "ten days",  # found nowhere: another problem
    "[",  # not a pattern at all
])
def test_an_extraction_that_finds_something_new_or_nothing_is_not_doubted(pattern):
    assert literal_extract_doubts(plan(("extract_text", {"text": POLICY, "pattern": pattern}))
                                  ) == []
