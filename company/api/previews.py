"""Previews of big values in API answers: strings cut with a marker that says how big the value
was and where the whole of it is, and JSON values fitted to a byte budget."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from company.api.schemas import MessageOut
from company.api.settings import ApiSettings
from company.store import MessageHead

TRUNCATED_KEY = "_truncated"
"""A payload or event data too big to preview becomes ``{TRUNCATED_KEY: marker}``."""


def message_url(task_id: str, seq: int) -> str:
    """Where the full message is."""
    return f"/v1/tasks/{task_id}/messages/{seq}"


def report_url(task_id: str) -> str:
    """Where the full report is."""
    return f"/v1/tasks/{task_id}/report"


def human_chars(count: int) -> str:
    """``3145728`` -> ``3.1M chars``."""
    if count < 1000:
        return f"{count} chars"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k chars"
    return f"{count / 1_000_000:.1f}M chars"


def marker(total_chars: int | None, see: str | None = None) -> str:
    """``… [truncated: 3.1M chars, see GET /v1/tasks/t1/messages/2]``."""
    size = f": {human_chars(total_chars)}" if total_chars is not None else ""
    where = f", see GET {see}" if see else ""
    return f"… [truncated{size}{where}]"


def clip_text(text: str, max_chars: int, see: str | None = None,
              total_chars: int | None = None) -> str:
    """``text`` itself when short, else its start and a marker, ``max_chars`` in all
    (``total_chars``: the full length when ``text`` is already a prefix)."""
    total = len(text) if total_chars is None else total_chars
    if total <= max_chars and len(text) <= max_chars:
        return text
    note = marker(total, see)
    return text[:max(max_chars - len(note), 0)] + note


def clip_strings(value: Any, max_chars: int, see: str | None = None) -> Any:
    """A JSON value with every string (keys too) cut to ``max_chars``."""
    if isinstance(value, str):
        return clip_text(value, max_chars, see)
    if isinstance(value, dict):
        return {clip_text(str(k), max_chars): clip_strings(v, max_chars, see)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clip_strings(v, max_chars, see) for v in value]
    return value


def json_size(value: Any) -> int:
    """Characters of ``value`` as compact JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


def fit(value: Any, max_bytes: int, max_chars: int, see: str | None = None) -> Any:
    """``value`` cut to about ``max_bytes`` of JSON: strings to ``max_chars``, then shorter;
    when even that is too big (a huge list), a dict or list becomes ``{TRUNCATED_KEY: marker}``
    and anything else the marker alone."""
    cap = max_chars
    while True:
        clipped = clip_strings(value, cap, see)
        if json_size(clipped) <= max_bytes:
            return clipped
        if cap <= 64:
            note = marker(None, see)
            return {TRUNCATED_KEY: note} if isinstance(value, dict | list) else note
        cap //= 4


def preview_messages(heads: list[MessageHead], task_id: str, settings: ApiSettings,
                     public: Callable[[dict[str, Any] | None], dict[str, Any] | None]
                     ) -> list[MessageOut]:
    """A task's messages as GET shows them: each cut to ``max_view_message_bytes``, all of them
    to ``max_view_task_bytes``; past that budget, older messages keep only a marker."""
    budget = settings.max_view_task_bytes
    shown: list[MessageOut] = []
    for head in reversed(heads):  # the newest first: they matter most
        see = message_url(task_id, head.seq)
        if budget > 0:
            content = clip_text(head.content, settings.max_view_chars, see, head.content_chars)
            payload: dict[str, Any] | None = None
            if head.payload is not None:
                room = max(settings.max_view_message_bytes - len(content), 1024)
                payload = fit(public(head.payload), room, settings.max_view_chars, see)
            elif head.payload_chars is not None:
                payload = {TRUNCATED_KEY: marker(head.payload_chars, see)}
            budget -= len(content) + (json_size(payload) if payload is not None else 0)
        else:
            content = marker(head.content_chars, see) if head.content_chars else ""
            payload = None if head.payload_chars is None else {
                TRUNCATED_KEY: marker(head.payload_chars, see)}
        shown.append(MessageOut(id=head.id, seq=head.seq, cause_by=head.cause_by,
                                sent_from=head.sent_from, send_to=head.send_to,
                                content=content, payload=payload,
                                created_at=head.created_at))  # type: ignore[arg-type]
    return shown[::-1]
