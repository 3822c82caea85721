"""The provider table: one row per LLM provider; adding one = its module + a row here.

Each row names a ``module:factory`` that is imported only when the provider is built, so
reading the table (config validation, ``--llm`` parsing, ``--help``) stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from company.config import AppConfig
    from company.llm.base import Provider

AUTO = "auto"
"""Not a row: ``llm.provider: auto`` is resolved to a row's name (Ollama, else embedded)."""


class ProviderRow(BaseModel):
    """One LLM provider: its name, where its factory lives, and how it serves models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    factory: str = Field(pattern=r"^[\w.]+:\w+$", description="'module:function', the function "
                         "taking the AppConfig and returning the Provider")
    description: str
    one_model_per_process: bool = Field(default=False, description="the process loads one "
                                        "model; it beats an SOP's own model (force_model)")

    def load_factory(self) -> Callable[[AppConfig], Provider]:
        """Import the factory function (the provider module loads only now)."""
        module, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module), function)


PROVIDERS: dict[str, ProviderRow] = {row.name: row for row in (
    ProviderRow(name="ollama", factory="company.llm.ollama_provider:from_config",
                description="an Ollama server (llm.host, else $OLLAMA_HOST, else 127.0.0.1:11434)"),
    ProviderRow(name="openai", factory="company.llm.openai_provider:from_config",
                description="any OpenAI-compatible /v1 server (key from $OPENAI_API_KEY)"),
    ProviderRow(name="embedded", factory="company.llm.embedded:from_config",
                description="a GGUF model run in this process by llama.cpp",
                one_model_per_process=True),
)}


def provider_names() -> tuple[str, ...]:
    """The names of the table's providers, in table order."""
    return tuple(PROVIDERS)


def provider_row(name: str) -> ProviderRow:
    """The row called ``name``; an unknown name raises ValueError naming the known ones."""
    row = PROVIDERS.get(name)
    if row is None:
        known = ", ".join([AUTO, *PROVIDERS])
        raise ValueError(f"unknown LLM provider {name!r}; known providers: {known}")
    return row


def check_provider(name: str) -> str:
    """``name`` when it is ``auto`` or a row of the table (config validation)."""
    if name != AUTO:
        provider_row(name)
    return name


def build_provider(config: AppConfig) -> Provider:
    """The model server client the config names (``auto`` is resolved here if still open)."""
    from company.llm.select import resolve_auto

    resolve_auto(config)
    row = provider_row(config.llm.provider)
    if row.one_model_per_process:
        config.llm.force_model = True
    return row.load_factory()(config)
