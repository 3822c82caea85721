"""List blocks, and StepThroughItemsBlock which fans out one downstream run per item."""

from __future__ import annotations

import json
from typing import Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema

MAX_ITEMS = 10_000
MAX_ITEMS_STR_BYTES = 1024 * 1024
# Several AutoGPT pins are called `list`; this alias keeps the builtin usable in their schemas.
AnyList = list[Any]


class CreateListBlock(Block):
    """Builds a list from values, optionally yielding it in chunks of `max_size` items."""

    id = "a912d5c7-6e00-4542-b2a9-8034136930e4"

    class Input(BlockSchema):
        """Input pins."""

        values: AnyList
        max_size: int | None = None
        max_tokens: int | None = None

    class Output(BlockSchema):
        """Output pins."""

        list: AnyList

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the list, or successive chunks within the size/token limits."""
        chunk: AnyList = []
        cur_tokens, cur_size = 0, 0
        max_tokens, max_size = input_data.max_tokens, input_data.max_size
        for value in input_data.values:
            tokens = len(json.dumps(value, default=str)) // 4 + 1 if max_tokens else 0
            if chunk and (
                (max_tokens and cur_tokens + tokens > max_tokens)
                or (max_size and cur_size + 1 > max_size)
            ):
                yield "list", chunk
                chunk, cur_tokens, cur_size = [], 0, 0
            chunk.append(value)
            cur_size, cur_tokens = cur_size + 1, cur_tokens + tokens
        if chunk or not input_data.values:
            yield "list", chunk


class AddToListBlock(Block):
    """Adds `entry` and `entries` to a list, at `position` or at the end."""

    id = "aeb08fc1-2fc1-4141-bc8e-f758f183a822"

    class Input(BlockSchema):
        """Input pins."""

        list: AnyList = []
        entry: Any = None
        entries: AnyList = []
        position: int | None = None

    class Output(BlockSchema):
        """Output pins."""

        updated_list: AnyList

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the new list."""
        added = list(input_data.entries)
        if input_data.entry is not None:
            added.append(input_data.entry)
        items = list(input_data.list)
        if (pos := input_data.position) is not None:
            items = items[:pos] + added + items[pos:]
        else:
            items += added
        yield "updated_list", items


class GetListItemBlock(Block):
    """Returns the item at an index (negative indices count from the end)."""

    id = "262ca24c-1025-43cf-a578-534e23234e97"

    class Input(BlockSchema):
        """Input pins."""

        list: AnyList
        index: int

    class Output(BlockSchema):
        """Output pins."""

        item: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the item, or an error when the index is out of range."""
        try:
            yield "item", input_data.list[input_data.index]
        except IndexError:
            yield (
                "error",
                f"Index {input_data.index} out of range (list has {len(input_data.list)})",
            )


class FindInListBlock(Block):
    """Finds the index of a value in a list."""

    id = "5e2c6d0a-1e37-489f-b1d0-8e1812b23333"

    class Input(BlockSchema):
        """Input pins."""

        list: AnyList
        value: Any

    class Output(BlockSchema):
        """Output pins."""

        index: int
        found: bool
        not_found_value: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the index and `found`, or `found=False` and the value."""
        try:
            index = input_data.list.index(input_data.value)
        except ValueError:
            yield "found", False
            yield "not_found_value", input_data.value
            return
        yield "index", index
        yield "found", True


class RemoveFromListBlock(Block):
    """Removes an item by index or by value."""

    id = "d93c5a93-ac7e-41c1-ae5c-ef67e6e9b826"

    class Input(BlockSchema):
        """Input pins."""

        list: AnyList
        value: Any = None
        index: int | None = None
        return_item: bool = False

    class Output(BlockSchema):
        """Output pins."""

        updated_list: AnyList
        removed_item: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the shorter list (and the removed item when asked)."""
        items = list(input_data.list)
        try:
            if input_data.index is not None:
                removed = items.pop(input_data.index)
            elif input_data.value is not None:
                items.remove(input_data.value)
                removed = input_data.value
            else:
                raise ValueError("no index or value given")
        except (IndexError, ValueError):
            yield "error", "Index or value not found"
            return
        yield "updated_list", items
        if input_data.return_item:
            yield "removed_item", removed


class ListIsEmptyBlock(Block):
    """Checks whether a list is empty."""

    id = "896ed73b-27d0-41be-813c-c1c1dc856c03"

    class Input(BlockSchema):
        """Input pins."""

        list: AnyList

    class Output(BlockSchema):
        """Output pins."""

        is_empty: bool

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield True for an empty list."""
        yield "is_empty", len(input_data.list) == 0


class ReverseListOrderBlock(Block):
    """Reverses a list."""

    id = "422cb708-3109-4277-bfe3-bc2ae5812777"

    class Input(BlockSchema):
        """Input pins."""

        input_list: AnyList

    class Output(BlockSchema):
        """Output pins."""

        reversed_list: AnyList

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the reversed list."""
        yield "reversed_list", list(reversed(input_data.input_list))


class ConcatenateListsBlock(Block):
    """Concatenates a list of lists (None entries are skipped)."""

    id = "3cf9298b-5817-4141-9d80-7c2cc5199c8e"

    class Input(BlockSchema):
        """Input pins."""

        lists: AnyList

    class Output(BlockSchema):
        """Output pins."""

        concatenated_list: AnyList

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the concatenation, or an error naming the first entry that is not a list."""
        result: AnyList = []
        for index, item in enumerate(input_data.lists):
            if item is None:
                continue
            if not isinstance(item, list):
                yield (
                    "error",
                    (f"Invalid input at index {index}: expected a list, got {type(item).__name__}"),
                )
                return
            result.extend(item)
        yield "concatenated_list", result


class StepThroughItemsBlock(Block):
    """Yields each item (and its key or index) of a list, dict or JSON string, one at a time."""

    id = "f66a3543-28d3-4ab5-8945-9b336371e2ce"

    class Input(BlockSchema):
        """Input pins."""

        items: list = []
        items_object: dict = {}
        items_str: str = ""

    class Output(BlockSchema):
        """Output pins."""

        item: Any
        key: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `item` then `key` for every entry of the first non-empty input."""
        for data in (input_data.items, input_data.items_object, input_data.items_str):
            if not data:
                continue
            if isinstance(data, str):
                if len(data) > MAX_ITEMS_STR_BYTES:
                    raise ValueError(f"items_str too large: {len(data)} > {MAX_ITEMS_STR_BYTES}")
                data = json.loads(data)
            if isinstance(data, (list, dict)) and len(data) > MAX_ITEMS:
                raise ValueError(f"Too many items: {len(data)} > {MAX_ITEMS}")
            pairs = data.items() if isinstance(data, dict) else enumerate(data)
            for key, value in pairs:
                yield "item", value
                yield "key", key


BLOCKS: list[type[Block]] = [
    CreateListBlock,
    AddToListBlock,
    GetListItemBlock,
    FindInListBlock,
    RemoveFromListBlock,
    ListIsEmptyBlock,
    ReverseListOrderBlock,
    ConcatenateListsBlock,
    StepThroughItemsBlock,
]
