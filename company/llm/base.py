"""Provider-neutral chat request/result models, the provider protocol and LLM errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    """One chat completion request. Messages are in OpenAI's shape; with ``tools`` (OpenAI
    function definitions) an assistant turn may carry ``tool_calls`` and ``tool`` messages
    answer them by ``tool_call_id``."""

    model: str
    messages: list[dict[str, Any]]
    json_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None  # "auto", "none", "required" or a function
    parallel_tool_calls: bool | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int | None = Field(default=None, ge=1, description="the answer's token bound "
                                   "(Ollama num_predict, OpenAI max_tokens); None: the server's")
    role: str = ""  # who asks: the role and the action (not part of the cache key)
    action: str = ""


class ToolCall(BaseModel):
    """One function call the model asked for, its arguments parsed."""

    id: str = Field(default_factory=lambda: new_call_id())
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    arguments_error: str | None = None  # why the arguments are not a JSON object, else None

    def openai(self) -> dict[str, Any]:
        """The call in an OpenAI assistant message (arguments as a JSON string)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments)}}


class ChatResult(BaseModel):
    """One chat completion answer with its token counts (and tool calls, if any)."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    finish_reason: str | None = None  # "length": the answer hit the token limit
    tool_calls: list[ToolCall] = Field(default_factory=list)


def new_call_id() -> str:
    """A fresh tool-call id, for servers whose calls carry none (Ollama)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_tool_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments as a dict, from a JSON string or a mapping; on failure an
    empty dict and why (the caller may ask the model again)."""
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return {}, f"the arguments are not valid JSON ({exc}): {raw[:200]!r}"
        if isinstance(value, dict):
            return value, None
        return {}, f"the arguments are JSON {type(value).__name__}, not an object: {raw[:200]!r}"
    return {}, f"the arguments are a {type(raw).__name__}, not a JSON object"


PullProgress = Callable[[str, int | None, int | None], None]


class Provider(Protocol):
    """A chat model server. Optional extras the LLM facade uses when present: ``prepare()``
    (awaited before each call, outside its deadline: e.g. loading a model) and
    ``answer_ceiling`` (the longest answer the provider allows, named in cut-off errors);
    prompt budgets (company/llm/tokens.py) use ``context_tokens`` (the context one request
    gets) and ``count_tokens(text)`` (its tokenizer's count, or None when it cannot tell)."""

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


class LLMAnswerRejected(LLMServerError):
    """The server discarded the model's answer as not in the requested format (llama.cpp:
    "The model produced output that does not match the expected peg-native format")."""


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
