#!/usr/bin/env python
"""``make eval``: run the eval request set through the company and print a scorecard per model.

A thin front to ``startup.py research`` (run in-process): it picks the request set, a subset
(``--limit``, ``--only``) and an output folder, runs the sweep, then writes ``<out>/eval.md``.
``--compare BEFORE AFTER`` prints two finished evals side by side instead (runs nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from company.research.metrics import RunRow

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SETS = {"main": ROOT / "config" / "eval" / "requests.jsonl",
        "heldout": ROOT / "config" / "eval" / "heldout.jsonl"}
DEFAULT_LLM = "embedded:qwen2.5-coder:1.5b"
DEFAULT_SOPS = ["default"]
EVAL_WHISPER = "base"
SUBSET_FILE = "requests.jsonl"
EVAL_ROOT = ROOT / "workspace" / "eval"

EXAMPLES = """
examples:
  make eval ARGS="--llm embedded:qwen2.5-coder:0.5b --limit 5"
  scripts/eval.py --set heldout --llm embedded:qwen2.5-coder:1.5b embedded:qwen2.5-coder:0.5b
  scripts/eval.py --only mul-basic voice-count --out workspace/eval/try1
  scripts/eval.py --resume workspace/eval/20261128-120000
  scripts/eval.py --compare workspace/eval/before workspace/eval/after
"""


class EvalInputError(ValueError):
    """A bad eval option or request file; the message names it."""


def eval_parser() -> argparse.ArgumentParser:
    """The eval's options."""
    parser = argparse.ArgumentParser(
        prog="scripts/eval.py", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the eval request set (every request's expectations checked) through "
        "the company with one or more models and print success, LLM calls, tokens and time.")
    parser.add_argument("--set", choices=sorted(SETS), default=None,
                        help="main (config/eval/requests.jsonl, the default) or heldout")
    parser.add_argument("--requests", metavar="FILE.jsonl", help="any request file instead")
    parser.add_argument("--llm", nargs="+", metavar="SPEC",
                        help=f"models to evaluate, provider:model[@host] (default {DEFAULT_LLM})")
    parser.add_argument("--sops", nargs="+", metavar="SOP",
                        help="SOP variants (default: default)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default workspace/eval/<timestamp>)")
    parser.add_argument("--limit", type=int, metavar="N", help="run only the first N requests")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these request ids")
    parser.add_argument("--concurrency", type=int, default=None, metavar="K",
                        help="runs at the same time (default 1: the CPU is the bottleneck)")
    parser.add_argument("--config", help="config YAML (default config/config.yaml)")
    parser.add_argument("--whisper-model", help="Whisper model for the voice notes (default: "
                        f"the config's, else '{EVAL_WHISPER}' from the model cache)")
    parser.add_argument("--resume", metavar="DIR", help="continue an interrupted eval")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="run nothing: print two finished evals' measures per model side by"
                        " side (success, plans rejected, re-asks, LLM calls, tokens, wall time,"
                        " prompt size per action)")
    return parser


def request_file(args: argparse.Namespace) -> Path:
    """The request set the options name."""
    if args.set and args.requests:
        raise EvalInputError("give --set or --requests, not both")
    return Path(args.requests) if args.requests else SETS[args.set or "main"]


def select(path: Path, only: list[str] | None, limit: int | None, out: Path) -> Path:
    """The request file to run: ``path`` itself, or (with --only/--limit) a subset of its lines
    written to ``out/requests.jsonl`` (relative audio paths made absolute)."""
    from company.research.requests import load_requests

    requests = load_requests(path)
    if limit is not None and limit < 1:
        raise EvalInputError("--limit must be at least 1")
    if not only and limit is None:
        return path
    chosen = list(requests.requests)
    if only:
        known = {r.id for r in chosen}
        missing = [i for i in only if i not in known]
        if missing:
            raise EvalInputError(f"--only: no request {', '.join(map(repr, missing))} in {path}")
        chosen = [r for r in chosen if r.id in set(only)]
    chosen = chosen[:limit] if limit is not None else chosen
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for request in chosen:
        line = lines[requests.lines[request.id] - 1]
        audio = requests.audio_path(request)
        if audio is not None and request.audio != str(audio.resolve()):
            data = json.loads(line)
            data["audio"] = str(audio.resolve())
            line = json.dumps(data, ensure_ascii=False)
        kept.append(line)
    out.mkdir(parents=True, exist_ok=True)
    subset = out / SUBSET_FILE
    subset.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return subset


def default_out() -> Path:
    """A new ``workspace/eval/<timestamp>`` folder name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, n = EVAL_ROOT / stamp, 1
    while out.exists():
        n += 1
        out = EVAL_ROOT / f"{stamp}-{n}"
    return out


def whisper_model(args: argparse.Namespace) -> str | None:
    """The Whisper model for voice notes: the flag, else None when the environment or the config
    names one, else the catalogue's ``base`` (read from the model cache: `make models`)."""
    if args.whisper_model or os.environ.get("WHISPER_MODEL"):
        return args.whisper_model
    from company.config import load_config

    return None if load_config(args.config).speech.get("model") else EVAL_WHISPER


