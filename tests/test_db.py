"""The database behind the store: schema revisions (Alembic) on both backends, the refusal of a
schema this code does not know, `db upgrade`/`db current`, `worker --check`, and migration of a
file from before migrations with its tasks kept."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from company import commands
from company.db.ddl import HEAD, SQLITE, baseline
from company.db.schema import SchemaError, current, upgrade
from company.db.target import DATABASE_URL_ENV, parse_target, redact, resolve_target
from company.message import Message
from company.status import TaskStatus
from company.store import Store
from tests.pg_support import PgServer, pg_server  # noqa: F401  (fixtures)


def old_sqlite_file(path: Path) -> None:
    """A company.db as the version before migrations wrote it, with one task and a message."""
    with sqlite3.connect(path) as db:
        for statement in baseline(SQLITE):
            db.execute(statement)
        db.execute("INSERT INTO tasks (id, request, sop_name, sop_text, status, created_at,"
                   " updated_at) VALUES ('t1', 'old request', 'default', 's', 'done', 'a', 'a')")
        db.execute("INSERT INTO messages VALUES ('t1', 1, 't1-00001', 'UserRequirement',"
                   " 'Boss', ?)", (Message(id="t1-00001", task_id="t1", seq=1,
                                           content="old request").to_json(),))


def sqlite_schema(path: Path) -> set[tuple[str, str]]:
    """Every table's and index's SQL, whitespace normalised."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    tidy = [(name, re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", " ".join(sql.split()))))
            for name, sql in rows]
    return set(tidy)


def test_locations_parse_and_the_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    assert parse_target("sqlite:///x/y.db").path == Path("x/y.db")
    assert parse_target(tmp_path / "a.db").kind == "sqlite"
    pg = parse_target("postgresql://me:s3cret@db:5432/company")
    assert pg.shared and pg.describe() == "postgresql://me:***@db:5432/company"
    assert "s3cret" not in redact("postgres://me:s3cret@db/x")
    with pytest.raises(ValueError, match="postgresql://"):
        parse_target("mysql://db/x")
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert resolve_target(None, tmp_path).path == tmp_path / "company.db"
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://u@h/d")
    assert resolve_target("other.db", tmp_path).kind == "postgresql"


def test_a_new_sqlite_file_is_at_head_with_alembics_schema(tmp_path: Path) -> None:
    Store(tmp_path / "fast.db").close()  # created at once by the store
    upgrade(parse_target(tmp_path / "slow.db"))  # created revision by revision by Alembic
    assert current(parse_target(tmp_path / "fast.db")) == HEAD
    assert sqlite_schema(tmp_path / "fast.db") == sqlite_schema(tmp_path / "slow.db")


def test_an_old_sqlite_file_upgrades_itself_on_open_and_keeps_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "company.db"
    old_sqlite_file(path)
    store = Store(path)
    task = store.get_task("t1")
    assert task is not None and task.request == "old request" and task.status is TaskStatus.DONE
    assert [m.content for m in store.messages("t1")] == ["old request"]
    store.close()
    assert current(parse_target(path)) == HEAD
    assert {"jobs", "blobs", "transcripts"} <= {name for name, _ in sqlite_schema(path)}


def test_a_sqlite_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "company.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num='0099_future'")
    with pytest.raises(SchemaError, match="0099_future, which this version does not know"):
        Store(path)


def test_postgres_refuses_a_database_without_the_schema_or_behind_it(
        pg_server: PgServer) -> None:  # noqa: F811
    url = pg_server.new_database("empty_template")
    with pytest.raises(SchemaError, match="no company schema.*python startup.py db upgrade"):
        Store(url)
    upgrade(parse_target(url), "0001_baseline")
    with pytest.raises(SchemaError, match="0001_baseline, older than.*db upgrade"):
        Store(url)


def test_a_postgres_migration_from_the_baseline_keeps_existing_tasks(
        pg_server: PgServer) -> None:  # noqa: F811
    import psycopg

    url = pg_server.new_database("empty_template")
    upgrade(parse_target(url), "0001_baseline")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tasks (id, request, sop_name, sop_text, status, created_at,"
                     " updated_at) VALUES ('t1', 'kept', 'default', 's', 'queued', 'a', 'a')")
    upgrade(parse_target(url))
    store = Store(url)
    task = store.get_task("t1")
    assert task is not None and task.request == "kept"
    store.close()


def test_db_commands_upgrade_and_show_the_revision(
        pg_server: PgServer, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = pg_server.new_database("empty_template")
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    assert commands.dispatch("db", ["current"]) == 0
    assert "none (this version needs" in capsys.readouterr().out
    assert commands.dispatch("worker", ["--check"]) == 1
    assert "python startup.py db upgrade" in capsys.readouterr().err
    for refusing in (["serve", "--workspace", str(tmp_path)],
                     ["worker", "--workspace", str(tmp_path)]):
        assert commands.dispatch(refusing[0], refusing[1:]) == 2  # a server refuses to start
        assert "run `python startup.py db upgrade`" in capsys.readouterr().err
    assert commands.dispatch("db", ["upgrade"]) == 0
    assert f"upgraded from none to revision {HEAD}" in capsys.readouterr().out
    assert commands.dispatch("db", ["upgrade"]) == 0
    assert f"already at revision {HEAD}" in capsys.readouterr().out
    assert commands.dispatch("db", ["current"]) == 0
    assert capsys.readouterr().out.strip() == f"{HEAD} (head)"
    assert commands.dispatch("worker", ["--check"]) == 0


def test_worker_check_on_the_sqlite_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert commands.dispatch("worker", ["--check", "--workspace", str(tmp_path)]) == 0
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://nobody@/nothing?host=/nonexistent")
    assert commands.dispatch("worker", ["--check"]) == 1


def test_resume_refuses_a_task_a_worker_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from company.cli import main
    from company.db.queue import JobQueue

    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    store = Store(tmp_path / "company.db")
    store.create_task("t1", "add 6 and 7", "default", "roles: []")
    queue = JobQueue(store)
    queue.enqueue("t1")
    queue.claim("elsewhere", ("company",), 1, 60)
    store.close()
    assert main(["--resume", "t1", "--workspace", str(tmp_path), "--no-preflight",
                 "--llm", "ollama:qwen2.5@http://127.0.0.1:9"]) == 2
    assert "is running on a worker now" in capsys.readouterr().err
