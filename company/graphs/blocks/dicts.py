"""Dictionary blocks."""

from __future__ import annotations

import json
from typing import Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema


class CreateDictionaryBlock(Block):
    """Builds a dictionary from key/value pins."""

    id = "b924ddf4-de4f-4b56-9a85-358930dcbc91"

    class Input(BlockSchema):
        """Input pins."""

        values: dict[str, Any]

    class Output(BlockSchema):
        """Output pins."""

        dictionary: dict[str, Any]

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the dictionary."""
        yield "dictionary", dict(input_data.values)


class AddToDictionaryBlock(Block):
    """Adds `key`/`value` and `entries` to a dictionary (a new one when none is given)."""

    id = "31d1064e-7446-4693-a7d4-65e5ca1180d1"

    class Input(BlockSchema):
        """Input pins."""

        dictionary: dict[Any, Any] = {}
        key: str = ""
        value: Any = None
        entries: dict[Any, Any] = {}

    class Output(BlockSchema):
        """Output pins."""

        updated_dictionary: dict

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the updated copy."""
        updated = dict(input_data.dictionary)
        if input_data.value is not None and input_data.key:
            updated[input_data.key] = input_data.value
        updated.update(input_data.entries)
        yield "updated_dictionary", updated


class FindInDictionaryBlock(Block):
    """Looks up a dict key, a list index, a key across a list of dicts, or an attribute."""

    id = "0e50422c-6dee-4145-83d6-3a5a392f65de"

    class Input(BlockSchema):
        """Input pins."""

        input: Any
        key: str | int

    class Output(BlockSchema):
        """Output pins."""

        output: Any
        missing: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the value on `output`, or the input on `missing`."""
        obj, key = input_data.input, input_data.key
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except json.JSONDecodeError:
                pass
        if isinstance(obj, dict) and key in obj:
            yield "output", obj[key]
        elif isinstance(obj, dict) and isinstance(key, int) and str(key) in obj:
            yield "output", obj[str(key)]
        elif isinstance(obj, list) and isinstance(key, int) and 0 <= key < len(obj):
            yield "output", obj[key]
        elif isinstance(obj, list) and isinstance(key, str):
            if not obj:
                yield "output", []
            elif isinstance(obj[0], dict) and key in obj[0]:
                yield (
                    "output",
                    [item[key] for item in obj if isinstance(item, dict) and key in item],
                )
            else:
                yield "output", [getattr(v, key) for v in obj if _has_public_attr(v, key)]
        elif (
            isinstance(key, str)
            and not isinstance(obj, (dict, list, str))
            and _has_public_attr(obj, key)
        ):
            yield "output", getattr(obj, key)
        else:
            yield "missing", input_data.input


def _has_public_attr(obj: Any, name: str) -> bool:
    return not name.startswith("_") and hasattr(obj, name)


class DictionaryIsEmptyBlock(Block):
    """Checks whether a dictionary is empty."""

    id = "a3cf3f64-6bb9-4cc6-9900-608a0b3359b0"

    class Input(BlockSchema):
        """Input pins."""

        dictionary: dict[Any, Any]

    class Output(BlockSchema):
        """Output pins."""

        is_empty: bool

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield True for an empty dictionary."""
        yield "is_empty", len(input_data.dictionary) == 0


BLOCKS: list[type[Block]] = [
    CreateDictionaryBlock,
    AddToDictionaryBlock,
    FindInDictionaryBlock,
    DictionaryIsEmptyBlock,
]
