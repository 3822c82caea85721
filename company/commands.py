"""Sub-commands of ``startup.py`` (graphs, transcribe, serve, research, models), lazily."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from company.cli import add_common, fail, load_settings


def dispatch(name: str, argv: list[str]) -> int:
    """Run the named sub-command."""
    handlers = {"graphs": graphs, "transcribe": transcribe, "serve": serve, "research": research,
                "models": models}
    try:
        return handlers[name](argv)
    except KeyboardInterrupt:
        return 130


def _split_common(prog: str, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    add_common(parser)
    return parser.parse_known_args(argv)


def command_llm(config: Any, role: str) -> Any:
    """An LLM handle for commands that run outside a task (graph runs from the CLI); the model
    server is chosen when a graph first asks, so ``graphs list`` never probes for one."""
    return _LazyRoleLLM(config, role)


class _LazyRoleLLM:
    """A RoleLLM built on first use."""

    def __init__(self, config: Any, role: str) -> None:
        self.config = config
        self.role = role
        self._llm: Any = None

    def _get(self) -> Any:
        if self._llm is None:
            from rich.console import Console

            from company.cli import choose_llm
            from company.llm.client import LLM
            from company.llm.usage import CostManager
            from company.team import build_provider

            choose_llm(self.config, Console(stderr=True))
            llm = LLM(build_provider(self.config), model=self.config.llm.model,
                      cost=CostManager(self.config.llm.prices), options=self.config.llm.options,
                      max_retries=self.config.llm.max_retries)
            self._llm = llm.for_role(self.role)
        return self._llm

    async def ask(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        """The answer's text."""
        return await self._get().ask(messages, **kwargs)

    async def ask_model(self, messages: list[dict[str, str]], output: Any, **kwargs: Any) -> Any:
        """A validated instance of ``output``."""
        return await self._get().ask_model(messages, output, **kwargs)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(dispatch(sys.argv[1], sys.argv[2:]))
