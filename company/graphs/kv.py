"""Durable key-value storage for PersistInformationBlock and RetrieveInformationBlock.

Values are JSON, keyed per user (as AutoGPT's `AgentNodeExecutionKeyValueData`): the blocks
build the scoped key (`agent#{graph_id}#{key}` or `global#{key}`), the store keeps
`(user_id, key) -> value`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from company.graphs.errors import LimitError


@runtime_checkable
class KeyValueStore(Protocol):
    """What the persistence blocks need: per-user JSON values by key."""

    async def get(self, user_id: str, key: str) -> Any:
        """The stored value, or None when the key was never set (or was set to null)."""
        ...

    async def set(self, user_id: str, key: str, value: Any, *, node_exec_id: str = "") -> Any:
        """Store `value` (replacing any earlier one) and return it as stored (JSON round trip)."""
        ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, SimpleNamespace):
        return vars(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def dump_value(value: Any, max_bytes: int | None = None) -> str:
    """`value` as compact JSON text; ValueError when it is not JSON data, LimitError when big."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot store the value: {err}") from None
    if max_bytes is not None and len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise LimitError(f"the value is over the store's limit of {max_bytes:,} bytes")
    return text


class MemoryKeyValueStore:
    """A store that lives as long as the object (tests, one-off runs); same JSON semantics."""

    def __init__(self, *, max_value_bytes: int | None = None):
        self.max_value_bytes = max_value_bytes
        self._data: dict[tuple[str, str], str] = {}

    async def get(self, user_id: str, key: str) -> Any:
        """The stored value, or None."""
        text = self._data.get((user_id, key))
        return None if text is None else json.loads(text)

    async def set(self, user_id: str, key: str, value: Any, *, node_exec_id: str = "") -> Any:
        """Store a value and return it as stored."""
        text = dump_value(value, self.max_value_bytes)
        self._data[(user_id, key)] = text
        return json.loads(text)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_kv (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    node_exec_id TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, key)
)
"""


class SqliteKeyValueStore:
    """A store in one SQLite file; each operation runs on a worker thread with its own
    connection, so several runs (and processes) may share the file."""

    def __init__(
        self, path: str | Path, *, max_value_bytes: int | None = None, timeout_s: float = 10.0
    ):
        self.path = Path(path)
        self.max_value_bytes = max_value_bytes
        self.timeout_s = timeout_s
        self._ready = False
        self._init_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            with self._init_lock:
                if not self._ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with closing(sqlite3.connect(self.path, timeout=self.timeout_s)) as conn:
                        conn.execute("PRAGMA journal_mode=WAL")
                        conn.execute(_SCHEMA)
                        conn.commit()
                    self._ready = True
        return sqlite3.connect(self.path, timeout=self.timeout_s)

    def _get(self, user_id: str, key: str) -> Any:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT value FROM graph_kv WHERE user_id = ? AND key = ?", (user_id, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def _set(self, user_id: str, key: str, value: Any, node_exec_id: str) -> Any:
        text = dump_value(value, self.max_value_bytes)
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO graph_kv (user_id, key, value, node_exec_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET "
                "value = excluded.value, node_exec_id = excluded.node_exec_id, "
                "updated_at = excluded.updated_at",
                (user_id, key, text, node_exec_id, time.time()),
            )
        return json.loads(text)

    async def get(self, user_id: str, key: str) -> Any:
        """The stored value, or None."""
        return await asyncio.to_thread(self._get, user_id, key)

    async def set(self, user_id: str, key: str, value: Any, *, node_exec_id: str = "") -> Any:
        """Store a value (JSON-encoded on the worker thread) and return it as stored."""
        return await asyncio.to_thread(self._set, user_id, key, value, node_exec_id)

    def keys(self, user_id: str) -> list[str]:
        """Every key stored for a user, sorted (for inspection and tests)."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT key FROM graph_kv WHERE user_id = ? ORDER BY key", (user_id,)
            ).fetchall()
        return [row[0] for row in rows]
