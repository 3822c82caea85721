"""Upper bounds on the size of what a template operation would build, computed before it runs.

Each estimator returns characters (or items) and is deliberately generous: it only has to
be cheap and never below the real size, so that huge results are refused before they exist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from company.graphs.sizes import ITEM_BYTES, json_size

_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?[hlL]?"
    r"(?P<type>[diouxXeEfFgGcrsa%])"
)
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<prec>\d+))?")
_FLOAT_DIGITS = 330  # '%f' of the largest float has 309 digits


def deep_size(value: Any, limit: int) -> int:
    """Characters `str(value)` would have, roughly (stops counting past `limit`)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, float):
        return _FLOAT_DIGITS
    return json_size(value, limit) or 0


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def int_result_bits(operator: str, left: Any, right: Any) -> int:
    """Bits of an integer `*` or `**` result (0 when the operands are not both ints)."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0
    if operator == "*":
        return left.bit_length() + right.bit_length()
    if right < 0 or abs(left) < 2:
        return 1
    return int(math.log2(abs(left)) * right) + 1


def sequence_size(seq: Any) -> int:
    """Bytes of a text or the items of a list or tuple (`ITEM_BYTES` each)."""
    return len(seq) if isinstance(seq, (str, bytes)) else len(seq) * ITEM_BYTES


def repeat_size(left: Any, right: Any) -> int:
    """Bytes of `seq * n` (0 when it is not a repetition)."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
            return sequence_size(seq) * max(count, 0)
    return 0


def printf_size(template: str, args: Any, limit: int) -> int:
    """Characters of `template % args`."""
    positional = args if isinstance(args, tuple) else (args,)
    mapping = args if isinstance(args, Mapping) else None
    index = 0
    total = len(template)

    def next_arg() -> Any:
        nonlocal index
        index += 1
        return positional[index - 1] if index - 1 < len(positional) else None

    for match in _PRINTF.finditer(template):
        if match["type"] == "%":
            continue
        width = next_arg() if match["width"] == "*" else int(match["width"] or 0)
        prec = next_arg() if match["prec"] == "*" else int(match["prec"] or 0)
        if match["key"] is not None and mapping is not None:
            value = mapping.get(match["key"])
        else:
            value = next_arg()
        total += max(_number(width), deep_size(value, limit) + _number(prec))
        if total > limit:
            break
    return total


def format_field_size(value: Any, spec: str, limit: int) -> int:
    """Characters of `format(value, spec)`."""
    match = _FORMAT_SPEC.match(spec)
    width = int(match["width"] or 0) if match else 0
    prec = int(match["prec"] or 0) if match else 0
    return max(width, deep_size(value, limit) + prec)


def join_size(separator: Any, items: list[Any], limit: int) -> int:
    """Characters of `separator.join(items)` (items as `str()` would write them)."""
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        if total > limit:
            break
        total += deep_size(item, limit)
    return total


def replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    """Characters of `text.replace(old, new, count)`."""
    if not (isinstance(text, (str, bytes)) and isinstance(old, type(text))):
        return len(text) if isinstance(text, (str, bytes)) else 0
    if not isinstance(new, (str, bytes)):
        return len(text)
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _text(value: Any) -> Any:
    return value if isinstance(value, (str, bytes)) else str(value)


def _width_size(text: Any, width: Any = 0, *_: Any, **__: Any) -> int:
    return max(len(_text(text)), _number(width))


def _expandtabs_size(text: Any, tabsize: Any = 8, **_: Any) -> int:
    text = _text(text)
    tab = "\t" if isinstance(text, str) else b"\t"
    return len(text) + text.count(tab) * max(_number(tabsize), 1)


def _translate_size(text: Any, table: Any = None, *_: Any) -> int:
    longest = 1
    if isinstance(table, Mapping):
        for value in table.values():
            if isinstance(value, (str, bytes)):
                longest = max(longest, len(value))
    return len(_text(text)) * longest


def _indent_size(text: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    text = str(text)
    unit = len(width) if isinstance(width, str) else _number(width)
    return len(text) + (text.count("\n") + 1) * unit


def _wordwrap_size(text: Any, width: Any = 79, *args: Any, **kwargs: Any) -> int:
    text = str(text)
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    unit = len(wrapstring) if isinstance(wrapstring, str) else 2
    return len(text) + (len(text) + 1) * unit


def _replace_filter_size(text: Any, old: Any = "", new: Any = "", count: Any = None) -> int:
    return replace_size(str(text), str(old), str(new), -1 if count is None else count)


def _padding_size(value: Any, count: Any = 0, fill_with: Any = None, **kwargs: Any) -> int:
    fill_with = kwargs.get("fill_with", fill_with)
    return _number(count) * ITEM_BYTES if fill_with is not None else 0


def _split_size(text: Any, sep: Any = None, maxsplit: Any = -1, **_: Any) -> int:
    """Bytes of `text.split(sep)`: the parts' characters plus one list item per part."""
    if isinstance(sep, (str, bytes)) and sep:
        parts = text.count(sep) + 1
    else:
        space, newline = (" ", "\n") if isinstance(text, str) else (b" ", b"\n")
        parts = text.count(space) + text.count(newline) + 1
    if isinstance(maxsplit, int) and maxsplit >= 0:
        parts = min(parts, maxsplit + 1)
    return len(text) + parts * ITEM_BYTES


def _splitlines_size(text: Any, *_: Any, **__: Any) -> int:
    newline = "\n" if isinstance(text, str) else b"\n"
    return len(text) + (text.count(newline) + 1) * ITEM_BYTES


def _listing_size(value: Any, *_: Any, **__: Any) -> int:
    """Bytes of a list holding every item (or character) of a sized value."""
    return len(value) * ITEM_BYTES if hasattr(value, "__len__") else 0


def _format_filter_size(value: Any, format_string: Any = None) -> int:
    if not isinstance(format_string, str):
        return 0
    return printf_size(format_string, (0.0,), 1 << 62)


# Estimators of str/bytes methods whose result can be much larger than the string itself.
STR_METHODS: dict[str, Callable[..., int]] = {
    "center": _width_size,
    "ljust": _width_size,
    "rjust": _width_size,
    "zfill": _width_size,
    "expandtabs": _expandtabs_size,
    "replace": replace_size,
    "translate": _translate_size,
    "split": _split_size,
    "rsplit": _split_size,
    "splitlines": _splitlines_size,
}

# Filters that write their value with `str()` first (a huge list would become a huge text).
STRINGIFYING_FILTERS = frozenset(
    {
        "capitalize", "center", "e", "escape", "forceescape", "indent", "lower",
        "replace", "safe", "string", "striptags", "title", "trim", "truncate", "upper",
        "urlencode", "wordcount", "wordwrap",
    }
)

# Estimators of filters whose result can be much larger than their input (value first).
FILTERS: dict[str, Callable[..., int]] = {
    "center": _width_size,
    "indent": _indent_size,
    "wordwrap": _wordwrap_size,
    "replace": _replace_filter_size,
    "format": _format_filter_size,
    "batch": _padding_size,
    "slice": _padding_size,
    "list": _listing_size,
    "sort": _listing_size,
    "unique": _listing_size,
    "reverse": _listing_size,
    "dictsort": _listing_size,
    "groupby": _listing_size,
    "items": _listing_size,
}
