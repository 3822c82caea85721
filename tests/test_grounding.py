"""company.grounding's number reading (its text matching is tested with the notebook)."""

from __future__ import annotations

from company.grounding import as_number


def test_numbers_and_numeric_text_read_as_numbers_and_nothing_else() -> None:
    assert as_number(42) == 42.0 and as_number(" 12.5 ") == 12.5 and as_number("-3") == -3.0
    assert as_number(True) is None and as_number("twelve") is None and as_number(None) is None
    assert as_number([1]) is None
