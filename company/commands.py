"""Sub-commands of ``startup.py`` (graphs, transcribe, serve, research), imported lazily."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from company.cli import add_common, fail, load_settings


def dispatch(name: str, argv: list[str]) -> int:
    """Run the named sub-command."""
    handlers = {"graphs": graphs, "transcribe": transcribe, "serve": serve, "research": research}
    try:
        return handlers[name](argv)
    except KeyboardInterrupt:
        return 130


def _split_common(prog: str, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    add_common(parser)
    return parser.parse_known_args(argv)


def command_llm(config: Any, role: str) -> Any:
    """An LLM handle for commands that run outside a task (graph runs from the CLI)."""
    from company.llm.client import LLM
    from company.llm.usage import CostManager
    from company.team import build_provider

    llm = LLM(build_provider(config), model=config.llm.model,
              cost=CostManager(config.llm.prices), options=config.llm.options,
              max_retries=config.llm.max_retries)
    return llm.for_role(role)


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
    return asyncio.run(graphs_command(rest, llm=command_llm(config, "Executor"),
                                      settings=settings))


def transcribe(argv: list[str]) -> int:
    """``startup.py transcribe FILE... [--json]``."""
    from company.speech.cli import transcribe_command
    from company.speech.settings import WhisperSettings

    parser = argparse.ArgumentParser(prog="startup.py transcribe",
                                     description="Transcribe audio files with Whisper.")
    parser.add_argument("files", nargs="+", help="audio files (wav, mp3, m4a, ogg, webm, flac)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_common(parser)
    args = parser.parse_args(argv)
    try:
        config = load_settings(args)
        settings = WhisperSettings.model_validate(config.speech)
    except ValueError as exc:
        return fail(str(exc))
    return transcribe_command(args.files, settings=settings, as_json=args.json)


def serve(argv: list[str]) -> int:
    """``startup.py serve``: the HTTP shim and voice page."""
    from company.api.serve import serve_command

    return serve_command(argv)


def research(argv: list[str]) -> int:
    """``startup.py research``: SOP variants over a request set."""
    from company.research.cli import research_command

    return research_command(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(dispatch(sys.argv[1], sys.argv[2:]))
