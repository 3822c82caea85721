"""Word error rate: normalisation and edit distance."""

from __future__ import annotations

import pytest

from company.speech.wer import edit_distance, normalize_words, word_error_rate

pytestmark = pytest.mark.speech


def test_normalisation_turns_number_words_into_digits_and_drops_punctuation() -> None:
    assert normalize_words("What is six times seven?") == normalize_words("what is 6 times 7")
    assert normalize_words("Hello, World!") == ["hello", "world"]


@pytest.mark.parametrize(
    ("reference", "hypothesis", "distance"),
    [
        ("a b c", "a b c", 0),
        ("a b c", "a x c", 1),  # substitution
        ("a b c", "a c", 1),  # deletion
        ("a b c", "a b c d", 1),  # insertion
        ("", "a b", 2),
        ("a b", "", 2),
        ("kitten sat on the mat", "sitting cat sat on mat", 3),
    ],
)
def test_edit_distance(reference: str, hypothesis: str, distance: int) -> None:
    assert edit_distance(reference.split(), hypothesis.split()) == distance


def test_word_error_rate() -> None:
    assert word_error_rate("Turn off the lights.", "turn off the lights") == 0.0
    assert word_error_rate("the cat sat down", "the cat sad down") == 0.25
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "noise") == 1.0
