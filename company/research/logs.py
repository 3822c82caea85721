"""Run logs written for comparison: timestamps, durations and execution ids dropped, so two
sweeps' logs compare with ``diff -r``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from company.message import Message

# Wall-clock values, and graph execution ids (random per local run, assigned by a remote server).
VOLATILE_KEYS = frozenset({"created_at", "updated_at", "started_at", "finished_at", "ended_at",
                           "duration_s", "processing_s", "wall_s", "execution_id"})


def stable(value: Any) -> Any:
    """The value with volatile keys removed at every depth."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def stable_lines(messages: list[Message]) -> list[str]:
    """One JSON line per message, without volatile fields."""
    return [json.dumps(stable(m.model_dump(mode="json")), ensure_ascii=False, sort_keys=True)
            for m in messages]


def write_messages(path: Path, messages: list[Message]) -> None:
    """Write the comparable message log of one run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in stable_lines(messages)), encoding="utf-8")
