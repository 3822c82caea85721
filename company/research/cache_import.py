"""Copy a recorded sweep's LLM answers into this sweep's store, to replay them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from company.research.errors import ResearchInputError
from company.store import Store

NAMESPACE_PREFIX = "research:"
SWEEP_DB = "sweep.db"


def sweep_db(path: str | Path) -> Path:
    """The store file of a sweep directory (or the file itself)."""
    path = Path(path)
    return path / SWEEP_DB if path.is_dir() else path


def import_calls(source: str | Path, store: Store) -> int:
    """Copy every research call recorded in ``source`` (a sweep dir or .db); return how many."""
    db = sweep_db(source)
    if not db.is_file():
        raise ResearchInputError(f"{db}: no recorded sweep to take LLM answers from")
    try:
        recorded = Store(db)
        try:
            rows = recorded.calls(NAMESPACE_PREFIX)
        finally:
            recorded.close()
    except sqlite3.Error as exc:
        raise ResearchInputError(f"{db}: cannot read recorded LLM calls: {exc}") from None
    with store.transaction():
        for namespace, key, occurrence, call in rows:
            store.put_call(namespace, key, occurrence, call)
    return len(rows)


def count_calls(store: Store) -> int:
    """How many research calls the store holds (0: nothing to replay)."""
    return store.count_calls(NAMESPACE_PREFIX)
