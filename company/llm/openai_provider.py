"""OpenAI-compatible provider (vLLM, LM Studio, OpenAI) over httpx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from company.llm.base import (
    ChatRequest,
    ChatResult,
    LLMAnswerRejected,
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


class OpenAICompatProvider:
    """Talks to any server speaking OpenAI's ``/chat/completions``."""

    name = "openai"

    def __init__(self, base_url: str, api_key: str = "", timeout_s: float = 120.0) -> None:
        self.host = base_url.rstrip("/")
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(base_url=self.host, headers=headers, timeout=timeout_s)

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Send one chat completion request."""
        check_model_request(self.name, self.host)
        body: dict[str, Any] = {"model": request.model, "messages": request.messages}
        body.update({k: v for k, v in request.options.items() if k in _OPTION_KEYS})
        if request.max_tokens is not None:
            own = body.get("max_tokens")
            body["max_tokens"] = (min(own, request.max_tokens)
                                  if isinstance(own, int) and own > 0 else request.max_tokens)
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        body.update(tool_fields(request))
        try:
            response = await self._http.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise LLMTimeout(f"{self.host} did not answer within {self.timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            raise LLMUnavailable(
                f"cannot reach the OpenAI-compatible server at {self.host}"
            ) from exc
        if response.status_code == 404:
            raise ModelMissing(f"{self.host}: model {request.model!r} not found ({response.text})")
        if response.status_code >= 400:
            too_long = _context_error(response)
            if too_long:
                raise LLMServerError(f"{self.host}: {too_long}")
            if request.tools and "jinja" in response.text:
                raise LLMServerError(
                    f"{self.host} cannot call tools with this model's chat template (llama.cpp "
                    f"needs --jinja and a template with tool support): {response.text[:300]}"
                )
            error = LLMAnswerRejected if _rejected_answer(response) else LLMServerError
            raise error(
                f"{self.host} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            data = response.json()
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            calls = read_tool_calls(choice["message"].get("tool_calls"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMServerError(f"{self.host} answered an unreadable completion") from exc
        usage = data.get("usage") or {}
        return ChatResult(
            content=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model=str(data.get("model") or request.model),
            finish_reason=choice.get("finish_reason"),
            tool_calls=calls,
        )

    async def reachable(self) -> bool:
        """True when ``/models`` answers."""
        try:
            return (await self._http.get("/models")).status_code < 500
        except httpx.HTTPError:
            return False

    async def ensure_model(self, model: str, progress: PullProgress | None = None) -> None:
        """Fail clearly when the server cannot be reached (models are not pulled here)."""
        if not await self.reachable():
            raise LLMUnavailable(f"cannot reach the OpenAI-compatible server at {self.host}")


def tool_fields(request: ChatRequest) -> dict[str, Any]:
    """The request's ``tools``, ``tool_choice`` and ``parallel_tool_calls`` body fields (none
    without tools)."""
    if not request.tools:
        return {}
    fields: dict[str, Any] = {"tools": request.tools}
    if request.tool_choice is not None:
        fields["tool_choice"] = request.tool_choice
    if request.parallel_tool_calls is not None:
        fields["parallel_tool_calls"] = request.parallel_tool_calls
    return fields


def read_tool_calls(raw: Any) -> list[ToolCall]:
    """An OpenAI message's ``tool_calls`` (arguments as a JSON string, or an object as some
    servers send); arguments that are not a JSON object are kept as ``arguments_error``."""
    calls: list[ToolCall] = []
    for item in raw or []:
        function = item.get("function") or {}
        arguments, error = parse_tool_arguments(function.get("arguments"))
        calls.append(ToolCall(id=str(item.get("id") or new_call_id()),
                              name=str(function.get("name") or ""),
                              arguments=arguments, arguments_error=error))
    return calls


_OPTION_KEYS = {"temperature", "top_p", "max_tokens", "seed", "stop", "top_k", "min_p",
                "repeat_penalty", "presence_penalty", "frequency_penalty"}


REJECTED_FORMAT = "does not match the expected"
"""What llama.cpp's server says when its chat parser discards the model's answer ("The model
produced output that does not match the expected peg-native format")."""


def _rejected_answer(response: httpx.Response) -> bool:
    """Whether an error status says the server discarded the answer's format (a sample, not a
    server fault: drawn again it usually passes)."""
    return response.status_code == 500 and REJECTED_FORMAT in response.text


def _context_error(response: httpx.Response) -> str | None:
    """llama.cpp's "exceeds the context size" error, told with its token counts."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None
    if not isinstance(error, dict) or error.get("type") != "exceed_context_size_error":
        return None
    return (f"the prompt is too long for the model's context: {error.get('n_prompt_tokens')} "
            f"prompt tokens, {error.get('n_ctx')} context tokens per request. Shorten the "
            "request or raise llm.embedded.ctx_size")


def from_config(config: AppConfig) -> OpenAICompatProvider:
    """The provider table's factory: the server the config names, its key from the environment."""
    import os

    llm = config.llm
    return OpenAICompatProvider(llm.resolved_host(), os.environ.get(llm.api_key_env, ""),
                                llm.timeout_s)
