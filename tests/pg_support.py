"""A real PostgreSQL server for tests, started from the machine's binaries
(/usr/lib/postgresql/<version>/bin, installed by ``scripts/setup.sh test``): one server per
test session on a private unix socket, a template database at the schema's head, and a fresh
database (a copy of the template) per test. Tests that need it skip, saying why, only when the
binaries are missing."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_ROOTS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
TEMPLATE = "company_template"
_counter = itertools.count(1)


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    for root in PG_ROOTS:
        if (root / "initdb").exists() and (root / "pg_ctl").exists():
            return root
    return None


class PgServer:
    """A throw-away PostgreSQL cluster: trust auth, no TCP, fsync off."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="company-pg-"))
        self.data = self.base / "data"
        self.socket = self.base / "sock"
        self.port = 5432
        self._as: list[str] = []

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """initdb and pg_ctl start (as the ``postgres`` user when this process is root)."""
        self.socket.mkdir()
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.base, "postgres")
            shutil.chown(self.socket, "postgres")
            self.base.chmod(0o755)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "company",
                  "-E", "UTF8", "--no-sync")
        options = (f"-k {self.socket} -p {self.port} -c listen_addresses='' -F "
                   "-c max_connections=300 -c full_page_writes=off -c synchronous_commit=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.base / "log.txt"), "start")

    def url(self, database: str) -> str:
        """A libpq URL for ``database`` on this server's socket."""
        return f"postgresql://company@/{database}?host={self.socket}&port={self.port}"

    def admin(self, sql: str) -> None:
        """Run one statement in the ``postgres`` database (autocommit)."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self, template: str = TEMPLATE) -> str:
        """A fresh database copied from ``template``; its URL."""
        name = f"t{os.getpid()}_{next(_counter)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove its files."""
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


_SERVER: list[PgServer] = []
"""The process's server: test modules import the fixture, so each would get its own session
fixture; they share this one instead (stopped at exit)."""


def shared_server() -> PgServer:
    """Start the process's PostgreSQL server once, with a template database at the schema's
    head and an empty one; skip when the binaries are missing."""
    if _SERVER:
        return _SERVER[0]
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: run "
                    "`scripts/setup.sh test` (it installs Debian's postgresql)")
    server = PgServer(bin_dir)
    server.start()
    atexit.register(server.stop)
    _SERVER.append(server)
    from company.db.schema import upgrade
    from company.db.target import parse_target

    server.admin("CREATE DATABASE empty_template")
    server.admin(f"CREATE DATABASE {TEMPLATE}")
    upgrade(parse_target(server.url(TEMPLATE)))
    return server


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """The session's PostgreSQL server (see ``shared_server``)."""
    return shared_server()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh database at the schema's head, for one test."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store lives, once per backend: a SQLite file under tmp_path (its parent
    folder made on open), then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "nested" / "company.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_database()
