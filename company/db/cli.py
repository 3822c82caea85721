"""``startup.py db upgrade|current`` and ``startup.py worker``: the shared store's schema, and a
process that runs queued work."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

from company.cli_common import add_common, fail

if TYPE_CHECKING:
    from company.config import AppConfig


def db_parser() -> argparse.ArgumentParser:
    """The parser of ``startup.py db``."""
    parser = argparse.ArgumentParser(
        prog="startup.py db", description="The store's schema: apply migrations (Alembic) or "
        "show the revision. The database is the config's `store` ($COMPANY_DATABASE_URL wins; "
        "default: SQLite at <workspace>/company.db).")
    add_common(parser)
    parser.add_argument("action", choices=("upgrade", "current"),
                        help="upgrade: apply every migration; current: print the revision")
    return parser


def db_command(argv: list[str], config: AppConfig) -> int:
    """Run ``db upgrade`` or ``db current``; 0 on success, 2 when the database fails."""
    from company.db.ddl import HEAD
    from company.db.schema import UPGRADE, current, upgrade

    args = db_parser().parse_args(argv)
    target = config.database
    where = target.describe()
    try:
        before = current(target)
        if args.action == "upgrade":
            upgrade(target)
            after = current(target)
            verb = "already at" if before == after else f"upgraded from {before or 'none'} to"
            print(f"{where}: {verb} revision {after}")
            return 0
    except Exception as exc:  # SQLAlchemy/psycopg/sqlite3 errors: one line, exit 2
        return fail(f"database {where}: {type(exc).__name__}: {' '.join(str(exc).split())}")
    if before == HEAD:
        print(f"{before} (head)")
    else:
        print(f"{before or 'none'} (this version needs {HEAD}: run `{UPGRADE}`)")
    return 0


def worker_parser() -> argparse.ArgumentParser:
    """The parser of ``startup.py worker``."""
    parser = argparse.ArgumentParser(
        prog="startup.py worker", description="Claim tasks from the database queue and run "
        "them (leases renewed while running; a dead worker's tasks resume elsewhere). SIGTERM: "
        "finish or hand back, exit 0.")
    add_common(parser)
    parser.add_argument("--concurrency", type=int, default=4,
                        help="company runs at once (default 4)")
    parser.add_argument("--only", choices=("transcribe", "company"),
                        help="transcribe: only voice notes' transcription (a GPU box); "
                        "company: only company runs")
    parser.add_argument("--check", action="store_true",
                        help="connect, check the schema, exit 0 (healthy) or 1")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"))
    return parser


def worker_command(argv: list[str], config: AppConfig) -> int:
    """Run a worker until SIGTERM/SIGINT; ``--check`` only checks the database."""
    from company.db.schema import SchemaError
    from company.db.settings import QueueSettings
    from company.store import Store
    from company.workspace import WorkspaceError, open_store

    args = worker_parser().parse_args(argv)
    if args.concurrency < 1:
        return fail("--concurrency must be at least 1")
    try:
        settings = QueueSettings.from_config(config.queue)
    except ValueError as exc:
        return fail(f"invalid queue settings: {exc}")
    if args.check:
        try:
            store = Store(config.store_location)
            ok = store.writable()
            store.close()
        except (SchemaError, Exception) as exc:
            print(f"unhealthy: {exc}", file=sys.stderr)
            return 1
        print(f"ok: {config.database.describe()}" if ok else "unhealthy: the database refuses "
              "writes", file=sys.stderr if not ok else sys.stdout)
        return 0 if ok else 1
    try:
        store = open_store(config.workspace, config.store_location)
    except WorkspaceError as exc:
        return fail(str(exc))
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from company.worker import KINDS

    kinds = KINDS[args.only]
    if "company" in kinds:
        from rich.console import Console

        from company.cli_common import choose_llm

        choose_llm(config, Console(stderr=True))
    try:
        asyncio.run(_serve(config, store, settings, args.concurrency, kinds))
    finally:
        store.close()
    return 0


async def _serve(config: AppConfig, store: object, settings: object, concurrency: int,
                 kinds: tuple[str, ...]) -> None:
    from company.company import Company
    from company.db.notify import JOBS, Listener, Wakeups, event_wakeups
    from company.worker import Worker

    company = Company(config, store=store)  # type: ignore[arg-type]
    wakeups = Wakeups() if company.store.shared else None
    worker = Worker(company, settings, concurrency=concurrency,  # type: ignore[arg-type]
                    kinds=kinds, wakeups=wakeups)  # type: ignore[arg-type]
    listener = None
    if wakeups is not None:
        listener = Listener(company.store.target.libpq_url(), (JOBS,), event_wakeups(wakeups))
        listener.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    logging.getLogger("company.worker").info(
        "worker %s: %s on %s", worker.name, "+".join(kinds), company.store.target.describe())
    try:
        await worker.serve()
    finally:
        if listener is not None:
            await listener.stop()
