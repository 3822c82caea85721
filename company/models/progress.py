"""The progress callback type shared by downloads, pip, assembly and hashing."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, "int | None"], None]
"""``progress(stage, done, total)``: what is happening, bytes done, bytes in all (None: unknown)."""


def no_progress(stage: str, done: int, total: int | None) -> None:
    """A progress callback that ignores everything."""
