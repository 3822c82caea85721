"""User regexes: `re` syntax, a size check before compiling, and a real timeout (M1)."""

from __future__ import annotations

import re
import time

import pytest

from company.graphs import safe_regex
from company.graphs.errors import LimitError


def test_patterns_follow_re_syntax_and_flags() -> None:
    pattern = safe_regex.compile_pattern(r"hello, (\w+)", re.IGNORECASE)
    match = safe_regex.search(pattern, "HELLO, World", time.monotonic() + 5)
    assert match is not None and match.group(1) == "World"
    found = safe_regex.finditer(safe_regex.compile_pattern(r"\d+"), "a1 b22", time.monotonic() + 5)
    assert [m.group(0) for m in found] == ["1", "22"]
    with pytest.raises(ValueError, match="invalid regular expression"):
        safe_regex.compile_pattern(r"\p{L}")  # `regex`-only syntax is refused: re does not know it
    with pytest.raises(ValueError, match="invalid regular expression: missing \\)"):
        safe_regex.compile_pattern("(")


@pytest.mark.parametrize("pattern", ["a{1000000}", "(?:ab){100000}", "(?:a{1000}){1000}",
                                     "(a|b){1000000}", "x{100000,}"])
def test_huge_fixed_repeats_are_refused_before_compiling(pattern: str) -> None:
    begin = time.monotonic()
    with pytest.raises(LimitError, match="max_regex_size"):
        safe_regex.compile_pattern(pattern)
    assert time.monotonic() - begin < 0.5


def test_open_ranges_and_small_repeats_are_fine() -> None:
    for pattern in [r"\d{4}-\d{2}-\d{2}", "a{1,1000000}", "(?:ab){2000}", r"\w{1,64}@\w+"]:
        safe_regex.compile_pattern(pattern)


def test_catastrophic_backtracking_stops_at_the_deadline() -> None:
    pattern = safe_regex.compile_pattern(r"(a|aa)+$")
    begin = time.monotonic()
    with pytest.raises(safe_regex.RegexTimeoutError):
        safe_regex.search(pattern, "a" * 40 + "!", time.monotonic() + 0.3)
    assert time.monotonic() - begin < 3  # the engine's clock is CPU time: slack for load
    with pytest.raises(TimeoutError):
        list(safe_regex.finditer(pattern, ("a" * 30 + "!") * 5, time.monotonic() + 0.3))
    with pytest.raises(TimeoutError):
        safe_regex.search(pattern, "aaa", time.monotonic() - 1)  # deadline already passed
