"""Walking input values: the strings inside nested lists and objects."""

from __future__ import annotations

from actions.input_values import (
    holds_reference,
    map_strings,
    step_reference,
    step_references,
    strings_in,
)

VALUE = {"a": "x {{ s1.result }}", "b": [1, "y", {"c": "z", "d": None}], "e": True}


def test_strings_in_finds_every_string_in_order() -> None:
    assert strings_in(VALUE) == ["x {{ s1.result }}", "y", "z"]
    assert strings_in(3.5) == [] and strings_in("only") == ["only"]


def test_map_strings_changes_the_strings_and_keeps_the_rest() -> None:
    assert map_strings(VALUE, str.upper) == {
        "a": "X {{ S1.RESULT }}", "b": [1, "Y", {"c": "Z", "d": None}], "e": True}
    assert map_strings(7, str.upper) == 7


def test_a_reference_is_a_text_holding_an_earlier_steps_output() -> None:
    assert holds_reference("{{ s1.result }} and more") and not holds_reference("plain")
    assert not holds_reference(12)


def test_references_are_found_in_nested_values() -> None:
    assert step_references({"a": ["{{ s1.x }}", {"b": "{{s2.y}}"}], "n": 3}) == [
        ("s1", "x"), ("s2", "y")]


def test_a_written_reference_is_found_again() -> None:
    assert step_reference("s3", "replaced") == "{{ s3.replaced }}"
    assert step_references(step_reference("s3", "replaced")) == [("s3", "replaced")]
