"""The LLM facade roles use: caching, budget, bounds, usage, events and structured output."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from company.events import EventKind
from company.llm.base import (
    ChatRequest,
    ChatResult,
    LLMAnswerRejected,
    LLMInvalidOutput,
    LLMOutputTruncated,
    LLMTimeout,
    Provider,
)
from company.llm.bounds import DEFAULT_KEY, CallBounds
from company.llm.cache import CacheMode, CallCache, request_key
from company.llm.tool_text import with_text_tool_calls
from company.llm.usage import CostManager
from company.store import Store

T = TypeVar("T", bound=BaseModel)
Emit = Callable[..., Any]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
CONFIG_FILE = "config/config.yaml"


class Reask(StrEnum):
    """Why a call asks again (an LLM_CALL event's ``reask``; a first ask has None)."""

    INVALID = "invalid"  # the previous JSON answer failed validation
    TRUNCATED = "truncated"  # the previous answer hit its token bound
    DEADLINE = "deadline"  # the previous attempt ran past the call deadline
    REJECTED = "rejected"  # the server discarded the previous answer's format: drawn again
    DOUBTED = "doubted"  # the caller doubted a valid answer: asked again with its doubts
    CHECKED = "checked"  # the caller's check rejected a text answer: asked again, sampled


RESAMPLE_OPTIONS = {"temperature": 0.4, "seed": 7}
"""Sampling for an answer drawn again after the server or the caller's check rejected one: at
temperature 0 the same prompt gives the same rejected answer (a 0.5B model gave its report
back word for word, also when told in a turn after it what the report left out)."""
RESAMPLED = frozenset({Reask.REJECTED, Reask.CHECKED})


def parse_json_answer(content: str) -> Any:
    """Parse a model's JSON answer, tolerating a Markdown code fence around it."""
    match = _FENCE.match(content)
    return json.loads(match.group(1) if match else content)


@dataclass(frozen=True)
class _CutOff:
    """An attempt that ended without a whole answer: its bound was hit or time ran out."""

    kind: Reask
    result: ChatResult | None = None
    error: str = ""
    http_limit: bool = False  # the provider's HTTP limit fired, not the call deadline


class LLM:
    """One task's view of the model: every call is journaled, budgeted, bounded, counted and
    reported."""

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
        bounds: CallBounds | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.cost = cost
        self.store = store
        self.task_id = task_id
        self.max_retries = max_retries
        self.options = dict(options or {})
        self.emit = emit
        self.bounds = bounds or CallBounds()
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

    def _options(self, reask: Reask | None) -> dict[str, Any]:
        """The sampling options of a call: ``RESAMPLE_OPTIONS`` over the client's own when the
        server or the caller's check rejected the previous answer (``RESAMPLED``)."""
        return {**self.options, **RESAMPLE_OPTIONS} if reask in RESAMPLED else self.options

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        role: str,
        model: str | None = None,
        json_schema: dict[str, Any] | None = None,
        action: str = "",
        max_tokens: int | None = None,
        reask: Reask | None = None,
    ) -> ChatResult:
        """One call: journal (resume) → shared cache → budget check → bounded provider call.

        The answer is bounded to ``max_tokens``, else the action's ``llm.max_answer_tokens``;
        an attempt to ``llm.call_deadline_s``. An answer cut off by either is asked once more,
        then the call fails; recorded answers are replayed as they are. ``role`` and ``action``
        travel on the request (who asks); only ``role`` scopes the cache key, as before;
        ``reask`` says why this call asks again (for the LLM_CALL event)."""
        options = self._options(reask)
        request = ChatRequest(
            model=model or self.model, messages=messages, json_schema=json_schema,
            options=options, role=role, action=action,
            max_tokens=max_tokens if max_tokens is not None else self.bounds.answer_tokens(action),
        )
        key = request_key(self.provider.name, request, scope=role)
        started = time.perf_counter()
        occurrence = shared_occurrence = 0
        if self._journal is not None:
            occurrence = self._journal.next_occurrence(key)
            hit = self._journal.lookup(key, occurrence)
            if hit is not None:
                if self._shared is not None:
                    self._shared.next_occurrence(key)  # keep both counters in step
                self._report(request, hit, started, source="journal", reask=reask, count=False)
                return hit
        if self._shared is not None:
            shared_occurrence = self._shared.next_occurrence(key)
            hit = self._shared.lookup(key, shared_occurrence)
            if hit is not None:
                self._remember(key, occurrence, hit)
                self._report(request, hit, started, source="cache", reask=reask)
                return hit
        result = await self._bounded(request, reask, explicit=max_tokens is not None)
        if self._shared is not None:
            self._shared.save(key, shared_occurrence, result)
        self._remember(key, occurrence, result)
        return result

    async def _bounded(self, request: ChatRequest, reask: Reask | None, *,
                       explicit: bool) -> ChatResult:
        """Ask the provider; an answer cut off by its bound or the deadline is asked once
        more (more briefly after a cut-off answer), then fails with where to raise the bound."""
        first = await self._attempt(request, reask)
        if isinstance(first, ChatResult):
            return first
        retry = request if first.kind is Reask.DEADLINE else _briefly(request)
        second = await self._attempt(retry, first.kind)
        if isinstance(second, ChatResult):
            return second
        if second.kind is Reask.DEADLINE:
            raise LLMTimeout(self._deadline_message(request, second))
        raise LLMOutputTruncated(self._truncated_message(request, second, explicit))

    async def _attempt(self, request: ChatRequest, reask: Reask | None) -> ChatResult | _CutOff:
        """One provider call within the budget and the call deadline."""
        self.cost.check()
        prepare = getattr(self.provider, "prepare", None)
        if prepare is not None:  # e.g. loading the embedded model: not part of the deadline
            await prepare()
        started = time.perf_counter()
        deadline = self.bounds.call_deadline_s
        try:
            async with asyncio.timeout(deadline):
                result = await self.provider.chat(request)
        except LLMAnswerRejected:  # counted as a call: the model did answer
            self._report(request, ChatResult(content="", model=request.model), started,
                         source="llm", reask=reask, cut_off=Reask.REJECTED)
            raise
        except (TimeoutError, LLMTimeout) as exc:
            http = isinstance(exc, LLMTimeout)
            error = str(exc) if http else f"no answer within the call deadline of {deadline:g} s"
            late = ChatResult(content="", model=request.model)
            self._report(request, late, started, source="llm", reask=reask,
                         cut_off=Reask.DEADLINE)
            return _CutOff(Reask.DEADLINE, None, error, http_limit=http)
        if result.finish_reason == "length":
            self._report(request, result, started, source="llm", reask=reask,
                         cut_off=Reask.TRUNCATED)
            return _CutOff(Reask.TRUNCATED, result)
        self._report(request, result, started, source="llm", reask=reask)
        return result

    def _deadline_message(self, request: ChatRequest, cut: _CutOff) -> str:
        """Why the call failed on time, and which setting to raise."""
        who = _who(request)
        if cut.http_limit:
            return (f"{cut.error} ({who}, asked twice). Raise the HTTP limit (llm.timeout_s; "
                    "llm.embedded.request_timeout_s for the embedded model) and, if needed, "
                    f"llm.call_deadline_s (now {self.bounds.call_deadline_s:g} s) in "
                    f"{CONFIG_FILE}")
        return (f"the model {request.model!r} gave no answer within the call deadline of "
                f"{self.bounds.call_deadline_s:g} s ({who}, asked twice). Raise "
                f"llm.call_deadline_s in {CONFIG_FILE}")

    def _truncated_message(self, request: ChatRequest, cut: _CutOff, explicit: bool) -> str:
        """Why the answer was cut off, with its counts, and which setting to raise."""
        result = cut.result or ChatResult(content="")
        bound = request.max_tokens
        kind = "JSON answer" if request.json_schema is not None else "answer"
        text = (f"the model {request.model!r} was cut off at its token limit before finishing "
                f"its {kind} ({_who(request)}), also when asked to answer more briefly "
                f"({result.prompt_tokens} prompt + {result.completion_tokens} answer tokens). ")
        ceiling = getattr(self.provider, "answer_ceiling", None)
        if isinstance(ceiling, int) and bound is not None and ceiling < bound:
            return text + (f"The embedded model caps every answer at {ceiling} tokens: raise "
                           f"llm.embedded.max_tokens in {CONFIG_FILE}")
        if explicit:
            return text + (f"The {request.action or request.role} action's code bounds this "
                           f"answer to {bound} tokens (max_tokens)")
        setting = self.bounds.setting_for(request.action)
        own = (f", or give the action its own llm.max_answer_tokens.{request.action}"
               if request.action and setting.endswith(f".{DEFAULT_KEY}") else "")
        return text + f"Raise {setting} (now {bound}){own} in {CONFIG_FILE}"

    def _remember(self, key: str, occurrence: int, result: ChatResult) -> None:
        if self._journal is not None:
            self._journal.save(key, occurrence, result)

    def _report(
        self, request: ChatRequest, result: ChatResult, started: float, *, source: str,
        reask: Reask | None, cut_off: Reask | None = None, count: bool = True,
    ) -> None:
        role = request.role
        cost = 0.0
        if count:
            cost = self.cost.add(role, result.model, result.prompt_tokens, result.completion_tokens)
            if self.store is not None and self.task_id:
                self.store.add_usage(self.task_id, role, result.model, result.prompt_tokens,
                                     result.completion_tokens, cost)
        if self.emit is None:
            return
        self.emit(
            EventKind.LLM_CALL, role=role, action=request.action, model=result.model,
            source=source, reask=reask.value if reask else None,
            cut_off=cut_off.value if cut_off else None, max_tokens=request.max_tokens,
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
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        reask: Reask | None = None,
    ) -> str:
        """The answer's text (``schema`` is another name for ``json_schema``; ``reask`` says
        why this call asks again)."""
        result = await self.chat(messages, role=role, model=model,
                                 json_schema=_one_schema(json_schema, schema), action=action,
                                 max_tokens=max_tokens, reask=reask)
        return result.content

    async def ask_tools(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        role: str,
        model: str | None = None,
        action: str = "",
        tool_choice: str | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        max_tokens: int | None = None,
    ) -> ChatResult:
        """One assistant turn with OpenAI-style ``tools`` offered: its text and tool calls.

        Budgeted, bounded and reported like ``chat``, but never journaled or cached (recorded
        answers keep no tool calls). An answer the server rejects as malformed is drawn once
        more with other sampling; a call written as JSON text (small models do) counts as a
        call; checking the calls against the tools is the caller's job."""
        reask: Reask | None = None
        while True:
            options = self._options(reask)
            request = ChatRequest(
                model=model or self.model, messages=messages, tools=tools,
                tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
                options=options, role=role, action=action,
                max_tokens=(max_tokens if max_tokens is not None
                            else self.bounds.answer_tokens(action)),
            )
            try:
                result = await self._bounded(request, reask, explicit=max_tokens is not None)
            except LLMAnswerRejected:
                if reask is Reask.REJECTED:
                    raise
                reask = Reask.REJECTED
                continue
            return with_text_tool_calls(result, tools)

    async def ask_model(
        self, messages: list[dict[str, str]], output: type[T], *, role: str,
        model: str | None = None, action: str = "", schema: dict[str, Any] | None = None,
        max_tokens: int | None = None, reask: Reask | None = None,
    ) -> T:
        """A validated instance of ``output``; invalid answers are re-asked with the error.

        ``schema`` (a JSON schema) is the constraint sent to the model instead of
        ``output.model_json_schema()``; the answer is still validated by ``output``. ``reask``
        says why this whole ask repeats an earlier one (for the LLM_CALL events)."""
        constraint = schema if schema is not None else output.model_json_schema()
        conversation = list(messages)
        error = ""
        for _attempt in range(self.max_retries + 1):
            try:
                result = await self.chat(conversation, role=role, model=model,
                                         json_schema=constraint, action=action,
                                         max_tokens=max_tokens, reask=reask)
            except LLMAnswerRejected as exc:  # no answer to show the model: draw it again
                error, reask = str(exc), Reask.REJECTED
                continue
            content = result.content
            try:
                return output.model_validate(parse_json_answer(content))
            except (ValueError, ValidationError) as exc:
                error = _short_error(exc)
                reask = Reask.INVALID
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": (
                        f"That answer is not valid: {error}. Answer again with only a JSON "
                        f"object that matches this schema: {json.dumps(constraint)}"
                    )},
                ]
        raise LLMInvalidOutput(
            f"the model {model or self.model!r} gave no valid {output.__name__} in "
            f"{self.max_retries + 1} attempts; last error: {error}"
        )


