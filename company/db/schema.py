"""Schema revisions: Alembic applies them (``startup.py db upgrade``); a store opened on a
schema this code does not know refuses with the command to run.

The SQLite embedded default upgrades its own file on open (zero steps for one machine): a new
file gets every revision's statements at once and is stamped at ``HEAD``; an older file (one
from before migrations included) is upgraded by Alembic. PostgreSQL is never upgraded behind
the operator's back: servers and workers refuse until ``db upgrade`` has run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from company.db.ddl import HEAD, REVISIONS, SQLITE, head_statements
from company.db.target import DatabaseTarget

UPGRADE = "python startup.py db upgrade"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
KNOWN = tuple(name for name, _ in REVISIONS)
VERSION_TABLE = ("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                 "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")


class SchemaError(ValueError):
    """The database's schema is not the one this code reads; the message says what to run."""


def describe_mismatch(where: str, found: str | None) -> str:
    """Why a store at ``where`` with revision ``found`` cannot be used, and what to do."""
    if found is None:
        return (f"the database {where} has no company schema (revision none, this version "
                f"needs {HEAD}): run `{UPGRADE}`")
    if found in KNOWN:
        return (f"the database {where} has schema revision {found}, older than this "
                f"version's {HEAD}: run `{UPGRADE}`")
    return (f"the database {where} has schema revision {found}, which this version does not "
            f"know (it needs {HEAD}; the database was upgraded by a newer version): run that "
            f"version, or restore a backup and run `{UPGRADE}`")


def prepare_sqlite(db: sqlite3.Connection, path: str) -> None:
    """Bring a SQLite file to ``HEAD`` (creating a new one at once), or raise SchemaError for
    a revision this code does not know. ``db`` is in autocommit mode."""
    found = _sqlite_revision(db)
    if found == HEAD:
        return
    if found is not None and found not in KNOWN:
        raise SchemaError(describe_mismatch(path, found))
    db.execute("BEGIN IMMEDIATE")  # one opener creates a new file; the others wait and see it
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            for statement in head_statements(SQLITE):
                db.execute(statement)
            db.execute(VERSION_TABLE)
            db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (HEAD,))
            db.execute("COMMIT")
            return
        db.execute("ROLLBACK")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if path == ":memory:":
        raise SchemaError(describe_mismatch(path, found))
    if _sqlite_revision(db) != HEAD:
        upgrade(DatabaseTarget(kind="sqlite", path=Path(path)))


def _sqlite_revision(db: sqlite3.Connection) -> str | None:
    try:
        rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError:
        return None
    return str(rows[0][0]) if rows else None


def postgres_revision(conn: Any) -> str | None:
    """The revision a PostgreSQL database is at (None: no company schema)."""
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return str(rows[0][0]) if rows else None


def alembic_config(target: DatabaseTarget) -> Any:
    """Alembic's configuration for ``target`` (the URL travels as an attribute, not through
    the ini parser, so a password may hold any character)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = target.sqlalchemy_url()
    return config


def upgrade(target: DatabaseTarget, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (Alembic)."""
    from alembic import command

    if target.kind == "sqlite" and target.path is not None:
        target.path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(target), revision)


def current(target: DatabaseTarget) -> str | None:
    """The revision the database is at, read the way Alembic reads it (None: none)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(target.sqlalchemy_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
