"""Pin value coercion to annotated types, following AutoGPT's `backend.util.type.convert`."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, get_args, get_origin

_CONVERTIBLE = (list, dict, tuple, str, set, int, float, bool)


class ConversionError(ValueError):
    """A value cannot be converted to the requested type."""


def _to_list(value: Any) -> list:
    if isinstance(value, (list, tuple, set)):
        return list(value)
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return [value]
    return [value]


def _to_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {"value": value}
        return parsed if isinstance(parsed, dict) else {"value": parsed}
    if isinstance(value, (list, tuple)):
        return dict(enumerate(value))
    return {"value": value}


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _to_num(value: Any, num_type: type) -> int | float:
    if isinstance(value, (list, dict, tuple, set)):
        return num_type(len(value))
    if isinstance(value, num_type) and not isinstance(value, bool):
        return value
    try:
        return num_type(float(value))
    except (TypeError, ValueError):
        raise ConversionError(f"cannot convert {value!r} to a number") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _convert_items(value: Any, origin: type, args: tuple) -> Any:
    if not args:
        return value
    if origin is list:
        return [convert(v, args[0]) for v in value]
    if origin is set:
        return {convert(v, args[0]) for v in value}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0]) for v in value)
        return tuple(convert(v, t) for v, t in zip(value, args, strict=False))
    if origin is dict:
        key_type, val_type = args
        return {convert(k, key_type): convert(v, val_type) for k, v in value.items()}
    return value


def is_convertible(target: Any) -> bool:
    """True when `convert` may change values for this annotation (else pydantic alone decides)."""
    origin = get_origin(target)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in get_args(target) if a is not type(None)]
        return len(non_none) == 1 and is_convertible(non_none[0])
    return (origin or target) in _CONVERTIBLE


def convert(value: Any, target: Any) -> Any:
    """Convert `value` to `target` (list/dict/str/int/float/bool and their generics).

    `X | None` converts to `X` unless the value is None; other types are left to pydantic.
    """
    if target is float or target is int:
        return _to_num(value, target)
    if target is str:
        return _to_str(value)
    origin = get_origin(target)
    args = get_args(target)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None or len(non_none) != 1:
            return value
        return convert(value, non_none[0])
    if origin is None:
        origin = target
    if origin not in _CONVERTIBLE:
        return value
    if isinstance(value, origin) and not (origin in (int, float) and isinstance(value, bool)):
        return _convert_items(value, origin, args)
    if origin is list:
        return _convert_items(_to_list(value), list, args)
    if origin is dict:
        return _convert_items(_to_dict(value), dict, args)
    if origin is tuple:
        seq = (
            tuple(value.items())
            if isinstance(value, dict)
            else (tuple(value) if isinstance(value, (list, set)) else (value,))
        )
        return _convert_items(seq, tuple, args)
    if origin is set:
        seq = (
            set(value.items())
            if isinstance(value, dict)
            else (set(value) if isinstance(value, (list, tuple)) else {value})
        )
        return _convert_items(seq, set, args)
    if origin is str:
        return _to_str(value)
    if origin in (int, float):
        return _to_num(value, origin)
    return _to_bool(value)
