"""The report's narrative checks: empty, an echoed prompt, a number in the opening that no
step produced (decimals, separators, rounding, percentages, signs, number words)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actions.report_checks import (
    Finding,
    KnownNumbers,
    check_narrative,
    copied_example,
    echoes,
    left_out,
    listed,
    number_words,
    numbers_in,
    opening,
)

INSTRUCTIONS = (
    "## Task: SummarizeResults\nThe Boss asked:\n\nStep results:\n- (none)\n\nWrite the Boss a "
    "short report in Markdown. Start with the answer in one or two sentences, with numbers and "
    "text copied exactly from the step outputs."
)


def known(*values: object) -> KnownNumbers:
    numbers = KnownNumbers()
    numbers.add_values(values)
    return numbers


@pytest.mark.parametrize("answer", [
    "## Task: SummarizeResults\nThe answer is 42.",
    "  # task: summarize",
    "Write the Boss a short report in Markdown. Start with the answer in one or two sentences",
    "Start with the answer in one or two. Copied exactly from the step outputs. The Boss asked",
    "**Step results:**\n- s1 calculate 42",  # the prompt's own section label, as a line
])
def test_echoes_are_caught(answer):
    assert echoes(answer, INSTRUCTIONS)


@pytest.mark.parametrize("answer", [
    "6 × 7 = 42. The multiplication ran, nothing failed.",
    "In one or two sentences: the answer is 42.",  # a short shared phrase is no echo
    "6 × 7 = 42.",
    "Step results: 42 came out.",  # a label inside a sentence is no echo
])
def test_answers_are_not_echoes(answer):
    assert not echoes(answer, INSTRUCTIONS)


def test_the_request_is_not_part_of_the_instructions():
    request = "Count the words of 'the report to finance is due on Friday at noon sharp'"
    answer = "The text 'the report to finance is due on Friday at noon sharp' has 11 words."
    assert not echoes(answer, INSTRUCTIONS)  # the instructions are rendered without the data
    assert echoes(answer, INSTRUCTIONS + "\n" + request)


def test_numbers_as_written():
    found = numbers_in("Total: 1,249.50, a 3.5% dip, −7.5 and -15; Q3 v2 10th A-1042 at 9:30.")
    assert [(n.text, n.value, n.decimals, n.signed, n.percent) for n in found] == [
        ("1,249.50", Decimal("1249.50"), 2, False, False),
        ("3.5%", Decimal("3.5"), 1, False, True),
        ("−7.5", Decimal("-7.5"), 1, True, False),
        ("-15", Decimal("-15"), 0, True, False),
        ("1042", Decimal("1042"), 0, False, False),
        ("9", Decimal("9"), 0, False, False),
        ("30", Decimal("30"), 0, False, False),
    ]


@pytest.mark.parametrize(("written", "ok"), [
    ("42", True), ("42.0", True), ("42.00", True), ("43", False), ("-42", False),
    ("12.13", True), ("12.1", True), ("12", True), ("13", False),  # 12.132 rounded or cut
    ("1.62", True), ("1.63", True), ("2", False),  # 1.6288946268 cut or rounded
    ("1,249.5", True), ("1249.50", True), ("15", True), ("-15", True), ("-16", False),
    ("12.5%", True), ("50%", True), ("75%", False), ("0.5", True),
])
def test_a_written_number_matches_a_known_one(written, ok):
    numbers = known([42.0], {"r": [12.132, 1.6288946268]}, "Total USD 1,249.50", -15, 0.125,
                    "half: 50 percent is 0.5")
    [number] = numbers_in(written)
    assert numbers.knows(number) is ok


def test_a_percentage_in_the_request_is_known_as_its_hundredth_too():
    numbers = KnownNumbers()
    numbers.add_text("What's 18% of 67.40?")
    assert numbers.knows(numbers_in("0.18")[0]) and numbers.knows(numbers_in("67.4")[0])


def test_a_list_of_texts_makes_its_length_known():
    numbers = known({"parts": [["red", "green", "blue", "dark orange"]]})
    assert numbers.unknown(numbers_in("The list has 4 parts, not 5.")) == ["5"]


def test_number_words_in_a_voice_note():
    assert 420 in number_words("Subtract four hundred and twenty from one thousand.")
    assert {6, 7} <= set(number_words("What is six times seven?"))
    assert 25 in number_words("twenty-five") and 3200 in number_words("three thousand two hundred")
    assert number_words("seven twenty") == [7, 20, 7, 20]
    numbers = KnownNumbers()
    numbers.add_text("Voice note (transcribed): What is six times seven?")
    assert numbers.unknown(numbers_in("6 × 7 = 42")) == ["42"]


def test_the_opening_is_the_first_two_sentences_without_headings_or_tables():
    text = ("# Report\n\n> ⚠ Unchecked: x 9.\n\n- 6 × 7 = 42. Then more!\nThird 99.\n"
            "| s1 | 43 |")
    assert opening(text) == "6 × 7 = 42. Then more!"
    assert opening("1. The first item is 5.") == "The first item is 5."


def test_check_narrative_names_every_unknown_number_once():
    problem = check_narrative("It is 43, or 44, or 43 again.", INSTRUCTIONS, known(42))
    assert problem is not None and problem.kind == "number"
    assert problem.message == "the answer names 43 and 44, which no step produced"
    assert problem.status_line == (
        "> ⚠ Unchecked: the answer names 43 and 44, which no step produced.")
    assert check_narrative("It is 42.", INSTRUCTIONS, known(42.0)) is None
    assert check_narrative(" \n", INSTRUCTIONS, known()).kind == "empty"


COUNTED = Finding.of("s1 (word_count)", {"word_count": [9], "character_count": [58]})
PRODUCT = Finding.of("s2 (calculate)", {"result": [144.0]})


@pytest.mark.parametrize("answer, missing", [
    ("The sentence has 9 words, and 12 × 12 is 144.", []),
    ("It has 58 characters; the product is 144.0.", []),   # one of a step's numbers will do
    ("It has nine words. Later on: 144.", []),              # number words, anywhere
    ("The sentence has 9 words.", ["s2 (calculate)"]),
    ("Done: both steps ran.", ["s1 (word_count)", "s2 (calculate)"]),
])
def test_a_result_no_number_of_which_is_written_is_left_out(answer, missing) -> None:
    assert [f.label for f in left_out(answer, [COUNTED, PRODUCT])] == missing


def test_a_left_out_result_is_a_problem_after_the_other_checks() -> None:
    assert Finding.of("s1 (compare_values)", {"result": [True], "text": ["yes"]}) is None
    problem = check_narrative("The sentence has 9 words.", INSTRUCTIONS, known(9, 58, 144),
                              findings=[COUNTED, PRODUCT])
    assert problem is not None and problem.kind == "left_out"
    assert problem.message == "the answer leaves out results (s2 (calculate) gave 144.0)"
    assert "Give every result" in problem.reask
    unknown = check_narrative("It has 10 words.", INSTRUCTIONS, known(9), findings=[COUNTED])
    assert unknown is not None and unknown.kind == "number"


EXAMPLE = ("For example, if the Boss asked for the words in 'good morning team' and a step gave "
           '{"word_count": [3]}, the report opens: The phrase \'good morning team\' has 3 words.')


def test_a_copy_of_the_prompts_example_is_an_echo_unless_the_data_holds_it() -> None:
    copy = "The phrase 'Good morning, team' has 3 words."
    assert copied_example(copy, EXAMPLE, '["Count the words of \'see you soon\'"]') == (
        "good morning team")
    problem = check_narrative(copy, EXAMPLE, known(3), data="Count 'see you soon'")
    assert problem is not None and problem.kind == "echo"
    assert problem.message == "the answer repeats the prompt's example"
    assert copied_example(copy, EXAMPLE, "How many words in 'good morning team'?") is None
    assert copied_example("The word_count step gave 3.", EXAMPLE, "") is None  # one word
    assert check_narrative("The phrase has 3 words.", EXAMPLE, known(3), data="") is None


def test_a_worked_examples_telltale_is_a_copy_unless_the_data_holds_it() -> None:
    copy = "The page could not be fetched (connection refused)."
    assert copied_example(copy, INSTRUCTIONS, "no host", ["connection refused"]) == (
        "connection refused")
    problem = check_narrative(copy, INSTRUCTIONS, known(), "no host", ["connection refused"])
    assert problem is not None and problem.message == "the answer repeats the prompt's example"
    assert copied_example(copy, INSTRUCTIONS, "error: connection refused",
                          ["connection refused"]) is None
    assert check_narrative(copy, INSTRUCTIONS, known(), "no host") is None  # no example shown


def test_listed_reads_as_a_sentence() -> None:
    assert [listed(["4"]), listed(["4", "9"]), listed(["4", "9", "12"])] == [
        "4", "4 and 9", "4, 9 and 12"]
