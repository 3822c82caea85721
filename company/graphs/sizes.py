"""Cheap size estimates of pin values, that stop counting as soon as a limit is passed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_SCALAR_SIZE = {bool: 5, float: 24, type(None): 4}
ITEM_BYTES = 8  # what one item of a list, tuple, set or dict costs at least (a pointer)
CONTAINER_BYTES = 56  # an empty list object


def text_bytes(text: str, limit: int) -> int:
    """UTF-8 size of a text (its length when over `limit`, so huge texts are never encoded)."""
    if text.isascii() or len(text) > limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def json_size(value: Any, limit: int, max_steps: int | None = None) -> int | None:
    """Approximate UTF-8 size of `value` written as JSON; any result over `limit` means "too big".

    Walks containers without recursion and stops once the count passes `limit`, so a cyclic
    or enormous value costs at most about `limit` steps; with `max_steps`, gives up (None)
    after that many items instead.
    """
    kind = type(value)
    if kind is str:
        return text_bytes(value, limit) + 2
    if kind is int:
        return value.bit_length() * 3 // 10 + 2
    if kind in _SCALAR_SIZE:
        return _SCALAR_SIZE[kind]
    total = 0
    steps = 0
    stack = [value]
    while stack:
        steps += 1
        if max_steps is not None and steps > max_steps:
            return None
        item = stack.pop()
        kind = type(item)
        if isinstance(item, str):
            total += text_bytes(item, limit - total) + 2
        elif kind is int:
            total += item.bit_length() * 3 // 10 + 2
        elif kind in _SCALAR_SIZE:
            total += _SCALAR_SIZE[kind]
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            if total > limit:
                return total
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            if total > limit:
                return total
            stack.extend(item)
        elif isinstance(item, (bytes, bytearray)):
            total += len(item) + 2
        elif isinstance(item, BaseModel):
            stack.append(item.model_dump(mode="json"))
        else:
            total += len(str(item)) + 2
        if total > limit:
            return total
    return total


def shallow_size(value: Any) -> int:
    """Bytes that building `value` allocated one level deep (a character counts one byte)."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return CONTAINER_BYTES + len(value) * ITEM_BYTES
    if type(value) is int:
        return value.bit_length() // 8
    return 1
