"""Record/replay cache of LLM calls, stored in SQLite."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from enum import StrEnum

from company.llm.base import ChatRequest, ChatResult, ReplayMiss
from company.store import Store, StoredCall


class CacheMode(StrEnum):
    """off: never; record: call and store; replay: stored only; auto: stored else call."""

    OFF = "off"
    RECORD = "record"
    REPLAY = "replay"
    AUTO = "auto"


def request_key(provider: str, request: ChatRequest, scope: str = "") -> str:
    """A stable hash of provider, model, messages, schema, options, answer bound and caller scope.

    Who asks (``request.role``/``request.action``) is deliberately left out: labelling calls
    must not invalidate recorded answers. The answer bound counts only when set, so requests
    without one keep the keys they had before bounds existed."""
    fields: dict[str, object] = {
        "provider": provider,
        "model": request.model,
        "messages": request.messages,
        "schema": request.json_schema,
        "options": request.options,
        "scope": scope,
    }
    if request.max_tokens is not None:
        fields["max_tokens"] = request.max_tokens
    blob = json.dumps(
        fields,
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    """Looks calls up by (namespace, key, occurrence) so repeated identical calls stay distinct."""

    def __init__(self, store: Store, namespace: str, mode: CacheMode) -> None:
        self.store = store
        self.namespace = namespace
        self.mode = mode
        self._seen: dict[str, int] = defaultdict(int)

    def next_occurrence(self, key: str) -> int:
        """Count one more use of this key in this run; return its index."""
        occurrence = self._seen[key]
        self._seen[key] += 1
        return occurrence

    def lookup(self, key: str, occurrence: int) -> ChatResult | None:
        """The recorded answer, or None; in replay mode a miss raises ReplayMiss."""
        if self.mode is CacheMode.OFF or self.mode is CacheMode.RECORD:
            return None
        hit = self.store.get_call(self.namespace, key, occurrence)
        if hit is None:
            if self.mode is CacheMode.REPLAY:
                raise ReplayMiss(
                    f"replay mode: no recorded answer for this call (cache '{self.namespace}',"
                    f" key {key[:12]}…, occurrence {occurrence}); record it first"
                )
            return None
        return ChatResult(**hit.model_dump())

    def save(self, key: str, occurrence: int, result: ChatResult) -> None:
        """Store an answer unless the mode is off or replay."""
        if self.mode in (CacheMode.RECORD, CacheMode.AUTO):
            self.store.put_call(self.namespace, key, occurrence, StoredCall(**result.model_dump()))
