"""An in-process provider that answers from a script keyed by action, for tests (after
pydantic-ai's ``TestModel``/``FunctionModel``): no server, and every request is recorded."""

from __future__ import annotations

import inspect
import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from company.llm.base import ChatRequest, ChatResult, LLMError, PullProgress, ToolCall

Answer = str | BaseModel | dict[str, Any] | BaseException | Callable[[ChatRequest], Any]
"""One answer: text; a model or dict (sent as JSON); a ChatResult (sent as is, e.g. to test
``finish_reason="length"``, or several tool calls: ``tool_answer``); a ToolCall (the model
calls that tool); an exception (raised); or a function of the request giving one."""

Script = Answer | list[Answer]
"""A list gives one answer per call, in turn; anything else answers every call."""


def tool_answer(*calls: ToolCall, content: str = "") -> ChatResult:
    """A scripted assistant turn calling these tools (with optional text)."""
    return ChatResult(content=content, tool_calls=list(calls), finish_reason="tool_calls")


def count_tokens(text: str) -> int:
    """The scripted provider's token count: whitespace-separated words."""
    return len(text.split())


class ScriptedProvider:
    """Answers each request from the script of its action (else of its role) and records it
    (its answer bound included: ``calls[i].max_tokens``)."""

    name = "scripted"
    host = "scripted://"

    def __init__(self, answers: Mapping[str, Script], *, cut_at_max_tokens: bool = False) -> None:
        """``cut_at_max_tokens``: an answer longer than the request's bound (in words) is cut
        there with ``finish_reason="length"``, as a real server would."""
        self.answers: dict[str, Script] = dict(answers)
        self.cut_at_max_tokens = cut_at_max_tokens
        self.calls: list[ChatRequest] = []
        self._used: Counter[str] = Counter()

    def script_for(self, request: ChatRequest) -> str:
        """The script name answering this request: its action, else its role."""
        for name in (request.action, request.role):
            if name and name in self.answers:
                return name
        asked = f"action {request.action!r}" if request.action else "no action"
        role = f" of role {request.role!r}" if request.role else ""
        scripted = ", ".join(sorted(self.answers)) or "none"
        raise LLMError(f"the scripted provider has no answer for {asked}{role}; "
                       f"scripted: {scripted}")

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Record the request and answer it from its script."""
        self.calls.append(request)
        name = self.script_for(request)
        script = self.answers[name]
        turn = self._used[name]
        self._used[name] += 1
        if isinstance(script, list):
            if turn >= len(script):
                raise LLMError(f"the scripted answers for {name!r} ran out: {len(script)} "
                               f"scripted, call {turn + 1} asked")
            script = script[turn]
        if inspect.iscoroutinefunction(script):  # an async function: awaited (e.g. a gate)
            script = await script(request)
        return self._result(request, script)

    def _result(self, request: ChatRequest, answer: Any) -> ChatResult:
        if callable(answer) and not isinstance(answer, BaseModel | BaseException):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, ToolCall):
            answer = tool_answer(answer)
        if isinstance(answer, ChatResult):
            return answer if answer.model else answer.model_copy(update={"model": request.model})
        if isinstance(answer, BaseModel):
            content = answer.model_dump_json()
        elif isinstance(answer, str):
            content = answer
        elif isinstance(answer, dict | list):
            content = json.dumps(answer)
        else:
            raise LLMError(f"a scripted answer must be text, a model, a dict or a list, not "
                           f"{type(answer).__name__}")
        prompt = "\n".join(str(m.get("content", "")) for m in request.messages)
        finish, bound = "stop", request.max_tokens
        if self.cut_at_max_tokens and bound is not None and count_tokens(content) > bound:
            content, finish = " ".join(content.split()[:bound]), "length"
        return ChatResult(content=content, prompt_tokens=count_tokens(prompt),
                          completion_tokens=count_tokens(content), model=request.model,
                          finish_reason=finish)

    def calls_for(self, name: str) -> list[ChatRequest]:
        """The recorded requests asked by this action or this role, in order."""
        return [c for c in self.calls if name in (c.action, c.role)]

    def unused(self) -> list[str]:
        """Scripted names no request was answered from (a test scripting more than it runs)."""
        return sorted(name for name in self.answers if not self._used[name])

    async def reachable(self) -> bool:
        """Always True: nothing to reach."""
        return True

    async def ensure_model(self, model: str, progress: PullProgress | None = None) -> None:
        """Nothing to fetch."""
        return None
