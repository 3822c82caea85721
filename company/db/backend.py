"""One connection per store, SQLite (``sqlite3``) or PostgreSQL (psycopg 3), with the same
calls: ``execute(sql, params)`` with ``?`` placeholders, ``BEGIN``/``COMMIT`` for atomic groups.
The dialect differences the store needs are named here (``Dialect``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from company.db.ddl import HEAD
from company.db.schema import SchemaError, describe_mismatch, postgres_revision, prepare_sqlite
from company.db.target import DatabaseTarget


@dataclass(frozen=True)
class Dialect:
    """SQL fragments that differ between the backends."""

    name: str
    begin: str
    now: str
    """Seconds since the epoch, as the database's clock tells (leases use one clock)."""
    skip_locked: str
    """Appended to a claim's row select: PostgreSQL skips rows another claimer holds."""


SQLITE_DIALECT = Dialect("sqlite", "BEGIN IMMEDIATE",
                         "((julianday('now') - 2440587.5) * 86400.0)", "")
POSTGRES_DIALECT = Dialect("postgresql", "BEGIN", "extract(epoch from clock_timestamp())",
                           " FOR UPDATE SKIP LOCKED")


class SqliteConnection:
    """A SQLite file in WAL mode, its schema brought to ``HEAD`` on open."""

    dialect = SQLITE_DIALECT
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            prepare_sqlite(self._db, path)
        except BaseException:
            self._db.close()
            raise

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement; the cursor has ``fetchall``, ``rowcount``."""
        return self._db.execute(sql, params)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def integrity(self) -> str:
        """``ok`` or SQLite's first complaint (``PRAGMA quick_check``)."""
        rows = self._db.execute("PRAGMA quick_check(1)").fetchall()
        return str(rows[0][0]) if rows else "no answer"

    def writable(self) -> bool:
        """True when a write goes through."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("CREATE TABLE IF NOT EXISTS _probe (x INTEGER)")
            self._db.execute("COMMIT")
            return True
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            return False


class PostgresConnection:
    """A psycopg 3 connection in autocommit mode; statements written with ``?`` are sent with
    ``%s``. Refuses a database whose schema revision is not ``HEAD``."""

    dialect = POSTGRES_DIALECT

    def __init__(self, target: DatabaseTarget) -> None:
        import psycopg

        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self._url = target.libpq_url()
        self._where = target.describe()
        self._sql: dict[str, str] = {}
        try:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise SchemaError(f"cannot connect to the database {self._where}: "
                              f"{' '.join(str(exc).split())}") from exc
        found = postgres_revision(self._conn)
        if found != HEAD:
            self._conn.close()
            raise SchemaError(describe_mismatch(self._where, found))

    def _translate(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = sql.replace("%", "%%").replace("?", "%s")
            self._sql[sql] = out
        return out

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement; the cursor has ``fetchall``, ``rowcount``."""
        return self._conn.execute(self._translate(sql), params)  # type: ignore[arg-type]

    @property
    def broken(self) -> bool:
        """True when the server closed the connection."""
        return bool(self._conn.closed or self._conn.broken)

    def reconnect(self) -> None:
        """Open a fresh connection after the old one broke."""
        import psycopg

        self._conn.close()
        self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def integrity(self) -> str:
        """``ok`` when the server answers (PostgreSQL checks its own pages)."""
        self._conn.execute("SELECT 1").fetchall()
        return "ok"

    def writable(self) -> bool:
        """True when the server accepts writes (not a read-only replica, not down)."""
        try:
            row = self._conn.execute("SHOW transaction_read_only").fetchone()
            return bool(row) and row[0] == "off"
        except Exception:
            return False


def connect(target: DatabaseTarget) -> SqliteConnection | PostgresConnection:
    """The connection for a store location."""
    if target.kind == "postgresql":
        return PostgresConnection(target)
    return SqliteConnection(str(target.path))
