"""sha256 of files, computed once per process per (path, size, mtime)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from company.models.progress import Progress

CHUNK = 1 << 20

_DIGESTS: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def sha256_file(path: Path, progress: Progress | None = None, stage: str = "") -> str:
    """The hex sha256 of a file, read in 1 MiB chunks (reported to ``progress``)."""
    digest = hashlib.sha256()
    done = 0
    total = path.stat().st_size
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(stage or f"verifying {path.name}", done, total)
    return digest.hexdigest()


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def cached_digest(path: Path) -> str | None:
    """The digest computed earlier in this process for this exact file state, if any."""
    with _LOCK:
        return _DIGESTS.get(_key(path))


def file_digest(path: Path, progress: Progress | None = None) -> str:
    """The file's sha256, hashed at most once per process while its size and mtime hold."""
    key = _key(path)
    with _LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return known
    value = sha256_file(path, progress)
    remember(path, value)
    return value


def remember(path: Path, value: str) -> None:
    """Record a digest computed elsewhere (e.g. while writing the file)."""
    with _LOCK:
        _DIGESTS[_key(path)] = value


def forget_all() -> None:
    """Drop the in-process digests (tests)."""
    with _LOCK:
        _DIGESTS.clear()
