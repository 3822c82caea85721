"""AutoGPT's dynamic pin names: `name_$_0` (list index), `name_#_key` (dict key),
`name_@_attr` (object attribute); they nest, e.g. `values_#_people_$_0`. Tool pins
(`tools_^_{sink node id}_~_{sink pin}`) carry SmartDecisionMakerBlock's tool-call arguments."""

from __future__ import annotations

import copy
import re
from types import SimpleNamespace
from typing import Any

LIST_SPLIT = "_$_"
DICT_SPLIT = "_#_"
OBJC_SPLIT = "_@_"
TOOLS_PIN = "tools"
TOOL_PREFIX = "tools_^_"
TOOL_FIELD_SPLIT = "_~_"
_SPLIT_RE = re.compile(r"(_\$_|_#_|_@_)")

Step = tuple[str, str]


class _Missing:
    """Marker for a dynamic output path that does not exist in the value."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def is_dynamic(name: str) -> bool:
    """True when the pin name carries a `_$_`, `_#_` or `_@_` part."""
    return LIST_SPLIT in name or DICT_SPLIT in name or OBJC_SPLIT in name


def split_pin(name: str) -> tuple[str, tuple[Step, ...]]:
    """Split `values_#_a_$_0` into `("values", (("_#_", "a"), ("_$_", "0")))`."""
    parts = _SPLIT_RE.split(name)
    steps = tuple((parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2))
    return parts[0], steps


def base_pin(name: str) -> str:
    """The declared pin a dynamic name belongs to (`values_#_a` -> `values`; tool pins ->
    `tools`)."""
    if name.startswith(TOOL_PREFIX):
        return TOOLS_PIN
    return _SPLIT_RE.split(name, maxsplit=1)[0]


def is_tool_pin(name: str) -> bool:
    """True for a link source naming a tool pin: `tools`, or `tools_^_...` (AutoGPT's rule)."""
    return name == TOOLS_PIN or name.startswith(TOOL_PREFIX)


def tool_pin(sink_node_id: str, sink_pin: str) -> str:
    """The output name that carries one tool argument to a sink node's pin."""
    return f"{TOOL_PREFIX}{sink_node_id}{TOOL_FIELD_SPLIT}{sink_pin}"


def extract(value: Any, steps: tuple[Step, ...]) -> Any:
    """Follow a dynamic output path into a value; `MISSING` when it does not exist."""
    for kind, key in steps:
        if kind == LIST_SPLIT:
            if not key.isdigit() or not isinstance(value, list) or int(key) >= len(value):
                return MISSING
            value = value[int(key)]
        elif kind == DICT_SPLIT:
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        else:
            if isinstance(value, dict):
                if key not in value:
                    return MISSING
                value = value[key]
            elif hasattr(value, key) and not key.startswith("_"):
                value = getattr(value, key)
            else:
                return MISSING
    return value


def _assign(container: Any, steps: tuple[Step, ...], value: Any) -> Any:
    kind, key = steps[0]
    rest = steps[1:]
    if kind == LIST_SPLIT:
        if not key.isdigit():
            raise ValueError(f"invalid list index '{key}' in dynamic pin (must be an integer)")
        index = int(key)
        if not isinstance(container, list):
            container = []
        if index >= len(container):
            container.extend([""] * (index - len(container) + 1))
        container[index] = _assign(container[index], rest, value) if rest else value
    elif kind == DICT_SPLIT:
        if not isinstance(container, dict):
            container = {}
        container[key] = _assign(container.get(key), rest, value) if rest else value
    else:
        if not isinstance(container, SimpleNamespace):
            container = SimpleNamespace()
        current = getattr(container, key, None)
        setattr(container, key, _assign(current, rest, value) if rest else value)
    return container


def _sort_key(item: tuple[str, Any]) -> tuple:
    base, steps = split_pin(item[0])
    return (
        base,
        tuple((k, int(v) if k == LIST_SPLIT and v.isdigit() else -1, v) for k, v in steps),
    )


def merge_dynamic_pins(data: dict[str, Any]) -> dict[str, Any]:
    """Fold dynamic pins into their declared pin, copying any default container first."""
    dynamic = [(k, v) for k, v in data.items() if is_dynamic(k)]
    if not dynamic:
        return data
    merged = {k: v for k, v in data.items() if not is_dynamic(k)}
    copied: set[str] = set()
    for key, value in sorted(dynamic, key=_sort_key):
        base, steps = split_pin(key)
        if base not in copied:
            merged[base] = copy.deepcopy(merged.get(base))
            copied.add(base)
        merged[base] = _assign(merged[base], steps, value)
    return merged
