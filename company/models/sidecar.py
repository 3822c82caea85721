"""``<file>.json`` next to a cached model: where it came from, its digests, when it was checked."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError


class Stamp(BaseModel):
    """The file state (size, mtime) at which the digest was last verified in full."""

    size: int
    mtime_ns: int
    at: str


class Sidecar(BaseModel):
    """What we know of a cached model file."""

    name: str
    kind: str
    source: str = Field(description="hf, pypi, import or found (already in place)")
    sha256: str
    size: int
    created: str
    origin: dict[str, Any] = Field(default_factory=dict, description="URL, wheels or folder")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="sha256 of converted inputs (CTranslate2 files)"
    )
    verified: Stamp | None = None


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sidecar_path(path: Path) -> Path:
    """Where the sidecar of ``path`` lives."""
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path) -> Sidecar | None:
    """The sidecar of ``path``; None when absent or unreadable."""
    try:
        return Sidecar.model_validate(json.loads(sidecar_path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None


def write_sidecar(path: Path, sidecar: Sidecar) -> None:
    """Write the sidecar of ``path`` atomically."""
    target = sidecar_path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(sidecar.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    os.replace(temp, target)


def stamp_for(path: Path) -> Stamp:
    """A stamp of the file's current state."""
    stat = path.stat()
    return Stamp(size=stat.st_size, mtime_ns=stat.st_mtime_ns, at=now())


def stamp_matches(sidecar: Sidecar | None, path: Path) -> bool:
    """Whether the file is unchanged since its digest was last verified in full."""
    if sidecar is None or sidecar.verified is None:
        return False
    stat = path.stat()
    return (sidecar.verified.size, sidecar.verified.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