def research_argv(args: argparse.Namespace) -> tuple[list[str], Path]:
    """The ``startup.py research`` command line for these options, and the output folder."""
    extra = ["--quiet"] if args.quiet else []
    if args.concurrency is not None:
        extra += ["--concurrency", str(args.concurrency)]
    if args.resume:
        given = [flag for flag, value in (("--set", args.set), ("--requests", args.requests),
                                          ("--llm", args.llm), ("--sops", args.sops),
                                          ("--out", args.out), ("--limit", args.limit),
                                          ("--only", args.only)) if value]
        if given:
            raise EvalInputError(f"--resume continues with the saved settings; drop "
                                 f"{', '.join(given)}")
        out = Path(args.resume)
        argv = ["--resume", str(out), *extra]
    else:
        path = request_file(args)
        out = Path(args.out) if args.out else default_out()
        if (out / "sweep.json").exists():
            raise EvalInputError(f"{out} already holds an eval: continue it with --resume {out}")
        chosen = select(path, args.only, args.limit, out)
        argv = ["--requests", str(chosen), "--out", str(out),
                "--sops", *(args.sops or DEFAULT_SOPS), "--llm", *(args.llm or [DEFAULT_LLM]),
                *extra]
        if args.concurrency is None:
            argv += ["--concurrency", "1"]
        if args.config:
            argv += ["--config", args.config]
    model = whisper_model(args)
    if model:
        argv += ["--whisper-model", model]
    return argv, out


def load_rows(out: Path) -> list[RunRow]:
    """The eval's rows from ``runs.jsonl``, their event counts recounted from ``sweep.db`` (so an
    eval recorded before those counts existed gets them, by the fallbacks of ``event_counts``)."""
    from company.research.cache_import import SWEEP_DB
    from company.research.metrics import with_event_counts
    from company.research.runlog import RUNS_FILE, RunLog
    from company.store import Store

    rows = list(RunLog(out / RUNS_FILE).load().values())
    if not rows or not (out / SWEEP_DB).is_file():
        return rows
    store = Store(out / SWEEP_DB)
    try:
        recounted = []
        for row in rows:
            events = store.events(row.run_id)
            recounted.append(with_event_counts(row, events) if events else row)
        return recounted
    finally:
        store.close()


def scorecard(out: Path) -> str | None:
    """``out/eval.md`` written from the eval's rows; None when no run finished."""
    from company.research.plan import SweepConfig
    from company.research.scorecard import EVAL_MD, render_scorecard

    rows = load_rows(out)
    if not rows:
        return None
    settings = SweepConfig.load(out)
    header = [
        "# Eval", "",
        f"- requests: `{settings.requests}` (digest {settings.requests_digest},"
        f" {len({r.request_id for r in rows})} requests run)",
        f"- models: {', '.join(settings.llms) or 'the SOPs own'} · SOPs:"
        f" {', '.join(Path(s).stem for s in settings.sops)} · concurrency {settings.concurrency}",
        f"- output: `{out}`",
    ]
    text = render_scorecard(header, rows)
    (out / EVAL_MD).write_text(text + "\n", encoding="utf-8")
    return text


def compare(before: Path, after: Path) -> str:
    """Two finished evals side by side, per model (counts recounted from their events)."""
    from company.research.errors import ResearchInputError
    from company.research.plan import SweepConfig
    from company.research.scorecard import render_comparison

    sides: list[tuple[str, list[RunRow]]] = []
    header = ["# Eval comparison", ""]
    for name, out in (("before", before), ("after", after)):
        if not (out / "sweep.json").is_file():
            raise EvalInputError(f"{out} holds no eval (no sweep.json)")
        rows = load_rows(out)
        if not rows:
            raise EvalInputError(f"{out}: no run finished")
        try:
            settings = SweepConfig.load(out)
        except ResearchInputError as exc:
            raise EvalInputError(str(exc)) from None
        label = f"{name}: {out.name}"
        sides.append((label, rows))
        header.append(f"- {label}: `{out}` · requests `{Path(settings.requests).name}`"
                      f" (digest {settings.requests_digest}, {len({r.request_id for r in rows})}"
                      f" run) · models {', '.join(settings.llms) or 'the SOPs own'}")
    return render_comparison(header, sides)


def main(argv: list[str] | None = None) -> int:
    """Run the eval; 0 when it ran (whatever the success rate), 2 on bad input, 3 when the
    model server cannot be reached, 130 when interrupted."""
    from company.research.cli import research_command
    from company.research.errors import ResearchInputError

    args = eval_parser().parse_args(argv)
    if args.compare:
        try:
            print(compare(*(Path(d) for d in args.compare)))
        except EvalInputError as exc:
            print(f"eval: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        research_args, out = research_argv(args)
    except (EvalInputError, ResearchInputError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    code = research_command(research_args)
    if code in (2, 3, 130):
        return code
    text = scorecard(out)
    if text is None:
        print(f"eval: no run finished in {out}", file=sys.stderr)
        return 1
    print(text)
    print(f"\nwritten to {out / 'eval.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
