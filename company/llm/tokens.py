"""Token counts and the prompt budget: the provider's own tokenizer where it can tell (the
embedded llama.cpp server's ``/tokenize``), else an estimate calibrated on real prompts; and
the context one request gets, per provider (``llm.context_tokens`` beats it)."""

from __future__ import annotations

import inspect
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CHARS_PER_TOKEN = 3.5
"""Characters per token of text other than digits. Calibrated with Qwen2.5's own tokenizer
(llama.cpp ``/tokenize``, the cached qwen2.5-coder GGUF) on the eval runs' real texts: 68
Boss requests, 227 reports, 235 analyses, 68 AnalyzeRequest and 40 WritePlan prompts. Qwen
gives every digit its own token, so digits count one each; with the rest at 3.5 characters a
token, no whole prompt was under-counted (true/estimate 0.86-0.98), single short lines at
most 1.4x (a 20-character sum like "Add -12.5 and 7.25.")."""

ESTIMATE_HEADROOM = 0.05
"""The share of the budget left unused when tokens are estimated, not counted."""

TEMPLATE_TOKENS = 32
"""The chat template's own tokens around one user message (Qwen2.5's default system prompt and
role markers: 29, measured with llama.cpp's ``/apply-template``)."""

DEFAULT_CONTEXT_TOKENS: dict[str, int] = {
    "ollama": 4096,    # Ollama's default num_ctx (older servers: 2048; set llm.options.num_ctx)
    "openai": 8192,    # unknown server: the smallest context the models we run have
    "scripted": 8192,  # tests: an 8k model
}
"""The context one request gets when neither ``llm.context_tokens`` nor the provider tells."""
FALLBACK_CONTEXT_TOKENS = 8192


def estimate_tokens(text: str) -> int:
    """The calibrated estimate: one token per digit, the rest at ``CHARS_PER_TOKEN``."""
    digits = sum(ch.isdigit() for ch in text)
    return digits + math.ceil((len(text) - digits) / CHARS_PER_TOKEN)


class TokenCounter:
    """Counts the tokens of prompt text: the provider's ``count_tokens`` when it can tell now
    (it may answer None), else the estimate; each text is counted once."""

    def __init__(self, provider: Any = None) -> None:
        self.provider = provider
        self.exact = getattr(provider, "count_tokens", None) is not None
        """True while every count so far came from the provider's own tokenizer."""
        self._counts: dict[str, int] = {}

    async def count(self, text: str) -> int:
        """The tokens of ``text`` (no chat template around it)."""
        if text in self._counts:
            return self._counts[text]
        counted = await self._own_count(text)
        if counted is None:
            self.exact = False
            counted = estimate_tokens(text)
        self._counts[text] = counted
        return counted

    async def _own_count(self, text: str) -> int | None:
        own = getattr(self.provider, "count_tokens", None)
        if own is None:
            return None
        counted = own(text)
        if inspect.isawaitable(counted):
            counted = await counted
        return counted if isinstance(counted, int) and counted >= 0 else None


def context_tokens(provider: Any, configured: int | None = None,
                   options: dict[str, Any] | None = None) -> int:
    """The context one request gets: ``configured`` (``llm.context_tokens``), else the
    provider's own (the embedded server's context per slot; Ollama's ``num_ctx`` option), else
    the provider's default."""
    if configured:
        return configured
    own = getattr(provider, "context_tokens", None)
    if isinstance(own, int) and own > 0:
        return own
    num_ctx = (options or {}).get("num_ctx")
    if getattr(provider, "name", "") == "ollama" and isinstance(num_ctx, int) and num_ctx > 0:
        return num_ctx
    return DEFAULT_CONTEXT_TOKENS.get(getattr(provider, "name", ""), FALLBACK_CONTEXT_TOKENS)


class PromptBudget(BaseModel):
    """How many tokens one prompt's text may use: the context less the answer's bound, the chat
    template and, for estimated counts, some headroom."""

    model_config = ConfigDict(frozen=True)

    context: int = Field(gt=0)
    answer: int = Field(ge=0)
    template: int = TEMPLATE_TOKENS
    exact: bool = False

    @property
    def prompt(self) -> int:
        """The tokens left for the prompt's text (never below 0)."""
        room = self.context - self.answer - self.template
        if not self.exact:
            room = math.floor(room * (1 - ESTIMATE_HEADROOM))
        return max(0, room)
