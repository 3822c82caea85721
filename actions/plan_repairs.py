"""Plan repairs the code makes itself, where the request or the plan already decides the answer:
the order of a subtraction the request words as "A from B", and a web address a step was given
as a reference to another step's output."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from actions.input_values import STEP_REF
from company.payloads import Plan

SUBTRACT = "Subtract"
TAKEN_FROM = re.compile(
    r"(?<![\w.])(?P<taken>-?\d[\d,]*(?:\.\d+)?)\s+(?:away\s+)?from\s+"
    r"(?P<whole>-?\d[\d,]*(?:\.\d+)?)(?![\w]|\.\d)", re.IGNORECASE)
""""45 from 30", "45 away from 30": 30 − 45 (the number after "from" is what is taken from)."""

ADDRESS_INPUT = "url"
"""The input name of a graph that fetches a web page (AutoGPT's blocks say ``url``)."""
WEB_ADDRESS = re.compile(r"https?://\S+", re.IGNORECASE)
"""A web address, written whole."""


def subtraction_order(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with each subtraction the request words as "A from B" computed as B − A, and
    what was changed. Small models write the operands in the order they read them: "Take 45
    away from 30" planned as 45 − 30."""
    said = [(_decimal(m["taken"]), _decimal(m["whole"])) for m in TAKEN_FROM.finditer(request)]
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        a, b = step.inputs.get("a"), step.inputs.get("b")
        if step.inputs.get("operation") == SUBTRACT and (_decimal(a), _decimal(b)) in said and (
                _decimal(a) != _decimal(b)):
            changes.append(f"{step.id}: {a} − {b} -> {b} − {a} (the request says {a} from {b})")
            step = step.model_copy(update={"inputs": {**step.inputs, "a": b, "b": a}})
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


def fetched_addresses(plan: Plan) -> tuple[Plan, list[str]]:
    """The plan with each web-address input that refers to an earlier step's output given the
    address that step fetched, and what was changed. No graph outputs an address: the 1.5B
    model read a page and then summarized ``{{ s1.text }}``, the page's text, as its address."""
    fetched: dict[str, str] = {}
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        value = step.inputs.get(ADDRESS_INPUT)
        whole = STEP_REF.fullmatch(value.strip()) if isinstance(value, str) else None
        if whole and whole.group(1) in fetched:
            address = fetched[whole.group(1)]
            changes.append(f"{step.id}.{ADDRESS_INPUT}: {value.strip()} -> {address}")
            step = step.model_copy(update={"inputs": {**step.inputs, ADDRESS_INPUT: address}})
        address = step.inputs.get(ADDRESS_INPUT)
        if isinstance(address, str) and WEB_ADDRESS.fullmatch(address.strip()):
            fetched[step.id] = address.strip()
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


def _decimal(value: Any) -> Decimal | None:
    """A number input or a number as written in the request (thousands commas allowed);
    None for anything else (a reference, a text, a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value).replace(",", "")).normalize()
    except InvalidOperation:
        return None
