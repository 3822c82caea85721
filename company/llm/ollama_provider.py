"""Ollama provider through the ``ollama`` package's async client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import ollama

from company.llm.base import (
    ChatRequest,
    ChatResult,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
    ModelMissing,
    PullProgress,
    ToolCall,
    new_call_id,
    parse_tool_arguments,
)
from company.llm.guard import check_model_request

if TYPE_CHECKING:
    from company.config import AppConfig

DEFAULT_HOST = "http://127.0.0.1:11434"


class OllamaProvider:
    """Talks to an Ollama server over its HTTP API."""

    name = "ollama"

    def __init__(self, host: str = DEFAULT_HOST, timeout_s: float = 120.0) -> None:
        self.host = host
        self.timeout_s = timeout_s
        self._client = ollama.AsyncClient(host=host, timeout=timeout_s)

    def _unreachable(self) -> LLMUnavailable:
        return LLMUnavailable(
            f"cannot reach the Ollama server at {self.host}. Start it with `ollama serve` "
            "(or set OLLAMA_HOST / --llm ollama:MODEL@http://HOST:PORT to point elsewhere)."
        )

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Send one chat request; map transport failures to LLM errors."""
        check_model_request(self.name, self.host)
        try:
            response = await self._client.chat(
                model=request.model,
                messages=ollama_messages(request.messages),
                tools=request.tools or None,
                format=request.json_schema,
                options=ollama_options(request) or None,
                stream=False,
            )
        except ConnectionError as exc:
            raise self._unreachable() from exc
        except httpx.TimeoutException as exc:
            raise LLMTimeout(
                f"the Ollama server at {self.host} did not answer within {self.timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise LLMUnavailable(f"the Ollama server at {self.host} broke off: {exc}") from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise ModelMissing(
                    f"model {request.model!r} is not on the Ollama server at {self.host}:"
                    f" {exc.error}. Pull it with `ollama pull {request.model}`."
                ) from exc
            raise LLMServerError(
                f"the Ollama server at {self.host} answered HTTP {exc.status_code}: {exc.error}"
            ) from exc
        return ChatResult(
            content=response.message.content or "",
            prompt_tokens=int(response.prompt_eval_count or 0),
            completion_tokens=int(response.eval_count or 0),
            model=response.model or request.model,
            finish_reason=getattr(response, "done_reason", None),
            tool_calls=_tool_calls(response.message.tool_calls),
        )

    async def reachable(self) -> bool:
        """True when ``/api/version`` answers."""
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                return (await http.get(f"{self.host.rstrip('/')}/api/version")).status_code == 200
        except httpx.HTTPError:
            return False

    async def ensure_model(self, model: str, progress: PullProgress | None = None) -> None:
        """Fail clearly when the server is down; pull the model when it is missing."""
        try:
            listing = await self._client.list()
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._unreachable() from exc
        except ollama.ResponseError as exc:
            raise LLMServerError(f"Ollama at {self.host} answered {exc.status_code}") from exc
        names = {m.model for m in listing.models if m.model}
        if model in names or f"{model}:latest" in names:
            return
        try:
            async for part in await self._client.pull(model, stream=True):
                if progress is not None:
                    progress(part.status or "", part.completed, part.total)
        except ollama.ResponseError as exc:
            raise ModelMissing(
                f"model {model!r} is not on the Ollama server at {self.host} and pulling it"
                f" failed: {exc.error}"
            ) from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._unreachable() from exc


def ollama_options(request: ChatRequest) -> dict[str, Any]:
    """The request's options with its answer bound as ``num_predict`` (an option's own
    positive ``num_predict`` stays when it is smaller)."""
    options = dict(request.options)
    if request.max_tokens is not None:
        own = options.get("num_predict")
        bound = request.max_tokens
        options["num_predict"] = min(own, bound) if isinstance(own, int) and own > 0 else bound
    return options


def ollama_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-shaped messages in Ollama's shape: assistant ``tool_calls`` with arguments as
    objects (no ids), ``tool`` answers named by ``tool_name``; plain messages pass as they are."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        calls, role = message.get("tool_calls"), message.get("role")
        if calls:
            converted = []
            for call in calls:
                function = call.get("function") or {}
                names[str(call.get("id"))] = str(function.get("name") or "")
                arguments, _ = parse_tool_arguments(function.get("arguments"))
                converted.append({"function": {"name": function.get("name") or "",
                                               "arguments": arguments}})
            out.append({"role": role or "assistant", "content": _text(message.get("content")),
                        "tool_calls": converted})
        elif role == "tool":
            answer = {"role": "tool", "content": _text(message.get("content"))}
            if name := message.get("name") or names.get(str(message.get("tool_call_id"))):
                answer["tool_name"] = name
            out.append(answer)
        elif message.get("content") is not None and not isinstance(message["content"], str):
            out.append({**message, "content": _text(message["content"])})
        else:
            out.append(message)
    return out


def _text(content: Any) -> str:
    """Message content as text (structured content as JSON)."""
    if content is None:
        return ""
    return content if isinstance(content, str) else json.dumps(content)


def _tool_calls(calls: Any) -> list[ToolCall]:
    """Ollama's tool calls (arguments already objects; no ids, so fresh ones are given)."""
    result: list[ToolCall] = []
    for call in calls or []:
        arguments, error = parse_tool_arguments(call.function.arguments)
        result.append(ToolCall(id=str(getattr(call, "id", None) or new_call_id()),
                               name=call.function.name, arguments=arguments,
                               arguments_error=error))
    return result


def from_config(config: AppConfig) -> OllamaProvider:
    """The provider table's factory: the Ollama server the config names."""
    return OllamaProvider(config.llm.resolved_host(), config.llm.timeout_s)
