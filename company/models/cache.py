"""Where cached models live, and checking them against their digests before anyone loads them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from company.models.catalogue import ModelEntry, catalogue_for, require_entry
from company.models.digest import file_digest
from company.models.errors import ModelError
from company.models.settings import ModelSettings
from company.models.sidecar import (
    Sidecar,
    now,
    read_sidecar,
    stamp_for,
    stamp_matches,
    write_sidecar,
)
from company.models.whisper_official import (
    names_by_file,
    official_path,
    official_urls,
    url_sha256,
)

Status = Literal["present", "missing", "corrupt", "unverified"]
OFFICIAL = "hf (openai-whisper)"


class FileCheck(BaseModel):
    """The outcome of checking one candidate file of a model."""

    path: Path
    status: Status
    sha256: str | None = None
    expected: str | None = None
    size: int | None = None
    source: str | None = None
    problem: str = ""


class InstalledModel(BaseModel):
    """A catalogue model and whether a verified file of it is in the cache (``models list``)."""

    name: str
    kind: str
    description: str
    status: Status
    size: int | None
    sha256: str | None
    source: str | None
    path: Path
    problem: str = ""


class OfficialCheckpoint(BaseModel):
    """An openai-whisper checkpoint found in whisper's own cache."""

    names: list[str]
    path: Path
    size: int
    verified: bool


def model_path(entry: ModelEntry, settings: ModelSettings) -> Path:
    """Where our own copy of the model lives: ``<dir>/llm/<file>`` or ``<dir>/whisper/<file>``."""
    return settings.resolved_dir() / entry.kind / entry.file


def official_url(entry: ModelEntry) -> str | None:
    """openai-whisper's URL for a Whisper entry (the catalogue's, else whisper._MODELS)."""
    hf = entry.sources.hf
    if entry.kind != "whisper" or hf is None:
        return None
    if hf.url:
        return hf.url
    return official_urls().get(hf.whisper or "")


def official_file(entry: ModelEntry, settings: ModelSettings) -> Path | None:
    """Where whisper's own download of this entry lives (None when it has none)."""
    url = official_url(entry)
    return official_path(url, settings.resolved_whisper_root()) if url else None


def check_official(path: Path, url: str) -> FileCheck:
    """Check an openai-whisper checkpoint against the sha256 in its URL."""
    if not path.is_file():
        return FileCheck(path=path, status="missing", source=OFFICIAL)
    expected = url_sha256(url)
    digest = file_digest(path)
    ok = digest == expected
    return FileCheck(path=path, status="present" if ok else "corrupt", sha256=digest,
                     expected=expected, size=path.stat().st_size, source=OFFICIAL,
                     problem="" if ok else f"sha256 {digest}, expected {expected}")


def check_own(entry: ModelEntry, path: Path, *, trust_stamp: bool) -> FileCheck:
    """Check our own copy against the catalogue's digest, else its sidecar's.

    With ``trust_stamp`` a file unchanged (size, mtime) since its last full check is taken
    as verified without hashing it again."""
    if not path.is_file():
        return FileCheck(path=path, status="missing")
    sidecar = read_sidecar(path)
    source = sidecar.source if sidecar else None
    size = path.stat().st_size
    expected = entry.sha256 or (sidecar.sha256 if sidecar else None)
    if expected is None:
        return FileCheck(path=path, status="unverified", size=size, source=source,
                         problem=f"no digest to check it against (the catalogue has none and "
                         f"{path.name}.json is missing or unreadable)")
    if trust_stamp and sidecar is not None and sidecar.sha256 == expected and stamp_matches(
            sidecar, path):
        return FileCheck(path=path, status="present", sha256=expected, expected=expected,
                         size=size, source=source)
    digest = file_digest(path)
    if digest != expected:
        truncated = (f"{size} bytes, expected {entry.size}; " if entry.sha256 and entry.size
                     and size != entry.size else "")
        return FileCheck(path=path, status="corrupt", sha256=digest, expected=expected,
                         size=size, source=source,
                         problem=f"{truncated}sha256 {digest}, expected {expected}")
    _refresh_stamp(entry, path, sidecar, digest)
    return FileCheck(path=path, status="present", sha256=digest, expected=expected, size=size,
                     source=source or "found")


