"""``llm.provider: auto``: Ollama when its server answers, else the embedded model."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel


class ProviderChoice(BaseModel):
    """The provider and model a process uses, and why."""

    provider: str
    model: str
    reason: str
    ollama_tried: str | None = None  # the Ollama host that did not answer (auto's fallback)

    def describe(self) -> str:
        """One line for people: what was chosen and why."""
        return f"LLM: {self.provider} {self.model} ({self.reason})"


def ollama_answers(host: str, timeout_s: float) -> bool:
    """True when an Ollama server answers ``/api/version`` at ``host``."""
    try:
        response = httpx.get(f"{host.rstrip('/')}/api/version", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def embedded_model(llm: Any) -> str:
    """The model the embedded provider serves: an explicit ``--llm`` model, else the default."""
    return llm.model if llm.force_model else llm.embedded.model


def choose_provider(llm: Any) -> ProviderChoice:
    """Resolve ``auto`` by probing Ollama; other providers are taken as configured."""
    if llm.provider == "embedded":
        return ProviderChoice(provider="embedded", model=embedded_model(llm),
                              reason="configured")
    if llm.provider != "auto":
        return ProviderChoice(provider=llm.provider, model=llm.model, reason="configured")
    host = llm.resolved_host()
    if ollama_answers(host, llm.probe_timeout_s):
        return ProviderChoice(provider="ollama", model=llm.model,
                              reason=f"an Ollama server answers at {host}")
    return ProviderChoice(provider="embedded", model=llm.embedded.model, ollama_tried=host,
                          reason=f"no Ollama server answers at {host}; running the model "
                          "in-process with llama.cpp")


def resolve_auto(config: Any) -> ProviderChoice:
    """Replace ``auto`` in the config by the concrete choice (once per process) and return it."""
    choice = choose_provider(config.llm)
    config.llm.provider = choice.provider
    if choice.provider == "embedded":
        config.llm.model = choice.model
        config.llm.force_model = True  # one model is loaded: SOPs cannot pick another
    return choice
