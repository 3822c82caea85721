"""The error a sweep raises for bad input, before any run starts."""

from __future__ import annotations


class ResearchInputError(ValueError):
    """A sweep's input (SOP, request file, options, saved sweep) is unusable; names the file."""
