"""Where the store lives: a SQLite file (the embedded default) or a PostgreSQL URL."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DATABASE_URL_ENV = "COMPANY_DATABASE_URL"
"""Overrides the config's ``store`` (a path, ``sqlite:///path`` or ``postgresql://...``)."""
_PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_PASSWORD = re.compile(r"(?<=://)([^:/@]*):[^@/]*@")


class DatabaseTarget(BaseModel):
    """A parsed store location: ``kind`` sqlite (``path``) or postgresql (``url``)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    path: Path | None = None
    url: str | None = None

    @property
    def shared(self) -> bool:
        """True when processes on other machines can share it (PostgreSQL)."""
        return self.kind == "postgresql"

    def describe(self) -> str:
        """The location for messages, with any password hidden."""
        if self.kind == "postgresql":
            return redact(self.url or "")
        return str(self.path)

    def sqlalchemy_url(self) -> str:
        """The URL SQLAlchemy (Alembic) opens: psycopg 3 for PostgreSQL."""
        if self.kind == "postgresql":
            rest = (self.url or "").split("://", 1)[1]
            return f"postgresql+psycopg://{rest}"
        return f"sqlite:///{self.path}"

    def libpq_url(self) -> str:
        """The URL psycopg connects to (``postgresql://...``)."""
        rest = (self.url or "").split("://", 1)[1]
        return f"postgresql://{rest}"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", url)


def parse_target(location: str | Path) -> DatabaseTarget:
    """A store location: a path, ``sqlite:///path``, ``:memory:`` or a PostgreSQL URL."""
    if isinstance(location, Path):
        return DatabaseTarget(kind="sqlite", path=location)
    text = location.strip()
    if text.startswith(_PG_SCHEMES):
        return DatabaseTarget(kind="postgresql", url=text)
    if text.startswith("sqlite:///"):
        return DatabaseTarget(kind="sqlite", path=Path(text[len("sqlite:///"):]))
    if "://" in text:
        raise ValueError(f"store {redact(text)!r}: use a file path, sqlite:///PATH or "
                         "postgresql://USER:PASSWORD@HOST:5432/DB")
    return DatabaseTarget(kind="sqlite", path=Path(text))


def resolve_target(setting: str | None, workspace: Path) -> DatabaseTarget:
    """The store to open: $COMPANY_DATABASE_URL, else the config's ``store``, else
    ``<workspace>/company.db``."""
    env = os.environ.get(DATABASE_URL_ENV, "").strip()
    chosen = env or (setting or "").strip()
    if not chosen:
        return DatabaseTarget(kind="sqlite", path=workspace / "company.db")
    return parse_target(chosen)
