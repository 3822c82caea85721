"""``startup.py``: argument parsing and the run command (heavy imports stay lazy); the
helpers every command shares live in ``company.cli_common``."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

from company import commands
from company.cli_common import (
    CommonOptions,
    add_common,
    choose_llm,
    fail,
    load_settings,
    ollama_note,
    positive_usd,
    preflight,
)

SUBCOMMANDS = ("graphs", "transcribe", "serve", "research", "models", "notebook", "db",
               "worker")

EXAMPLES = """
commands:
  startup.py "request"                 run a request through the company (default SOP)
  startup.py --audio note.webm ["text"] send a voice request (transcribed by Whisper)
  startup.py --resume TASK_ID ["more"]  continue an interrupted task, or follow up on one
  startup.py graphs list|show|run ...   the AutoGPT graph catalogue and runner
  startup.py transcribe FILE...         only transcribe audio files
  startup.py serve [--no-runs]          the HTTP shim and voice page (--no-runs: API only)
  startup.py worker [--only transcribe|company]  run queued tasks from the shared database
  startup.py db upgrade|current         the store's schema (migrations)
  startup.py research ...               run request sets through SOP variants and compare
  startup.py models list|pull|import-whisper  the model cache (GGUF LLMs, Whisper checkpoints)
  startup.py notebook [ideas|items] [--open]  the Boss's notebook (done|edit|drop|export ...)
"""


def run_parser() -> argparse.ArgumentParser:
    """The parser of the default command: run (or resume) a request."""
    parser = argparse.ArgumentParser(
        prog="startup.py", description="Run a request through the company: the Analyst reads "
        "it, the Planner plans graph runs, the Executor runs them, and you get a report.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("request", nargs="*", help="what you want done (or a follow-up)")
    add_common(parser)
    parser.add_argument("--n-round", type=int, help="at most this many rounds")
    parser.add_argument("--investment", type=positive_usd, help="money budget in USD")
    parser.add_argument("--resume", metavar="TASK_ID", help="continue this task")
    parser.add_argument("--audio", metavar="FILE", help="a voice request (any common format)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--no-preflight", action="store_true",
                        help="skip checking the model server before the run")
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``startup.py``."""
    if argv and argv[0] in SUBCOMMANDS:
        return commands.dispatch(argv[0], argv[1:])
    args = run_parser().parse_args(argv)
    try:
        return asyncio.run(run_command(args))
    except KeyboardInterrupt:
        task_id = getattr(args, "task_id", None)
        if task_id is None:
            print("\ninterrupted before the task was stored", file=sys.stderr)
        else:
            print("\ninterrupted: the task's log is saved; continue it with "
                  f"`python startup.py --resume {task_id}`", file=sys.stderr)
        return 130
    except sqlite3.Error as exc:  # a store damaged while running (checked sound at start)
        return fail(f"the task store failed ({exc}): move the workspace's company.db away or "
                    "pass another --workspace")
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "psycopg":
            raise
        return fail(f"the database failed ({' '.join(str(exc).split())}): check that the "
                    "PostgreSQL server in `store` / $COMPANY_DATABASE_URL is up")


async def run_command(args: argparse.Namespace) -> int:
    """Run or resume a request and show it live."""
    from rich.console import Console

    from company.company import Company, new_task_id
    from company.live import follow
    from company.llm.base import LLMError
    from company.payloads import VoiceRequestPayload
    from company.run_options import RunOptions, choose_sop, resolve_run
    from company.sop import SOPError
    from company.status import TaskStatus
    from company.workspace import WorkspaceError, open_store

    request = " ".join(args.request).strip()
    if not request and not args.resume and not args.audio:
        return fail('give a request, e.g. python startup.py "summarize https://example.com"')
    try:
        config = load_settings(CommonOptions.from_args(args))
        options = RunOptions(n_round=args.n_round, investment=args.investment)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    try:
        store = open_store(config.workspace, config.store_location)
    except WorkspaceError as exc:
        return fail(str(exc))
    console = Console(stderr=args.json)
    choice = choose_llm(config, console)
    company = Company(config, store=store)
    try:
        if args.resume:
            task = store.get_task(args.resume)
            if task is None:
                return fail(f"no task {args.resume!r} in {store.path}")
            from company.db.queue import JobQueue

            if JobQueue(store).state(task.id) == "leased":
                return fail(f"task {task.id} is running on a worker now (the shared queue "
                            "holds it); follow it over HTTP, or resume it once it has finished")
            settings = company.settings_for(task, options)
            task_id = args.task_id = task.id
        else:
            settings = resolve_run(options, choose_sop(options, config), config)
            task_id = new_task_id()
    except SOPError as exc:
        return fail(str(exc))
    if not args.no_preflight:
        try:
            await preflight(company.provider, settings.model, console, config.llm.pull_missing)
        except LLMError as exc:
            return fail(f"{exc}{ollama_note(choice)}", 3)
    voice = None
    if args.audio:
        source = Path(args.audio)
        if not source.is_file():
            return fail(f"{source}: no such audio file")
        target = config.workspace / task_id / f"voice{source.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        voice = VoiceRequestPayload(audio_path=str(target), text=request, filename=source.name)
    try:
        if args.resume:
            if request or voice:
                company.add_boss_message(task_id, request, voice)
        else:
            company.create_task(request, options.model_copy(update={"sop": settings.sop}),
                                voice=voice, task_id=task_id)
    except ValueError as exc:
        return fail(str(exc))
    args.task_id = task_id  # stored: an interrupt from here on names it for --resume
    bus = company.buses.open(task_id)
    roles = [r.role_class.name for r in settings.sop.roles]
    watcher = asyncio.create_task(
        follow(_after(bus), console, roles, live=console.is_terminal and not args.json)
    )
    if not args.json:
        console.print(f"[bold]task {task_id}[/] · SOP {settings.sop.name} · model "
                      f"{settings.model}")
    outcome = await company.run_task(task_id, options if args.resume else None)
    await watcher
    if args.json:
        print(json.dumps(outcome.model_dump(mode="json"), indent=2))
    else:
        if outcome.report:
            from rich.markdown import Markdown

            console.print(Markdown(outcome.report))
        if outcome.error:
            console.print(f"[bold red]{outcome.status}:[/] {outcome.error}")
        console.print(f"workspace: {outcome.workspace} (report.md, messages.jsonl) · "
                      f"{outcome.rounds} rounds · {outcome.usage.calls} LLM calls · "
                      f"{outcome.usage.tokens} tokens · ${outcome.usage.cost:.4f}")
    return 0 if outcome.status is TaskStatus.DONE else 1


class _after:
    """A bus view that only shows events newer than when it was made."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.start = bus.last_seq

    def subscribe(self) -> Any:
        return self.bus.subscribe(after_seq=self.start)
