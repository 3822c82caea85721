"""Real weights for ``real_model`` tests: read from the model cache, never downloaded here.

``make test`` pulls them first (``startup.py models pull``); a test run without them fails with
the command to run, instead of silently skipping what the suite promises to check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL_LLM = "qwen2.5-coder:0.5b"


def require_model(name: str) -> Path:
    """The verified cached file of catalogue model ``name``, or fail the test saying how to get
    it."""
    from company.models import ModelError, cached_model_file

    try:
        path = cached_model_file(name)
    except ModelError as exc:
        pytest.fail(f"the cached {name} is unusable: {exc}", pytrace=False)
    if path is None:
        pytest.fail(f"real model {name} is not in the model cache: run "
                    f"`python startup.py models pull {name}` (make test does)", pytrace=False)
    return path
