"""Errors of the model cache, written for people (they name the model, file and what to do)."""

from __future__ import annotations


class ModelError(Exception):
    """A model could not be found, fetched or verified; the message says what to do."""


class UnknownModel(ModelError):
    """A name that is not in the model catalogue."""


class SourceFailed(Exception):
    """One source could not deliver a model; ``pull_model`` tries the next one."""
