"""``python startup.py research``: parse the options, validate everything, run the sweep."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from company.cli_common import CommonOptions, add_common, choose_llm, fail, load_settings, preflight

EPILOG = """
examples:
  startup.py research --sops default plan-only --requests config/research/sample.jsonl \\
      --repeat 3 --out workspace/research/s1
  startup.py research --sops default --requests r.jsonl --llm qwen2.5 llama3.2:3b --out s2 --judge
  startup.py research --replay --cache-from workspace/research/s1 --sops default plan-only \\
      --requests config/research/sample.jsonl --repeat 3 --out workspace/research/s1-replay
  startup.py research --resume workspace/research/s1
"""


def research_parser() -> argparse.ArgumentParser:
    """The ``research`` command's options: the common ones, less ``--sop`` and ``--llm``,
    which take several values here (``sops``, ``llms``)."""
    parser = argparse.ArgumentParser(
        prog="startup.py research", conflict_handler="resolve",
        description="Run every request of a request set through SOP variants (and models), "
        "each run isolated and recorded, then compare success, tokens, cost and time.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(parser)
    parser.add_argument("--sops", "--sop", nargs="+", metavar="SOP",
                        help="SOP names under config/sops/ or YAML paths")
    parser.add_argument("--requests", metavar="FILE.jsonl", help="the request set")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="runs per request, SOP and model (default 1)")
    parser.add_argument("--out", metavar="DIR", help="the sweep directory to create")
    parser.add_argument("--llm", nargs="+", metavar="SPEC", dest="llms",
                        help="models to compare, provider:model[@host] (default: each SOP's)")
    parser.add_argument("--concurrency", type=int, metavar="K",
                        help="runs at the same time (default 2)")
    parser.add_argument("--replay", action="store_true",
                        help="no model server: every LLM answer from the cache (a miss is an "
                        "error); see --cache-from")
    parser.add_argument("--cache-from", metavar="DIR",
                        help="a recorded sweep (directory or sweep.db) whose LLM answers to use")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue an interrupted sweep with its saved settings")
    parser.add_argument("--judge", action="store_true",
                        help="also score each report 1-10 with an LLM judge")
    parser.add_argument("--judge-llm", metavar="SPEC",
                        help="the judge's model (default: the first --llm, else the SOP's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    return parser


def settings_from(args: argparse.Namespace) -> Any:
    """A new sweep's settings from the flags (problems raise ResearchInputError)."""
    from company.research.errors import ResearchInputError
    from company.research.plan import SweepConfig

    missing = [flag for flag, value in (("--sops", args.sops), ("--requests", args.requests),
                                        ("--out", args.out)) if not value]
    if missing:
        raise ResearchInputError(f"give {', '.join(missing)} (or --resume DIR)")
    if args.repeat < 1 or (args.concurrency or 2) < 1:
        raise ResearchInputError("--repeat and --concurrency must be at least 1")
    if args.cache == "off":
        raise ResearchInputError("a sweep always records its LLM calls: --cache record, auto "
                                 "or replay")
    mode = "replay" if args.replay or args.cache == "replay" else (args.cache or "record")
    return SweepConfig(
        sops=list(args.sops), requests=args.requests, repeat=args.repeat,
        llms=list(args.llms or []), concurrency=args.concurrency or 2, judge=args.judge,
        judge_llm=args.judge_llm, cache_mode=mode, cache_from=args.cache_from,
        config=str(Path(args.config).resolve()) if args.config else None,
    )


def resume_settings(args: argparse.Namespace) -> tuple[Any, Path]:
    """A saved sweep's settings; only --concurrency may change on resume."""
    from company.research.errors import ResearchInputError
    from company.research.plan import SweepConfig

    given = [flag for flag, value in (("--sops", args.sops), ("--requests", args.requests),
                                      ("--out", args.out), ("--llm", args.llms),
                                      ("--cache-from", args.cache_from)) if value]
    if given:
        raise ResearchInputError(f"--resume takes the sweep's saved settings; drop "
                                 f"{', '.join(given)}")
    out = Path(args.resume)
    settings = SweepConfig.load(out)
    if args.concurrency is not None:
        settings = settings.model_copy(update={"concurrency": max(1, args.concurrency)})
    return settings, out


def research_command(argv: list[str]) -> int:
    """Entry point of ``startup.py research``; returns the exit code."""
    args = research_parser().parse_args(argv)
    try:
        return asyncio.run(research(args))
    except KeyboardInterrupt:
        where = args.resume or args.out
        print(f"\ninterrupted: finished runs are in {where}/runs.jsonl; continue with "
              f"`python startup.py research --resume {where}`", file=sys.stderr)
        return 130


