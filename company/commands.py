"""Sub-commands of ``startup.py`` (graphs, transcribe, serve, research), imported lazily."""

from __future__ import annotations

import sys


def dispatch(name: str, argv: list[str]) -> int:
    """Run the named sub-command."""
    print(f"error: the {name!r} command is not available in this build", file=sys.stderr)
    return 2