def _refresh_stamp(entry: ModelEntry, path: Path, sidecar: Sidecar | None, digest: str) -> None:
    """Record that the file was verified in full now (best effort)."""
    if sidecar is None:
        sidecar = Sidecar(name=entry.name, kind=entry.kind, source="found", sha256=digest,
                          size=path.stat().st_size, created=now())
    elif stamp_matches(sidecar, path):
        return
    sidecar.verified = stamp_for(path)
    with contextlib.suppress(OSError):
        write_sidecar(path, sidecar)


def check_entry(entry: ModelEntry, settings: ModelSettings, *,
                trust_stamp: bool) -> list[FileCheck]:
    """Check every place the model may be: whisper's own cache first, then ours."""
    checks: list[FileCheck] = []
    url = official_url(entry)
    if url:
        checks.append(check_official(official_path(url, settings.resolved_whisper_root()), url))
    checks.append(check_own(entry, model_path(entry, settings), trust_stamp=trust_stamp))
    return checks


def first_present(checks: list[FileCheck]) -> FileCheck | None:
    """The first verified candidate."""
    return next((c for c in checks if c.status == "present"), None)


def refusal(name: str, checks: list[FileCheck]) -> str | None:
    """A message refusing the bad files of a model (None when none is bad)."""
    bad = [c for c in checks if c.status in ("corrupt", "unverified")]
    if not bad:
        return None
    lines = [f"refusing model {name!r}: its cached file is damaged or unknown:"]
    lines += [f"  {c.path}: {c.problem}" for c in bad]
    lines.append(f"delete it and run `python startup.py models pull {name}`")
    return "\n".join(lines)


def cached_model_file(name: str, settings: ModelSettings | None = None) -> Path | None:
    """The verified local file of a catalogue model, or None when it is not in the cache.

    The file's sha256 is checked (once per process per file state); a corrupt or truncated
    file raises ``ModelError`` naming it and its digest."""
    settings = settings or ModelSettings()
    entry = require_entry(name, settings)
    checks = check_entry(entry, settings, trust_stamp=False)
    found = first_present(checks)
    if found is not None:
        return found.path
    message = refusal(name, checks)
    if message:
        raise ModelError(message)
    return None


def installed_models(settings: ModelSettings | None = None) -> list[InstalledModel]:
    """Every catalogue model and whether a verified file of it is present (fully re-hashed)."""
    settings = settings or ModelSettings()
    rows: list[InstalledModel] = []
    for entry in catalogue_for(settings).models:
        checks = check_entry(entry, settings, trust_stamp=False)
        chosen = first_present(checks) or next(
            (c for c in checks if c.status != "missing"), checks[-1])
        rows.append(InstalledModel(
            name=entry.name, kind=entry.kind, description=entry.description,
            status=chosen.status, size=chosen.size if chosen.size is not None else entry.size,
            sha256=chosen.sha256, source=chosen.source, path=chosen.path, problem=chosen.problem,
        ))
    return rows


def official_checkpoints(settings: ModelSettings | None = None) -> list[OfficialCheckpoint]:
    """openai-whisper's own checkpoints in its cache folder, each checked against its URL."""
    settings = settings or ModelSettings()
    root = settings.resolved_whisper_root()
    if not root.is_dir():
        return []
    files = names_by_file()
    urls = official_urls()
    found: list[OfficialCheckpoint] = []
    for path in sorted(root.glob("*.pt")):
        names = files.get(path.name)
        if not names:
            continue
        check = check_official(path, urls[names[0]])
        found.append(OfficialCheckpoint(names=names, path=path, size=path.stat().st_size,
                                        verified=check.status == "present"))
    return found


def safe_name(name: str) -> str:
    """A file-name-safe form of a model name (for locks and temp folders)."""
    return re.sub(r"[^\w.-]+", "_", name)


@contextlib.contextmanager
def model_lock(settings: ModelSettings, name: str) -> Iterator[None]:
    """Hold an exclusive lock on one model, so two pulls of it do not write the same file."""
    folder = settings.resolved_dir() / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (Windows: no lock)
        yield
        return
    with (folder / f"{safe_name(name)}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
