"""Prompt templates as Jinja2 files under prompts/, overridable per SOP."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from pydantic import BaseModel

from company.config import PROJECT_ROOT

PROMPT_DIR = PROJECT_ROOT / "prompts"
T = TypeVar("T")


def load_data_file(path: Path, parse: Callable[[Any], T]) -> T:
    """A YAML data file of the prompts (worked examples, request facts) as ``parse`` makes it
    of the loaded YAML; read and parsed again only when the file changes."""
    stat = path.stat()
    return _parsed(path, stat.st_mtime_ns, stat.st_size, parse)


M = TypeVar("M", bound=BaseModel)


def load_model_list(path: Path, model: type[M], what: str) -> tuple[M, ...]:
    """A YAML data file holding a list of ``model`` entries (worked examples), read again
    only when the file changes; a ValueError saying "expected a list of ``what``" when the
    file holds something else."""
    entries = load_data_file(path, _list_parser(model))
    if entries is None:
        raise ValueError(f"{path}: expected a list of {what}")
    return entries


@functools.cache
def _list_parser(model: type[M]) -> Callable[[Any], tuple[M, ...] | None]:
    """One parser per model (the data-file cache keys on it): None when not a list."""
    def parse(entries: Any) -> tuple[M, ...] | None:
        if not isinstance(entries, list | None):
            return None
        return tuple(model.model_validate(entry) for entry in entries or [])
    return parse


@functools.lru_cache(maxsize=16)
def _parsed(path: Path, mtime_ns: int, size: int, parse: Callable[[Any], Any]) -> Any:
    return parse(yaml.safe_load(path.read_text()))


def template_name(action: str) -> str:
    """``AnalyzeRequest`` → ``analyze_request.j2``."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")
    return f"{snake}.j2"


@functools.lru_cache(maxsize=8)
def _environment(base: Path) -> Environment:
    """One Jinja2 environment per prompt folder, shared by every task (templates compile
    once; Jinja reloads a file that changed on disk)."""
    return Environment(
        loader=FileSystemLoader(str(base)), undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
    )


@functools.lru_cache(maxsize=64)
def _override(base: Path, path: Path, mtime_ns: int) -> Template:
    """A compiled override template, cached until the file changes."""
    return _environment(base).from_string(path.read_text())


@functools.lru_cache(maxsize=64)
def _inline(base: Path, text: str) -> Template:
    """A compiled inline template (an action's ``prompt``), compiled once."""
    return _environment(base).from_string(text)


class PromptLibrary:
    """Renders an action's template: the SOP's override if any, else prompts/<action>.j2."""

    def __init__(self, overrides: dict[str, Path] | None = None, base: Path = PROMPT_DIR) -> None:
        self.overrides = overrides or {}
        self.base = base
        self._env = _environment(base)

    def render(self, action: str, *, fallback: str | None = None, **variables: Any) -> str:
        """The prompt text for an action: the SOP's override, else ``prompts/<action>.j2``,
        else the action's own inline template (``fallback``)."""
        override = self.overrides.get(action)
        try:
            if override is not None:
                template = _override(self.base, override, override.stat().st_mtime_ns)
            else:
                template = self._env.get_template(template_name(action))
        except (TemplateNotFound, FileNotFoundError) as exc:
            if override is None and fallback is not None:
                template = _inline(self.base, fallback)
            else:
                raise FileNotFoundError(f"no prompt template for {action}: {exc}") from None
        return template.render(**variables).strip()
