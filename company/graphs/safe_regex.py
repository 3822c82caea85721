"""User regular expressions with Python `re` syntax, a size check and a real timeout.

Patterns are parsed with `re`'s own parser (the syntax AutoGPT graphs are written for) and
refused when their fixed repeats expand too far; they then run on the `regex` engine, whose
matching takes a timeout and releases the GIL, so a catastrophic pattern stops at the
deadline instead of hanging its thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import regex

from company.graphs.errors import LimitError

try:  # Python 3.11+: the parser `re` itself uses
    from re import _constants as _c
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - older layouts
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_CACHED_PATTERN_CHARS = 4096


class RegexTimeoutError(LimitError, TimeoutError):
    """A regular expression ran past its deadline."""


def _expanded_size(parsed: Any, limit: int) -> int:
    """Items the `regex` engine compiles: a fixed repeat `{n}` copies its body n times."""
    total = 0
    for op, av in parsed:
        if op in _REPEATS:
            low, _, body = av
            total += max(low, 1) * _expanded_size(body, limit)
        elif op is _c.SUBPATTERN:
            total += _expanded_size(av[-1], limit)
        elif op is _c.BRANCH:
            total += sum(_expanded_size(branch, limit) for branch in av[1])
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            total += _expanded_size(av[1], limit)
        elif op is _c.GROUPREF_EXISTS:
            total += sum(_expanded_size(part, limit) for part in av[1:] if part is not None)
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            total += _expanded_size(av, limit)
        else:
            total += 1
        if total > limit:
            return total
    return total


def _compile(pattern: str, flags: int, max_size: int) -> regex.Pattern:
    try:
        parsed = _sre_parse.parse(pattern, flags)
    except re.error as err:
        raise ValueError(f"invalid regular expression: {err}") from None
    except (RecursionError, OverflowError):
        raise ValueError("invalid regular expression: nested too deeply") from None
    if _expanded_size(parsed, max_size) > max_size:
        raise LimitError(
            f"regular expression too large: its repeats expand to over {max_size:,} items "
            "(max_regex_size)"
        )
    try:
        return regex.compile(pattern, flags)
    except (regex.error, OverflowError, RecursionError) as err:
        raise ValueError(f"invalid regular expression: {err}") from None


_compile_cached = lru_cache(maxsize=256)(_compile)


def compile_pattern(pattern: str, flags: int = 0, *, max_size: int = 10_000) -> regex.Pattern:
    """Compile a user pattern (`re` syntax, `re` flags); ValueError or LimitError when refused."""
    if len(pattern) <= _CACHED_PATTERN_CHARS:
        return _compile_cached(pattern, flags, max_size)
    return _compile(pattern, flags, max_size)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RegexTimeoutError("regular expression ran past its deadline")
    return left


def search(pattern: regex.Pattern, text: str, deadline: float) -> Any:
    """`pattern.search(text)`, stopped at `deadline` (a `time.monotonic()` instant)."""
    try:
        return pattern.search(text, timeout=_remaining(deadline), concurrent=True)
    except TimeoutError:
        raise RegexTimeoutError("regular expression ran past its deadline") from None


def finditer(pattern: regex.Pattern, text: str, deadline: float) -> Iterator[Any]:
    """The matches of `pattern` in `text` one by one, stopped at `deadline`."""
    try:
        for match in pattern.finditer(text, timeout=_remaining(deadline), concurrent=True):
            yield match
            _remaining(deadline)
    except TimeoutError:
        raise RegexTimeoutError("regular expression ran past its deadline") from None


def sub(pattern: regex.Pattern, replacement: str, text: str, deadline: float) -> str:
    """`pattern.sub(replacement, text)`, stopped at `deadline`."""
    try:
        return pattern.sub(replacement, text, timeout=_remaining(deadline), concurrent=True)
    except TimeoutError:
        raise RegexTimeoutError("regular expression ran past its deadline") from None
