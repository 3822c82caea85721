"""Sub-commands of ``startup.py`` (graphs, transcribe, serve, research, models, notebook, db,
worker), lazily."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from company.cli_common import CommonOptions, LazyRoleLLM, add_common, fail, load_settings

if TYPE_CHECKING:
    from company.store import Store


def dispatch(name: str, argv: list[str]) -> int:
    """Run the named sub-command."""
    handlers = {"graphs": graphs, "transcribe": transcribe, "serve": serve, "research": research,
                "models": models, "notebook": notebook, "db": db, "worker": worker}
    try:
        return handlers[name](argv)
    except KeyboardInterrupt:
        return 130


def _split_common(prog: str, argv: list[str]) -> tuple[CommonOptions, list[str]]:
    """The common flags of ``argv``, and the rest for the sub-command's own parser."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    add_common(parser)
    common, rest = parser.parse_known_args(argv)
    return CommonOptions.from_args(common), rest


def graphs(argv: list[str]) -> int:
    """``startup.py graphs list|show|run ...``."""
    from company.graphs.cli import graphs_command
    from company.graphs.config import GraphSettings

    common, rest = _split_common("startup.py graphs", argv)
    try:
        config = load_settings(common)
        settings = GraphSettings.model_validate(config.graphs)
    except ValueError as exc:
        return fail(str(exc))
    from company.services import Services

    return asyncio.run(graphs_command(rest, llm=LazyRoleLLM(config, "Executor"),
                                      settings=settings,
                                      services=Services(config).block_services()))


def transcribe(argv: list[str]) -> int:
    """``startup.py transcribe FILE... [--json]``."""
    from company.speech.cli import transcribe_command
    from company.speech.settings import WhisperSettings

    parser = argparse.ArgumentParser(prog="startup.py transcribe",
                                     description="Transcribe audio files with Whisper.")
    parser.add_argument("files", nargs="+", help="audio files (wav, mp3, m4a, ogg, webm, flac)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--format", "-f", action="append", default=[], dest="formats",
                        choices=["txt", "json", "srt", "vtt", "tsv", "all"],
                        help="also write each file as this format (repeat for several; all: "
                        "every one), as Whisper's CLI does")
    parser.add_argument("--output-dir", "-o", default=".",
                        help="where --format files go (default: the current folder)")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar even when stderr is not a terminal")
    words = parser.add_argument_group("word timestamps (as Whisper's CLI)")
    words.add_argument("--word-timestamps", action="store_true",
                       help="time every word (JSON 'words', word-level srt/vtt layout); an "
                       "extra decoder pass per 30 s window")
    words.add_argument("--highlight-words", action="store_true",
                       help="underline each word as it is spoken in srt/vtt")
    words.add_argument("--max-line-width", type=int, help="characters per subtitle line")
    words.add_argument("--max-line-count", type=int, help="lines per subtitle")
    words.add_argument("--max-words-per-line", type=int, help="words per subtitle line")
    add_common(parser)
    args = parser.parse_args(argv)
    layout = [name for name in ("highlight_words", "max_line_width", "max_line_count",
                                "max_words_per_line") if getattr(args, name)]
    if layout and not args.word_timestamps:
        return fail(f"--{layout[0].replace('_', '-')} needs --word-timestamps")
    try:
        config = load_settings(CommonOptions.from_args(args))
        settings = WhisperSettings.model_validate(config.speech)
    except ValueError as exc:
        return fail(str(exc))
    from company.speech.formats import SubtitleOptions

    formats = (["txt", "json", "srt", "vtt", "tsv"] if "all" in args.formats
               else args.formats)
    subtitles = SubtitleOptions(max_line_width=args.max_line_width,
                                max_line_count=args.max_line_count,
                                highlight_words=args.highlight_words,
                                max_words_per_line=args.max_words_per_line)
    return transcribe_command(args.files, settings=settings, as_json=args.json,
                              show_progress=True if args.progress else None, formats=formats,
                              output_dir=args.output_dir,
                              word_timestamps=True if args.word_timestamps else None,
                              subtitles=subtitles)


def serve(argv: list[str]) -> int:
    """``startup.py serve``: the HTTP shim and voice page."""
    from company.api.serve import serve_command
    from company.api.settings import ApiSettings

    common, rest = _split_common("startup.py serve", argv)
    try:
        config = load_settings(common)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    try:
        settings = ApiSettings.from_config(config.api)
    except ValueError as exc:  # pydantic's ValidationError included
        return fail(f"invalid api settings: {exc}")
    return serve_command(rest, config=config, settings=settings)


def research(argv: list[str]) -> int:
    """``startup.py research``: SOP variants over a request set."""
    from company.research.cli import research_command

    return research_command(argv)


def models(argv: list[str]) -> int:
    """``startup.py models list|pull|import-whisper``: the model cache."""
    from company.models.cli import models_command
    from company.models.settings import ModelSettings

    common, rest = _split_common("startup.py models", argv)
    try:
        config = load_settings(common)
        settings = ModelSettings.model_validate(config.models)
    except ValueError as exc:
        return fail(str(exc))
    return models_command(rest, settings=settings)


def notebook(argv: list[str]) -> int:
    """``startup.py notebook [ideas|items] | done|edit|drop|reopen ID | export``: the Boss's
    notebook in the workspace's store."""
    from company.notebook_cli import notebook_command
    from company.workspace import WorkspaceError, open_store

    common, rest = _split_common("startup.py notebook", argv)
    try:
        config = load_settings(common)
    except (ValueError, OSError) as exc:
        return fail(str(exc))

    def store() -> Store:
        return open_store(config.workspace, config.store_location)

    try:
        return notebook_command(rest, store)
    except WorkspaceError as exc:
        return fail(str(exc))


def db(argv: list[str]) -> int:
    """``startup.py db upgrade|current``: the store's schema revisions."""
    from company.db.cli import db_command

    common, rest = _split_common("startup.py db", argv)
    try:
        config = load_settings(common)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    return db_command(rest, config)


def worker(argv: list[str]) -> int:
    """``startup.py worker [--concurrency N] [--only transcribe|company] [--check]``."""
    from company.db.cli import worker_command

    common, rest = _split_common("startup.py worker", argv)
    try:
        config = load_settings(common)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    return worker_command(rest, config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(dispatch(sys.argv[1], sys.argv[2:]))
