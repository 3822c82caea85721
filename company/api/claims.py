"""Cross-process task claims: an exclusive ``flock`` per task, released when the holder dies.

A run holds its task's claim, so two server processes (uvicorn workers, or a restarted server
next to a slow-dying one) never run the same task at once, even after ``kill -9``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Claim:
    """An exclusive, non-blocking lock on one task, held by this process while it runs it."""

    def __init__(self, workspace: Path, task_id: str) -> None:
        self.path = workspace / task_id / ".claim"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the claim; False when another holder has it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the claim back (closing the file drops the lock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
