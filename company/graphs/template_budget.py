"""The per-render budget of a sandboxed template: a deadline, a value size limit, a cap on
everything built, and a cap on loop iterations; the sandbox hooks charge it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2.runtime import LoopContext
from jinja2.sandbox import SecurityError

from company.graphs.errors import LimitError
from company.graphs.sizes import shallow_size

# Python cannot print an int of more than 4,300 digits; 100,000 bits (30,000 digits) is far
# beyond any template's need and keeps each big-number operation well under a millisecond.
MAX_INT_BITS = 100_000
INT_LIMIT_MESSAGE = (
    "template would build a number of over {bits:,} bits, over the size limit of "
    f"{MAX_INT_BITS:,} bits (a fixed limit)"
)
_CHECK_EVERY = 256


class TemplateLimitError(SecurityError, LimitError):
    """A template went over a size, work or loop limit (or its deadline)."""


class TemplateTimeoutError(TemplateLimitError, TimeoutError):
    """A template ran past its deadline."""


@dataclass(frozen=True)
class TemplateLimits:
    """What one render may do: sizes in bytes (a character counts one, a list item eight),
    loop iterations, and a wall-clock budget."""

    max_value_bytes: int = 8 * 1024 * 1024
    max_work_bytes: int = 64 * 1024 * 1024
    max_loop_iterations: int = 1_000_000
    timeout_s: float = 10.0


class RenderBudget:
    """Mutable counters of one render, checked by every sandbox hook."""

    __slots__ = ("limits", "deadline", "work", "iterations")

    def __init__(self, limits: TemplateLimits, deadline: float | None = None):
        self.limits = limits
        self.deadline = deadline if deadline is not None else time.monotonic() + limits.timeout_s
        self.work = 0
        self.iterations = 0

    def check_time(self) -> None:
        """Raise once the deadline has passed."""
        if time.monotonic() > self.deadline:
            raise TemplateTimeoutError("template rendering ran past its deadline")

    def check_value(self, size: int, what: str = "a value") -> None:
        """Refuse to build one value of `size` bytes over the value limit."""
        limit = self.limits.max_value_bytes
        if size > limit:
            raise TemplateLimitError(
                f"template would build {what} of {size:,} bytes, over the size limit of "
                f"{limit:,} bytes (max_value_bytes)"
            )

    def charge(self, size: int, what: str = "a value") -> None:
        """Count `size` newly built bytes against the value and work limits."""
        self.check_value(size, what)
        self.work += size
        if self.work > self.limits.max_work_bytes:
            raise TemplateLimitError(
                f"template built more than {self.limits.max_work_bytes:,} bytes in all, over "
                "the size limit (template_max_work_bytes)"
            )

    def count_iterations(self, count: int) -> None:
        """Count loop iterations against the loop limit, and check the deadline."""
        self.iterations += count
        if self.iterations > self.limits.max_loop_iterations:
            raise TemplateLimitError(
                f"template loops ran more than {self.limits.max_loop_iterations:,} iterations, "
                "over the loop limit (template_max_loop_iterations)"
            )
        self.check_time()


_CURRENT: ContextVar[RenderBudget | None] = ContextVar("template_budget", default=None)


def current_budget() -> RenderBudget:
    """The budget of the render in progress (a fresh default one outside any render)."""
    budget = _CURRENT.get()
    return budget if budget is not None else RenderBudget(TemplateLimits())


@contextmanager
def active_budget(budget: RenderBudget) -> Iterator[RenderBudget]:
    """Make `budget` the one the sandbox hooks charge while the block runs."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def _guarded(iterable: Iterable[Any], budget: RenderBudget, charge: bool) -> Iterator[Any]:
    count = 0
    for item in iterable:
        count += 1
        if count == _CHECK_EVERY:
            budget.count_iterations(count)
            count = 0
        if charge:
            budget.charge(shallow_size(item))
        yield item
    budget.count_iterations(count)


class GuardedIterable:
    """An iterable whose iteration counts against the render's loop limit and deadline."""

    __slots__ = ("_iterable", "_charge")

    def __init__(self, iterable: Iterable[Any], charge: bool = False):
        self._iterable = iterable
        self._charge = charge

    def __iter__(self) -> Iterator[Any]:
        return _guarded(self._iterable, current_budget(), self._charge)

    def __len__(self) -> int:
        return len(self._iterable)  # type: ignore[arg-type]  # TypeError when unsized

    def __repr__(self) -> str:
        return repr(self._iterable)


def guard_iter(iterable: Any) -> Any:
    """Wrap a `for` loop's iterable (the compiled templates call this for every loop)."""
    return GuardedIterable(iterable)


def guard_generated(iterable: Iterator[Any]) -> GuardedIterable:
    """Wrap a lazily produced sequence: each produced item is charged as newly built."""
    return GuardedIterable(iterable, charge=True)


class GuardedLoopContext(LoopContext):
    """LoopContext whose (recursive) iterables are guarded too."""

    def __init__(self, iterable: Iterable[Any], *args: Any, **kwargs: Any):
        if not isinstance(iterable, GuardedIterable):
            iterable = GuardedIterable(iterable)
        super().__init__(iterable, *args, **kwargs)