def _who(request: ChatRequest) -> str:
    """Who asked, for messages: "the Planner's WritePlan", or the role alone."""
    if request.role and request.action:
        return f"the {request.role}'s {request.action}"
    return f"the {request.role or request.action or 'caller'}"


def _one_schema(json_schema: dict[str, Any] | None,
                schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """``json_schema`` or its other name ``schema``; both, and different, is a mistake."""
    if json_schema is not None and schema is not None and json_schema != schema:
        raise ValueError("give the JSON schema once: json_schema= or schema=, not both")
    return json_schema if json_schema is not None else schema


def _briefly(request: ChatRequest) -> ChatRequest:
    """The request again, with a note that the last answer was cut off at its bound."""
    shape = ("the same JSON object, with shorter texts" if request.json_schema is not None
             else "in fewer words, finishing every sentence")
    note = (f"Your last answer was cut off at the limit of {request.max_tokens} tokens before "
            f"it was complete. Answer again, more briefly: {shape}.")
    messages = [dict(m) for m in request.messages]
    if messages and messages[-1].get("role") == "user":
        messages[-1]["content"] = f"{messages[-1].get('content', '')}\n\n{note}"
    else:
        messages.append({"role": "user", "content": note})
    return request.model_copy(update={"messages": messages})


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
        json_schema: dict[str, Any] | None = None, schema: dict[str, Any] | None = None,
        max_tokens: int | None = None, reask: Reask | None = None,
    ) -> str:
        """The answer's text (``schema`` is another name for ``json_schema``; ``max_tokens``
        bounds the answer, else the config's bound for the action; ``reask``: why it asks
        again, ``Reask.CHECKED`` sampled)."""
        return await self.llm.ask(messages, role=self.role, model=model, json_schema=json_schema,
                                  action=self.action, schema=schema, max_tokens=max_tokens,
                                  reask=reask)

    async def ask_tools(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
        model: str | None = None, max_tokens: int | None = None,
        tool_choice: str | dict[str, Any] | None = None, parallel_tool_calls: bool | None = None,
    ) -> ChatResult:
        """One assistant turn with ``tools`` offered: text and/or tool calls (GraphLLM's
        tool-calling method)."""
        return await self.llm.ask_tools(messages, tools, role=self.role, model=model,
                                        action=self.action, tool_choice=tool_choice,
                                        parallel_tool_calls=parallel_tool_calls,
                                        max_tokens=max_tokens)

    async def ask_model(
        self, messages: list[dict[str, str]], output: type[T], *, model: str | None = None,
        schema: dict[str, Any] | None = None, max_tokens: int | None = None,
        reask: Reask | None = None,
    ) -> T:
        """A validated instance of ``output`` (``schema`` is the constraint sent instead of
        ``output``'s own; ``max_tokens`` bounds the answer, else the config's bound; ``reask``
        says why the ask repeats an earlier one)."""
        return await self.llm.ask_model(messages, output, role=self.role, model=model,
                                        action=self.action, schema=schema,
                                        max_tokens=max_tokens, reask=reask)