async def research(args: argparse.Namespace, *, on_row: Any = None) -> int:
    """Validate every input, then run (or resume) the sweep and write its summary."""
    from rich.console import Console

    from company.llm.base import LLMError
    from company.research.cache_import import count_calls, import_calls
    from company.research.errors import ResearchInputError
    from company.research.plan import SWEEP_FILE, build_plan, check_unchanged, freeze
    from company.research.runlog import RUNS_FILE
    from company.research.runner import Sweep, open_store
    from company.research.summary import SUMMARY_MD, write_summary

    console = Console(stderr=True)
    try:
        if args.resume:
            settings, out = resume_settings(args)
        else:
            settings, out = settings_from(args), Path(args.out)
            if (out / SWEEP_FILE).exists() or (out / RUNS_FILE).exists():
                raise ResearchInputError(f"{out} already holds a sweep: continue it with "
                                         f"--resume {out}, or choose another --out")
        # the sweep's own config file (saved with it for --resume): not the --config of a
        # resumed command line, so it is loaded here; models and cache come from the plan
        base = load_settings(CommonOptions(config=settings.config,
                                           whisper_model=args.whisper_model))
        if not settings.llms and settings.cache_mode == "replay":
            if base.llm.provider == "auto":
                base.llm.provider = "ollama"  # replay calls no model: keep the recorded names
        elif not settings.llms:
            choose_llm(base, console)
        plan = build_plan(settings, base)
        if args.resume:
            check_unchanged(plan)
        else:
            plan.settings = freeze(settings, plan)
    except (ResearchInputError, ValueError, OSError) as exc:
        return fail(str(exc))
    store = open_store(out)
    try:
        if not args.resume:
            plan.settings.save(out)
            if settings.cache_from:
                imported = import_calls(settings.cache_from, store)
                console.print(f"took {imported} recorded LLM answers from {settings.cache_from}",
                              soft_wrap=True)
        if plan.settings.cache_mode == "replay" and count_calls(store) == 0:
            raise ResearchInputError("--replay needs recorded LLM answers: pass --cache-from "
                                     "DIR of a recorded sweep")
        sweep = Sweep(plan, out, store)
        if plan.settings.cache_mode != "replay":
            await check_servers(sweep, console, base.llm.pull_missing)
        outcome = await run_with_progress(sweep, console, quiet=args.quiet, on_row=on_row)
    except ResearchInputError as exc:
        return fail(str(exc))
    except LLMError as exc:
        return fail(str(exc), 3)
    finally:
        store.close()
    write_summary(out, plan, outcome.rows)
    ok = sum(1 for r in outcome.rows if r.success)
    console.print(f"{len(outcome.rows)} runs ({outcome.ran} now, {outcome.skipped} already done),"
                  f" {ok} successful · {out / SUMMARY_MD}", soft_wrap=True)
    if outcome.replay_misses:
        return fail(f"{len(outcome.replay_misses)} runs missed the replay cache (first: "
                    f"{outcome.replay_misses[0]}); record them first", 1)
    return 0


async def check_servers(sweep: Any, console: Any, pull: bool) -> None:
    """Check each model server answers and has its model (pulled if configured)."""
    seen = set()
    checks = [(sweep.providers[label], choice.model) for label, choice in sweep.plan.models.items()]
    if sweep.judge_provider is not None:
        checks.append((sweep.judge_provider, sweep.plan.judge.model))
    for provider, model in checks:
        if (provider.host, model) in seen:
            continue
        seen.add((provider.host, model))
        await preflight(provider, model, console, pull)


async def run_with_progress(sweep: Any, console: Any, *, quiet: bool, on_row: Any = None) -> Any:
    """Run the sweep under a rich progress bar (runs done, successes, failures)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    total = len(sweep.plan.runs)
    done = total - len(sweep.pending())
    counts = {"ok": 0, "failed": 0}
    with Progress(TextColumn("[bold]research[/]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=console,
                  disable=quiet) as progress:
        bar = progress.add_task("", total=total, completed=done)

        def advance(row: Any) -> None:
            counts["ok" if row.success else "failed"] += 1
            progress.update(bar, advance=1,
                            description=f"ok {counts['ok']} · failed {counts['failed']}")
            if on_row is not None:
                on_row(row)

        sweep.on_row = advance
        return await sweep.run()
