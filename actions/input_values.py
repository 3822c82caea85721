"""Walking a plan step's input values: the strings inside nested lists and objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

REFERENCE_MARK = "{{"
"""How an input that holds an earlier step's output (``{{ s1.result }}``) begins."""
STEP_REF = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")
"""An input that refers to an earlier step's output: ``{{ s1.result }}``."""


def holds_reference(value: Any) -> bool:
    """True when an input value is a text that refers to an earlier step's output."""
    return isinstance(value, str) and REFERENCE_MARK in value


def strings_in(value: Any) -> list[str]:
    """Every string in an input value, in order (nested lists and objects included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def map_strings(value: Any, change: Callable[[str], Any]) -> Any:
    """The value with every string in it (nested lists and objects included) replaced by
    ``change(string)``; anything else is kept."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [map_strings(item, change) for item in value]
    return value


def step_reference(step_id: str, output: str) -> str:
    """The input text that refers to an earlier step's output: ``{{ s1.result }}``."""
    return "{{ " + f"{step_id}.{output}" + " }}"


def step_references(value: Any) -> list[tuple[str, str]]:
    """The ``(step id, output)`` pairs an input value refers to, in order (nested lists and
    objects included)."""
    return [ref for text in strings_in(value) for ref in STEP_REF.findall(text)]
