"""CPU-heavy block work (regexes, templates, parsing) on worker threads, with a deadline.

The event loop keeps answering while the work runs. A thread cannot be killed, so the work
itself receives the deadline (a `time.monotonic()` instant) and must stop there; this
helper turns its timeout into a `BlockTimeoutError` naming the limit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from company.graphs.errors import BlockTimeoutError

if TYPE_CHECKING:
    from company.graphs.blocks.base import BlockContext

T = TypeVar("T")
WORKERS = 4
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="graph-cpu")
        return _pool


def work_deadline(ctx: BlockContext) -> tuple[float, bool]:
    """The instant CPU-heavy work must stop by, and whether it is the run's own deadline."""
    deadline = time.monotonic() + ctx.settings.block_cpu_timeout_s
    if ctx.deadline is not None and ctx.deadline < deadline:
        return ctx.deadline, True
    return deadline, False


async def run_cpu_bound(ctx: BlockContext, what: str, work: Callable[[float], T]) -> T:
    """Run `work(deadline)` on a worker thread; its timeout fails the block with a clear error."""
    deadline, is_run_deadline = work_deadline(ctx)
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(), work, deadline)
    except TimeoutError:
        elapsed = time.monotonic() - started
        limit = (
            f"the run's timeout_s ({ctx.settings.timeout_s:g} s)"
            if is_run_deadline
            else f"block_cpu_timeout_s ({ctx.settings.block_cpu_timeout_s:g} s)"
        )
        raise BlockTimeoutError(
            f"{what} timed out after {elapsed:.1f} s ({limit})", run_deadline=is_run_deadline
        ) from None
