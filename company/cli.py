"""``startup.py``: argument parsing and the run command (heavy imports stay lazy)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

SUBCOMMANDS = ("graphs", "transcribe", "serve", "research", "models")

EXAMPLES = """
commands:
  startup.py "request"                 run a request through the company (default SOP)
  startup.py --audio note.webm ["text"] send a voice request (transcribed by Whisper)
  startup.py --resume TASK_ID ["more"]  continue an interrupted task, or follow up on one
  startup.py graphs list|show|run ...   the AutoGPT graph catalogue and runner
  startup.py transcribe FILE...         only transcribe audio files
  startup.py serve                      the HTTP shim and voice page
  startup.py research ...               run request sets through SOP variants and compare
  startup.py models list|pull|import-whisper  the model cache (GGUF LLMs, Whisper checkpoints)
"""


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every command takes."""
    parser.add_argument("--config", help="config YAML (default config/config.yaml)")
    parser.add_argument("--workspace", help="where runs write (default workspace/)")
    parser.add_argument("--llm", help="provider:model[@host], e.g. ollama:qwen2.5 or "
                        "openai:gpt-4o-mini@http://host/v1")
    parser.add_argument("--sop", help="SOP name under config/sops/ or a YAML path")
    parser.add_argument("--whisper-model", help="Whisper model name or checkpoint path "
                        "(also WHISPER_MODEL)")
    parser.add_argument("--cache", choices=("off", "record", "replay", "auto"),
                        help="LLM record/replay cache mode")


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


def positive_usd(text: str) -> float:
    """An ``--investment``: a finite number of USD above zero (NaN and inf are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of USD, not {text!r}")
    return value


def load_settings(args: argparse.Namespace) -> Any:
    """The config with this command's flags applied."""
    from company.config import apply_llm_spec, load_config
    from company.llm.spec import parse_llm_spec

    config = load_config(args.config)
    if args.workspace:
        config.workspace = Path(args.workspace)
    if args.llm:
        apply_llm_spec(config, parse_llm_spec(args.llm))
    if args.cache:
        config.llm.cache = args.cache
    if getattr(args, "whisper_model", None):
        config.speech["model"] = args.whisper_model
    elif os.environ.get("WHISPER_MODEL"):
        config.speech.setdefault("model", os.environ["WHISPER_MODEL"])
    if args.sop:
        config.sop = args.sop
    return config


def fail(message: str, code: int = 2) -> int:
    """Print one clear error line and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    """Entry point of ``startup.py``."""
    if argv and argv[0] in SUBCOMMANDS:
        from company import commands

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


async def preflight(company: Any, model: str, console: Any, pull: bool) -> None:
    """Check the model server answers and the model is there (pull it with a progress bar)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    if not pull and company.provider.name != "embedded":
        if not await company.provider.reachable():
            from company.llm.base import LLMUnavailable

            raise LLMUnavailable(f"cannot reach the model server at {company.provider.host}"
                                 " (start Ollama with `ollama serve`)")
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=console, transient=True) as progress:
        bar = progress.add_task(f"checking {model}", total=None)

        def on_pull(status: str, completed: int | None, total: int | None) -> None:
            progress.update(bar, description=f"pulling {model}: {status}", completed=completed,
                            total=total)

        await company.provider.ensure_model(model, on_pull)


def ollama_note(choice: Any) -> str:
    """What auto tried before the embedded model, for error messages."""
    if not choice.ollama_tried:
        return ""
    return (f"\nalso tried: an Ollama server at {choice.ollama_tried} (no answer; start one with "
            "`ollama serve` or set OLLAMA_HOST)")


def choose_llm(config: Any, console: Any) -> Any:
    """Resolve ``llm.provider: auto`` once for this process and say what was chosen and why."""
    from company.llm.select import resolve_auto

    choice = resolve_auto(config)
    console.print(f"[dim]{choice.describe()}[/]")
    return choice


async def run_command(args: argparse.Namespace) -> int:
    """Run or resume a request and show it live."""
    from rich.console import Console

    from company.live import follow
    from company.llm.base import LLMError
    from company.payloads import VoiceRequestPayload
    from company.sop import SOPError, load_sop, parse_sop
    from company.team import Company, new_task_id
    from company.workspace import WorkspaceError, open_store

    request = " ".join(args.request).strip()
    if not request and not args.resume and not args.audio:
        return fail('give a request, e.g. python startup.py "summarize https://example.com"')
    try:
        config = load_settings(args)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    try:
        store = open_store(config.workspace, config.store_path)
    except WorkspaceError as exc:
        return fail(str(exc))
    console = Console(stderr=args.json)
    choice = choose_llm(config, console)
    company = Company(config, store=store)
    if args.investment is not None:
        try:
            company.invest(args.investment)
        except ValueError as exc:
            return fail(str(exc))
    company.n_round = args.n_round
    try:
        if args.resume:
            task = store.get_task(args.resume)
            if task is None:
                return fail(f"no task {args.resume!r} in {store.path}")
            sop = parse_sop(task.sop_text, source=task.sop_name)
            task_id = args.task_id = task.id
        else:
            sop = load_sop(config.sop)
            task_id = new_task_id()
    except SOPError as exc:
        return fail(str(exc))
    model = company.model_for(sop)
    if not args.no_preflight:
        try:
            await preflight(company, model, console, config.llm.pull_missing)
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
            company.create_task(request, sop=sop, voice=voice, task_id=task_id)
    except ValueError as exc:
        return fail(str(exc))
    args.task_id = task_id  # stored: an interrupt from here on names it for --resume
    bus = company.open_bus(task_id)
    roles = [r.name for r in sop.roles]
    watcher = asyncio.create_task(
        follow(_after(bus), console, roles, live=console.is_terminal and not args.json)
    )
    if not args.json:
        console.print(f"[bold]task {task_id}[/] · SOP {sop.name} · model {model}")
    outcome = await company.run_task(task_id)
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
    return 0 if outcome.status == "done" else 1


class _after:
    """A bus view that only shows events newer than when it was made."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.start = bus.last_seq

    def subscribe(self) -> Any:
        return self.bus.subscribe(after_seq=self.start)
