"""Maths and branching blocks."""

from __future__ import annotations

import math
import operator
from enum import Enum
from typing import Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.convert import convert


class Operation(Enum):
    """CalculatorBlock operations (graphs store the value)."""

    ADD = "Add"
    SUBTRACT = "Subtract"
    MULTIPLY = "Multiply"
    DIVIDE = "Divide"
    POWER = "Power"


_OPERATIONS = {
    Operation.ADD: operator.add,
    Operation.SUBTRACT: operator.sub,
    Operation.MULTIPLY: operator.mul,
    Operation.DIVIDE: operator.truediv,
    Operation.POWER: operator.pow,
}


class CalculatorBlock(Block):
    """Applies an arithmetic operation to `a` and `b`."""

    id = "b1ab9b19-67a6-406d-abf5-2dba76d00c79"

    class Input(BlockSchema):
        """Input pins."""

        operation: Operation
        a: float
        b: float
        round_result: bool = False

    class Output(BlockSchema):
        """Output pins."""

        result: float

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the result; dividing by zero gives infinity, other failures NaN (as AutoGPT)."""
        op = input_data.operation
        a, b = input_data.a, input_data.b
        if op is Operation.DIVIDE and b == 0:
            yield "result", math.inf
            return
        try:
            result = _OPERATIONS[op](a, b)
            if isinstance(result, complex):
                raise ValueError("complex result")
            yield "result", round(result) if input_data.round_result else result
        except (OverflowError, ValueError, ZeroDivisionError):
            yield "result", math.nan


class CountItemsBlock(Block):
    """Counts the items of a list, dict, string or other collection."""

    id = "3c9c2f42-b0c3-435f-ba35-05f7a25c772a"

    class Input(BlockSchema):
        """Input pins."""

        collection: Any

    class Output(BlockSchema):
        """Output pins."""

        count: int

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the count, or -1 for a value that is not a collection (as AutoGPT)."""
        collection = input_data.collection
        if isinstance(collection, (str, list, tuple, set, dict)):
            yield "count", len(collection)
        else:
            yield "count", -1


class ComparisonOperator(Enum):
    """ConditionBlock operators (graphs store the value)."""

    EQUAL = "=="
    NOT_EQUAL = "!="
    GREATER_THAN = ">"
    LESS_THAN = "<"
    GREATER_THAN_OR_EQUAL = ">="
    LESS_THAN_OR_EQUAL = "<="


_COMPARISONS = {
    ComparisonOperator.EQUAL: operator.eq,
    ComparisonOperator.NOT_EQUAL: operator.ne,
    ComparisonOperator.GREATER_THAN: operator.gt,
    ComparisonOperator.LESS_THAN: operator.lt,
    ComparisonOperator.GREATER_THAN_OR_EQUAL: operator.ge,
    ComparisonOperator.LESS_THAN_OR_EQUAL: operator.le,
}


def _normalise(value: Any) -> Any:
    """Strip strings and turn numeric strings into numbers; empty strings become None."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if value == "":
        return None
    try:
        return float(value) if ("." in value or "e" in value.lower()) else int(value)
    except ValueError:
        return value


def _comparable(v1: Any, v2: Any) -> tuple[Any, Any]:
    if v1 is None and v2 is None:
        return 0, 0
    if v1 is None:
        return (0 if isinstance(v2, (int, float)) else ""), v2
    if v2 is None:
        return v1, (0 if isinstance(v1, (int, float)) else "")
    if isinstance(v1, (int, float)) and isinstance(v2, str):
        return str(v1), v2
    if isinstance(v2, (int, float)) and isinstance(v1, str):
        return v1, str(v2)
    return v1, v2


class BranchOutput(BlockSchema):
    """Output pins of the branching blocks: the test's result, then one of two values."""

    result: bool
    yes_output: Any
    no_output: Any


class ConditionBlock(Block):
    """Compares `value1` with `value2`; routes to `yes_output` or `no_output`."""

    id = "715696a0-e1da-45c8-b209-c2fa9c3b0be6"

    class Input(BlockSchema):
        """Input pins."""

        value1: Any
        operator: ComparisonOperator
        value2: Any
        yes_value: Any = None
        no_value: Any = None

    Output = BranchOutput

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `result`, then the yes/no value (defaulting to value1/value2)."""
        v1, v2 = _comparable(_normalise(input_data.value1), _normalise(input_data.value2))
        try:
            result = bool(_COMPARISONS[input_data.operator](v1, v2))
        except TypeError:
            raise ValueError(
                f"cannot compare {type(v1).__name__} {v1!r} {input_data.operator.value} "
                f"{type(v2).__name__} {v2!r}"
            ) from None
        yield "result", result
        if result:
            yield "yes_output", input_data.yes_value if input_data.yes_value is not None else v1
        else:
            yield "no_output", input_data.no_value if input_data.no_value is not None else v2


class IfInputMatchesBlock(Block):
    """Checks `input == value` (converting `value` to the input's type first)."""

    id = "6dbbc4b3-ca6c-42b6-b508-da52d23e13f2"

    class Input(BlockSchema):
        """Input pins."""

        input: Any
        value: Any
        yes_value: Any = None
        no_value: Any = None

    Output = BranchOutput

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `result`, then `yes_output` or `no_output`."""
        given, expected = input_data.input, input_data.value
        if given != expected and given is not None and expected is not None:
            try:
                expected = convert(expected, type(given))
            except Exception:  # noqa: BLE001 - keep the raw value when it cannot convert
                pass
        if given == expected:
            yield "result", True
            yield "yes_output", input_data.yes_value
        else:
            yield "result", False
            yield "no_output", input_data.no_value


BLOCKS: list[type[Block]] = [CalculatorBlock, CountItemsBlock, ConditionBlock, IfInputMatchesBlock]
