"""The LLM facade roles use: caching, budget, usage, events and structured output."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from company.events import EventKind
from company.llm.base import (
    ChatRequest,
    ChatResult,
    LLMInvalidOutput,
    LLMOutputTruncated,
    Provider,
)
from company.llm.cache import CacheMode, CallCache, request_key
from company.llm.usage import CostManager
from company.store import Store

T = TypeVar("T", bound=BaseModel)
Emit = Callable[..., Any]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_json_answer(content: str) -> Any:
    """Parse a model's JSON answer, tolerating a Markdown code fence around it."""
    match = _FENCE.match(content)
    return json.loads(match.group(1) if match else content)


class LLM:
    """One task's view of the model: every call is journaled, budgeted, counted and reported."""

    def __init__(
        self,
        provider: Provider,
        *,
        model: str,
        cost: CostManager,
        store: Store | None = None,
        task_id: str = "",
        cache_mode: CacheMode = CacheMode.OFF,
        cache_namespace: str = "shared",
        max_retries: int = 2,
        options: dict[str, Any] | None = None,
        emit: Emit | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.cost = cost
        self.store = store
        self.task_id = task_id
        self.max_retries = max_retries
        self.options = dict(options or {})
        self.emit = emit
        self._journal = (
            CallCache(store, f"task:{task_id}", CacheMode.AUTO) if store and task_id else None
        )
        self._shared = (
            CallCache(store, cache_namespace, cache_mode)
            if store and cache_mode is not CacheMode.OFF
            else None
        )

    def for_role(self, role: str, action: str = "") -> RoleLLM:
        """A handle that books every call to the named role (and says which action asks)."""
        return RoleLLM(self, role, action)

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        role: str,
        model: str | None = None,
        json_schema: dict[str, Any] | None = None,
        action: str = "",
    ) -> ChatResult:
        """One call: journal (resume) → shared cache → budget check → provider.

        ``role`` and ``action`` travel on the request (who asks); only ``role`` scopes the
        cache key, as before."""
        request = ChatRequest(
            model=model or self.model, messages=messages, json_schema=json_schema,
            options=self.options, role=role, action=action,
        )
        key = request_key(self.provider.name, request, scope=role)
        started = time.perf_counter()
        if self._journal is not None:
            occurrence = self._journal.next_occurrence(key)
            hit = self._journal.lookup(key, occurrence)
            if hit is not None:
                if self._shared is not None:
                    self._shared.next_occurrence(key)  # keep both counters in step
                self._report(role, hit, started, source="journal", count=False)
                return hit
        if self._shared is not None:
            shared_occurrence = self._shared.next_occurrence(key)
            hit = self._shared.lookup(key, shared_occurrence)
            if hit is not None:
                self._remember(key, occurrence if self._journal else 0, hit)
                self._report(role, hit, started, source="cache")
                return hit
        self.cost.check()
        result = await self.provider.chat(request)
        if json_schema is not None and result.finish_reason == "length":
            self._report(role, result, started, source="llm")
            raise LLMOutputTruncated(
                f"the model {request.model!r} was cut off at its token limit before finishing "
                f"its JSON answer ({result.prompt_tokens} prompt + {result.completion_tokens} "
                "answer tokens)"
            )
        if self._shared is not None:
            self._shared.save(key, shared_occurrence, result)
        self._remember(key, occurrence if self._journal else 0, result)
        self._report(role, result, started, source="llm")
        return result

    def _remember(self, key: str, occurrence: int, result: ChatResult) -> None:
        if self._journal is not None:
            self._journal.save(key, occurrence, result)

    def _report(
        self, role: str, result: ChatResult, started: float, *, source: str, count: bool = True
    ) -> None:
        cost = 0.0
        if count:
            cost = self.cost.add(role, result.model, result.prompt_tokens, result.completion_tokens)
            if self.store is not None and self.task_id:
                self.store.add_usage(self.task_id, role, result.model, result.prompt_tokens,
                                     result.completion_tokens, cost)
        if self.emit is None:
            return
        self.emit(
            EventKind.LLM_CALL, role=role, model=result.model, source=source,
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            cost=cost, duration_s=round(time.perf_counter() - started, 4),
        )
        total, budget = self.cost.total, self.cost.budget
        self.emit(
            EventKind.BUDGET, calls=total.calls, tokens=total.tokens, cost=total.cost,
            max_cost=budget.max_cost, max_tokens=budget.max_tokens,
            max_llm_calls=budget.max_llm_calls,
        )

    async def ask(
        self,
        messages: list[dict[str, str]],
        *,
        role: str,
        model: str | None = None,
        json_schema: dict[str, Any] | None = None,
        action: str = "",
    ) -> str:
        """The answer's text."""
        result = await self.chat(messages, role=role, model=model, json_schema=json_schema,
                                 action=action)
        return result.content

    async def ask_model(
        self, messages: list[dict[str, str]], output: type[T], *, role: str,
        model: str | None = None, action: str = "",
    ) -> T:
        """A validated instance of ``output``; invalid answers are re-asked with the error."""
        schema = output.model_json_schema()
        conversation = list(messages)
        error = ""
        for _attempt in range(self.max_retries + 1):
            content = await self.ask(conversation, role=role, model=model, json_schema=schema,
                                     action=action)
            try:
                return output.model_validate(parse_json_answer(content))
            except (ValueError, ValidationError) as exc:
                error = _short_error(exc)
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": (
                        f"That answer is not valid: {error}. Answer again with only a JSON "
                        f"object that matches this schema: {json.dumps(schema)}"
                    )},
                ]
        raise LLMInvalidOutput(
            f"the model {model or self.model!r} gave no valid {output.__name__} in "
            f"{self.max_retries + 1} attempts; last error: {error}"
        )


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()]
        return "; ".join(parts[:5])
    return f"not JSON ({exc})"


class RoleLLM:
    """An LLM handle bound to one role, and optionally to the action asking (it also serves
    graph LLM blocks)."""

    def __init__(self, llm: LLM, role: str, action: str = "") -> None:
        self.llm = llm
        self.role = role
        self.action = action

    def for_action(self, name: str) -> RoleLLM:
        """The same role's handle, with its calls labelled as the named action's."""
        return RoleLLM(self.llm, self.role, name)

    async def ask(
        self, messages: list[dict[str, str]], *, model: str | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        """The answer's text."""
        return await self.llm.ask(messages, role=self.role, model=model, json_schema=json_schema,
                                  action=self.action)

    async def ask_model(
        self, messages: list[dict[str, str]], output: type[T], *, model: str | None = None
    ) -> T:
        """A validated instance of ``output``."""
        return await self.llm.ask_model(messages, output, role=self.role, model=model,
                                        action=self.action)
