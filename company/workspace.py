"""The workspace folder and its task store, checked before any work: a clear one-line error for
a workspace that is a file or read-only, or a ``company.db`` that is damaged or not SQLite."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from company.store import Store

MOVE_AWAY = "move it away (a new one is created) or pass another --workspace"


class WorkspaceError(ValueError):
    """The workspace cannot be used; the message says which path and what to do."""


def check_folder(workspace: Path) -> None:
    """Make sure ``workspace`` is a folder this process can write in (creating it)."""
    if workspace.exists() and not workspace.is_dir():
        raise WorkspaceError(f"workspace {workspace} is a file, not a folder: pass "
                             "--workspace DIR (or set COMPANY_WORKSPACE)")
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=workspace):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise WorkspaceError(f"workspace {workspace} is not writable ({reason}): fix its "
                             "permissions or pass another --workspace") from exc


def open_store(workspace: Path, store_path: Path | str) -> Store:
    """The workspace's store, once the folder is writable and the database is sound SQLite
    (a quick integrity check: about 0.1 s per 100 MB). ``store_path`` may also be a PostgreSQL
    URL (``config.store_location``): then the server must answer, at this code's schema."""
    from company.db.schema import SchemaError

    check_folder(workspace)
    if isinstance(store_path, str) and "://" in store_path:
        try:
            return Store(store_path)
        except SchemaError as exc:
            raise WorkspaceError(str(exc)) from exc
    store_path = Path(store_path)
    if store_path.exists() and not store_path.is_file():
        raise WorkspaceError(f"{store_path} is not a file: {MOVE_AWAY}")
    try:
        store = Store(store_path)
    except SchemaError as exc:
        raise WorkspaceError(str(exc)) from exc
    except sqlite3.Error as exc:
        raise WorkspaceError(f"{store_path} is not a usable SQLite database ({exc}): "
                             f"{MOVE_AWAY}") from exc
    try:
        verdict = store.integrity()
    except sqlite3.Error as exc:
        verdict = str(exc)
    if verdict != "ok":
        store.close()
        raise WorkspaceError(f"{store_path} is damaged ({' '.join(verdict.split())}): "
                             f"{MOVE_AWAY}")
    if not store.writable():
        store.close()
        raise WorkspaceError(f"{store_path} is read-only: fix its permissions or pass another "
                             "--workspace")
    return store


def export_run(store: Store, task_id: str, folder: Path, report: str | None,
               error: str | None) -> None:
    """Write a finished run's files: messages.jsonl, events.jsonl and report.md."""
    lines = [m.to_json() for m in store.messages(task_id)]
    (folder / "messages.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    events = [e.model_dump_json() for e in store.events(task_id)]
    (folder / "events.jsonl").write_text("\n".join(events) + "\n", encoding="utf-8")
    text = report or f"# No report\n\nThe run ended without a report: {error or 'unknown'}\n"
    (folder / "report.md").write_text(text + "\n", encoding="utf-8")
