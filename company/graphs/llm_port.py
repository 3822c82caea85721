"""The LLM protocol graph blocks call, and the mapping of graph model names to ours."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


class GraphToolCall(Protocol):
    """One function call the model asked for (company.llm.base.ToolCall has this shape)."""

    @property
    def id(self) -> str:
        """The call's id; the tool's answer names it (`tool_call_id`)."""
        ...

    @property
    def name(self) -> str:
        """The tool (function) name."""
        ...

    @property
    def arguments(self) -> dict[str, Any]:
        """The parsed arguments (empty when they were not a JSON object)."""
        ...

    @property
    def arguments_error(self) -> str | None:
        """Why the model's arguments could not be read as a JSON object, else None."""
        ...


class GraphToolAnswer(Protocol):
    """An assistant turn of a tool-calling chat: text and/or tool calls (a ChatResult)."""

    @property
    def content(self) -> str:
        """The assistant's text (empty when it only called tools)."""
        ...

    @property
    def tool_calls(self) -> Sequence[GraphToolCall]:
        """The tool calls, in the model's order (empty when it answered in text)."""
        ...


@runtime_checkable
class GraphLLM(Protocol):
    """What LLM blocks need from the company's LLM layer."""

    async def ask(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        """Answer a chat; with `json_schema` the answer is a JSON string matching it."""
        ...

    async def ask_tools(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
    ) -> GraphToolAnswer:
        """One assistant turn with OpenAI-style `tools` offered; messages are in OpenAI's
        shape (assistant `tool_calls`, `tool` answers with `tool_call_id`)."""
        ...


# AutoGPT's own Ollama model names (LlmModel members whose provider is "ollama").
AUTOGPT_OLLAMA_MODELS = frozenset(
    {"llama3.3", "llama3.2", "llama3", "llama3.1:405b", "dolphin-mistral:latest"}
)
_OLLAMA_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(?:/[A-Za-z0-9._-]+)*:[A-Za-z0-9._-]+$")


def looks_like_ollama_model(name: str) -> bool:
    """True for `family:tag` names (`llama3.2:3b`, `hf.co/org/m:Q4`) and AutoGPT's Ollama models."""
    return name in AUTOGPT_OLLAMA_MODELS or bool(_OLLAMA_NAME.match(name))


def resolve_model(name: str | None, model_map: Mapping[str, str]) -> str | None:
    """Map a graph's model name to the configured one; None means "the LLM layer's default".

    Order: an explicit `model_map` entry, then Ollama-looking names passed through, then
    `model_map["default"]`.
    """
    if name and model_map.get(name):
        return model_map[name]
    if name and looks_like_ollama_model(name):
        return name
    return model_map.get("default") or None
