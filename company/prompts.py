"""Prompt templates as Jinja2 files under prompts/, overridable per SOP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from company.config import PROJECT_ROOT

PROMPT_DIR = PROJECT_ROOT / "prompts"


def template_name(action: str) -> str:
    """``AnalyzeRequest`` → ``analyze_request.j2``."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")
    return f"{snake}.j2"


class PromptLibrary:
    """Renders an action's template: the SOP's override if any, else prompts/<action>.j2."""

    def __init__(self, overrides: dict[str, Path] | None = None, base: Path = PROMPT_DIR) -> None:
        self.overrides = overrides or {}
        self._env = Environment(
            loader=FileSystemLoader(str(base)), undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        )

    def render(self, action: str, **variables: Any) -> str:
        """The prompt text for an action."""
        override = self.overrides.get(action)
        try:
            if override is not None:
                template = self._env.from_string(override.read_text())
            else:
                template = self._env.get_template(template_name(action))
        except (TemplateNotFound, FileNotFoundError) as exc:
            raise FileNotFoundError(f"no prompt template for {action}: {exc}") from None
        return template.render(**variables).strip()
