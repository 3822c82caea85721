"""Provider-neutral chat request/result models, the provider protocol and LLM errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    """One chat completion request."""

    model: str
    messages: list[dict[str, str]]
    json_schema: dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int | None = Field(default=None, ge=1, description="the answer's token bound "
                                   "(Ollama num_predict, OpenAI max_tokens); None: the server's")
    role: str = ""  # who asks: the role and the action (not part of the cache key)
    action: str = ""


class ChatResult(BaseModel):
    """One chat completion answer with its token counts."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    finish_reason: str | None = None  # "length": the answer hit the token limit


PullProgress = Callable[[str, int | None, int | None], None]


class Provider(Protocol):
    """A chat model server. Optional extras the LLM facade uses when present: ``prepare()``
    (awaited before each call, outside its deadline: e.g. loading a model) and
    ``answer_ceiling`` (the longest answer the provider allows, named in cut-off errors)."""

    name: str
    host: str

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Send one chat request and return the answer."""
        ...

    async def ensure_model(self, model: str, progress: PullProgress | None = None) -> None:
        """Check the server answers and the model exists (pulling it where supported)."""
        ...

    async def reachable(self) -> bool:
        """True when the server answers."""
        ...


class LLMError(Exception):
    """Base of every LLM failure; its message is meant for people."""


class LLMUnavailable(LLMError):
    """The model server cannot be reached."""


class LLMTimeout(LLMError):
    """The model server did not answer in time."""


class LLMServerError(LLMError):
    """The model server answered with an error status."""


class LLMInvalidOutput(LLMError):
    """The model kept answering with output that fails validation."""


class LLMOutputTruncated(LLMInvalidOutput):
    """An answer was cut off at its token bound (or the context limit), even when re-asked."""


class ModelMissing(LLMError):
    """The model is not on the server and could not be pulled."""


class ReplayMiss(LLMError):
    """Replay mode found no recorded answer for a call."""


class BudgetExceeded(LLMError):
    """The task's money, token or call budget is spent (MetaGPT's NoMoneyException)."""
