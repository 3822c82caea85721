"""Parse ``--llm`` specs such as ``ollama:qwen2.5`` or ``openai:gpt-4o-mini@http://host/v1``."""

from __future__ import annotations

from pydantic import BaseModel

from company.llm.providers import PROVIDERS


class LLMSpec(BaseModel):
    """Which provider, model and host to use."""

    provider: str = "ollama"
    model: str = "qwen2.5"
    host: str | None = None

    def __str__(self) -> str:
        suffix = f"@{self.host}" if self.host else ""
        return f"{self.provider}:{self.model}{suffix}"


def parse_llm_spec(text: str) -> LLMSpec:
    """Parse ``provider:model[@host]``; a bare model name means Ollama; ``embedded`` alone
    means the embedded default model."""
    text = text.strip()
    if text == "embedded":
        from company.llm.embedded import DEFAULT_EMBEDDED_MODEL

        return LLMSpec(provider="embedded", model=DEFAULT_EMBEDDED_MODEL)
    if not text:
        raise ValueError("empty --llm spec; expected e.g. ollama:qwen2.5")
    rest, _, host = text.partition("@")
    provider, sep, model = rest.partition(":")
    if not sep or provider not in PROVIDERS:  # e.g. qwen2.5-coder:1.5b: an Ollama model
        provider, model = "ollama", rest
    if not model:
        raise ValueError(f"--llm {text!r} names no model; expected e.g. ollama:qwen2.5")
    return LLMSpec(provider=provider, model=model, host=host or None)
