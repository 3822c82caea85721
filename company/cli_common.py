"""What every ``startup.py`` command shares: the common flags, loading the config, choosing and
checking the LLM. Imports nothing else of the project at module level (so no import circle)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from company.config import AppConfig
    from company.llm.base import Provider
    from company.llm.select import ProviderChoice


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every command takes."""
    parser.add_argument("--config", help="config YAML (default config/config.yaml)")
    parser.add_argument("--workspace", help="where runs write (default workspace/)")
    parser.add_argument("--llm", help="provider:model[@host], e.g. ollama:qwen2.5 or "
                        "openai:gpt-4o-mini@http://host/v1")
    parser.add_argument("--sop", help="SOP name under config/sops/ or a YAML path")
    parser.add_argument("--whisper-model", help="Whisper model name or checkpoint path "
                        "(also WHISPER_MODEL)")
    parser.add_argument("--cache", choices=CACHE_MODES,
                        help="LLM record/replay cache mode")


CACHE_MODES = ("off", "record", "replay", "auto")


@dataclass(frozen=True)
class CommonOptions:
    """The common flags of a command (``add_common``); None means 'not given'. A dataclass, not
    a pydantic model: ``startup.py --help`` stays fast."""

    config: str | None = None
    workspace: str | None = None
    llm: str | None = None
    sop: str | None = None
    whisper_model: str | None = None
    cache: Literal["off", "record", "replay", "auto"] | None = None

    def __post_init__(self) -> None:
        if self.cache is not None and self.cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {', '.join(CACHE_MODES)}, not "
                             f"{self.cache!r}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CommonOptions:
        """The common flags of a parsed command line (those it lacks are not given)."""
        return cls(**{f.name: getattr(args, f.name, None) for f in fields(cls)})


def positive_usd(text: str) -> float:
    """An ``--investment``: a finite number of USD above zero (NaN and inf are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of USD, not {text!r}")
    return value


def load_settings(options: CommonOptions) -> AppConfig:
    """The config (``options.config``, else the default) with the other common flags applied."""
    from company.config import apply_llm_spec, load_config
    from company.llm.spec import parse_llm_spec

    config = load_config(options.config)
    if options.workspace:
        config.workspace = Path(options.workspace)
    if options.llm:
        apply_llm_spec(config, parse_llm_spec(options.llm))
    if options.cache:
        config.llm.cache = options.cache
    if options.whisper_model:
        config.speech["model"] = options.whisper_model
    elif os.environ.get("WHISPER_MODEL"):
        config.speech.setdefault("model", os.environ["WHISPER_MODEL"])
    if options.sop:
        config.sop = options.sop
    return config


def fail(message: str, code: int = 2) -> int:
    """Print one clear error line and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


def choose_llm(config: AppConfig, console: Any) -> ProviderChoice:
    """Resolve ``llm.provider: auto`` once for this process and say what was chosen and why."""
    from company.llm.select import resolve_auto

    choice = resolve_auto(config)
    console.print(f"[dim]{choice.describe()}[/]")
    return choice


async def preflight(provider: Provider, model: str, console: Any, pull: bool) -> None:
    """Check the model server answers and has the model (pulled with a progress bar)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from company.llm.providers import PROVIDERS

    row = PROVIDERS.get(provider.name)
    in_process = row is not None and row.one_model_per_process
    if not pull and not in_process:
        if not await provider.reachable():
            from company.llm.base import LLMUnavailable

            raise LLMUnavailable(f"cannot reach the model server at {provider.host}"
                                 " (start Ollama with `ollama serve`)")
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=console, transient=True) as progress:
        bar = progress.add_task(f"checking {model}", total=None)

        def on_pull(status: str, completed: int | None, total: int | None) -> None:
            progress.update(bar, description=f"pulling {model}: {status}", completed=completed,
                            total=total)

        await provider.ensure_model(model, on_pull)


def ollama_note(choice: ProviderChoice) -> str:
    """What auto tried before the embedded model, for error messages."""
    if not choice.ollama_tried:
        return ""
    return (f"\nalso tried: an Ollama server at {choice.ollama_tried} (no answer; start one with "
            "`ollama serve` or set OLLAMA_HOST)")


class LazyRoleLLM:
    """A RoleLLM for commands that run outside a task (graph runs from the CLI), built on first
    use: the model server is chosen when a graph first asks, so ``graphs list`` never probes."""

    def __init__(self, config: AppConfig, role: str) -> None:
        self.config = config
        self.role = role
        self._llm: Any = None

    def _get(self) -> Any:
        if self._llm is None:
            from rich.console import Console

            from company.llm.client import LLM
            from company.llm.providers import build_provider
            from company.llm.usage import CostManager

            choose_llm(self.config, Console(stderr=True))
            llm = LLM(build_provider(self.config), model=self.config.llm.model,
                      cost=CostManager(self.config.llm.prices), options=self.config.llm.options,
                      max_retries=self.config.llm.max_retries,
                      bounds=self.config.llm.bounds())
            self._llm = llm.for_role(self.role)
        return self._llm

    async def ask(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        """The answer's text."""
        return await self._get().ask(messages, **kwargs)

    async def ask_model(self, messages: list[dict[str, str]], output: Any, **kwargs: Any) -> Any:
        """A validated instance of ``output``."""
        return await self._get().ask_model(messages, output, **kwargs)

    async def ask_tools(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                        **kwargs: Any) -> Any:
        """One assistant turn with ``tools`` offered: text and/or tool calls."""
        return await self._get().ask_tools(messages, tools, **kwargs)
