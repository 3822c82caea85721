"""Company: hires roles per an SOP, invests a budget, runs and resumes tasks."""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from company.action import ActionContext
from company.config import AppConfig
from company.environment import Environment
from company.events import Event, EventBus, EventKind
from company.llm.base import Provider
from company.llm.cache import CacheMode
from company.llm.client import LLM
from company.llm.usage import Budget, CostManager, UsageTotals
from company.message import (
    BOSS,
    USER_REQUIREMENT,
    VOICE_REQUEST,
    Message,
)
from company.payloads import VoiceRequestPayload
from company.prompts import PromptLibrary
from company.registry import action_class, role_class
from company.role import Role
from company.services import Services
from company.sop import SOP, parse_sop
from company.store import Store, TaskRecord

REPORT_CAUSE = "SummarizeResults"
INTERRUPT = "shutdown"
"""Cancel a running task with this message to interrupt it resumably (not a user cancel)."""


class TaskOutcome(BaseModel):
    """How a task's run ended."""

    task_id: str
    status: str
    report: str | None = None
    error: str | None = None
    rounds: int = 0
    workspace: str | None = None
    usage: UsageTotals = UsageTotals()


def new_task_id() -> str:
    """A fresh task id."""
    return f"t{uuid.uuid4().hex[:12]}"


def build_provider(config: AppConfig) -> Provider:
    """The model server client the config names (``auto`` is resolved here if still open)."""
    import os

    from company.llm.select import resolve_auto

    resolve_auto(config)
    llm = config.llm
    if llm.provider == "embedded":
        from company.llm.embedded import EmbeddedProvider

        return EmbeddedProvider(llm.model, llm.embedded, models_settings=config.models,
                                pull_missing=llm.pull_missing)
    if llm.provider == "openai":
        from company.llm.openai_provider import OpenAICompatProvider

        return OpenAICompatProvider(llm.resolved_host(), os.environ.get(llm.api_key_env, ""),
                                    llm.timeout_s)
    from company.llm.ollama_provider import OllamaProvider

    return OllamaProvider(llm.resolved_host(), llm.timeout_s)


class Company:
    """The team: hires roles as an SOP says and runs requests through them."""

    def __init__(
        self,
        config: AppConfig,
        *,
        store: Store | None = None,
        provider: Provider | None = None,
        services: Services | None = None,
        cache_mode: CacheMode | None = None,
        cache_namespace: str = "shared",
        write_workspace: bool = True,
        model: str | None = None,
    ) -> None:
        self.config = config
        self.store = store or Store(config.store_path)
        self.provider = provider or build_provider(config)
        self.services = services or Services(config)
        self.cache_mode = cache_mode or CacheMode(str(config.llm.cache))
        self.cache_namespace = cache_namespace
        self.write_workspace = write_workspace
        self.model = model
        self.investment: float | None = None
        self.n_round: int | None = None
        self._buses: dict[str, EventBus] = {}

    def invest(self, investment: float) -> None:
        """Set the money budget (USD) for the runs that follow."""
        if not math.isfinite(investment) or investment <= 0:
            raise ValueError(f"investment must be a positive number of USD, not {investment}")
        self.investment = investment

    # tasks -------------------------------------------------------------
    def create_task(
        self,
        request: str,
        *,
        sop: SOP,
        voice: VoiceRequestPayload | None = None,
        options: dict[str, Any] | None = None,
        task_id: str | None = None,
    ) -> str:
        """Store a new task and its first Boss message (before any role sees it)."""
        request = request.strip()
        if not request and voice is None:
            raise ValueError("the request is empty: say what the company should do")
        task_id = task_id or new_task_id()
        with self.store.transaction():
            self.store.create_task(task_id, request, sop.name, sop.text,
                                   llm_spec=f"{self.config.llm.provider}:{self.model_for(sop)}",
                                   options={**(options or {}), "sop_source": sop.source})
            self._append_boss(task_id, request, voice)
        return task_id

    def add_boss_message(
        self, task_id: str, text: str, voice: VoiceRequestPayload | None = None
    ) -> Message:
        """A follow-up from the Boss into an existing task; the task queues again."""
        if not text.strip() and voice is None:
            raise ValueError("the follow-up is empty")
        if self.store.get_task(task_id) is None:
            raise KeyError(task_id)
        with self.store.transaction():
            message = self._append_boss(task_id, text.strip(), voice)
            self.store.update_task(task_id, status="queued", error=None)
        return message

    def _append_boss(self, task_id: str, text: str, voice: VoiceRequestPayload | None) -> Message:
        seq = self.store.last_message_seq(task_id) + 1
        message = Message(
            id=f"{task_id}-{seq:05d}", task_id=task_id, seq=seq, content=text,
            payload=voice.model_dump() if voice else None,
            cause_by=VOICE_REQUEST if voice else USER_REQUIREMENT, sent_from=BOSS,
        )
        self.store.append_message(message)
        self._announce(message)
        return message

    def _announce(self, message: Message) -> None:
        """Put a Boss message on the task's event stream (live bus, or straight to the store)."""
        data = {"id": message.id, "seq": message.seq, "cause_by": message.cause_by,
                "sent_from": message.sent_from, "send_to": message.send_to,
                "content": message.content}
        bus = self.live_bus(message.task_id)
        if bus is not None:
            bus.emit(EventKind.MESSAGE, **data)
            return
        seq = self.store.last_event_seq(message.task_id) + 1
        self.store.append_event(Event(seq=seq, task_id=message.task_id, kind=EventKind.MESSAGE,
                                      data=data))

    def model_for(self, sop: SOP) -> str:
        """The model a run of this SOP uses: an explicit choice (``--llm``) over the SOP's
        ``llm.model`` over the config's."""
        forced = self.config.llm.model if self.config.llm.force_model else None
        return self.model or forced or sop.llm.model or self.config.llm.model

    def bus(self, task_id: str) -> EventBus:
        """The live event bus of a running task, or one holding its stored history."""
        if task_id in self._buses:
            return self._buses[task_id]
        bus = EventBus(task_id, history=self.store.events(task_id))
        bus.closed = True
        return bus

    def live_bus(self, task_id: str) -> EventBus | None:
        """The bus of a task running in this process, or None."""
        bus = self._buses.get(task_id)
        return bus if bus is not None and not bus.closed else None

    def close_bus(self, task_id: str) -> None:
        """End a task's live bus (its subscribers drain and stop) and forget it."""
        bus = self._buses.pop(task_id, None)
        if bus is not None:
            bus.close()

    def open_bus(self, task_id: str) -> EventBus:
        """The task's live bus, created (with its stored history) if it has none yet."""
        if task_id in self._buses and not self._buses[task_id].closed:
            return self._buses[task_id]
        history = self.store.events(task_id)
        bus = EventBus(task_id, start_seq=history[-1].seq if history else 0,
                       sink=self.store.append_event, history=history)
        self._buses[task_id] = bus
        return bus

    # hiring ------------------------------------------------------------
    def hire(self, sop: SOP, make_ctx: Any) -> list[Role]:
        """Build the SOP's roles, in the SOP's order."""
        roles = []
        for spec in sop.roles:
            cls = role_class(spec.name)
            ctx: ActionContext = make_ctx(spec.name, spec.options)
            names = spec.actions or list(cls.default_actions)
            actions = [action_class(n)(ctx) for n in names]
            roles.append(cls(
                actions=actions, watch=spec.watch if spec.watch is not None else cls.default_watch,
                react_mode=spec.react_mode, max_react_loop=spec.max_react_loop,
                triggers=spec.triggers, ctx=ctx,
            ))
        return roles

    def _budget(self, sop: SOP) -> Budget:
        limits = self.config.limits
        return Budget(
            max_cost=self.investment or sop.limits.investment or limits.investment,
            max_tokens=sop.limits.max_tokens or limits.max_tokens,
            max_llm_calls=sop.limits.max_llm_calls or limits.max_llm_calls,
        )

    # running -----------------------------------------------------------
    async def run(self, request: str, *, sop: SOP, voice: VoiceRequestPayload | None = None,
                  options: dict[str, Any] | None = None) -> TaskOutcome:
        """Create a task for the request and run it to the end."""
        task_id = self.create_task(request, sop=sop, voice=voice, options=options)
        return await self.run_task(task_id)

    async def run_task(self, task_id: str, *, n_round: int | None = None,
                       investment: float | None = None) -> TaskOutcome:
        """Run (or resume) a stored task from its message log until idle, out of rounds or
        budget."""
        task = self.store.get_task(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r} in {self.store.path}")
        sop = parse_sop(task.sop_text, source=str(task.options.get("sop_source") or task.sop_name))
        bus = self.open_bus(task_id)
        budget = self._budget(sop)
        if investment is not None:
            budget.max_cost = investment
        cost = CostManager(self.config.llm.prices, budget)
        for row in self.store.usage(task_id):
            cost.add(row.role, row.model, row.prompt_tokens, row.completion_tokens)
        llm = LLM(
            self.provider, model=self.model_for(sop), cost=cost, store=self.store,
            task_id=task_id, cache_mode=self.cache_mode, cache_namespace=self.cache_namespace,
            max_retries=self.config.llm.max_retries,
            options={**self.config.llm.options, **sop.llm.options}, emit=bus.emit,
        )
        workspace = self.config.workspace / task_id if self.write_workspace else None
        if workspace is not None:
            workspace.mkdir(parents=True, exist_ok=True)
        env = Environment(task_id, [], store=self.store, bus=bus,
                          max_message_bytes=self.config.limits.max_message_bytes)
        overrides = {a: p for a in sop.prompts if (p := sop.prompt_path(a)) is not None}
        prompts = PromptLibrary(overrides)

        def make_ctx(role: str, options: dict[str, Any]) -> ActionContext:
            return ActionContext(
                task_id=task_id, role=role, llm=llm.for_role(role), prompts=prompts,
                memory=env.memory, store=self.store, config=self.config, services=self.services,
                workspace=workspace, emit=bus.emit, options=options,
            )

        states = self.store.role_states(task_id)
        for role in self.hire(sop, make_ctx):
            if role.name in states:
                role.watch = set(states[role.name][0])
            env.add_role(role)
        env.restore(self.store.messages(task_id), {n: s[1] for n, s in states.items()})
        self.store.update_task(task_id, status="running", error=None)
        bus.emit(EventKind.TASK_STARTED, request=task.request, sop=sop.name,
                 model=self.model_for(sop), resumed=bool(states))
        limit = n_round or self.n_round or sop.limits.n_round or self.config.limits.n_round
        try:
            outcome = await self._rounds(task, env, limit, workspace, cost)
        except asyncio.CancelledError as exc:
            rounds = task.rounds + env.rounds
            if exc.args and exc.args[0] == INTERRUPT:
                # a server shutting down: not the user's cancel; the task resumes on restart
                self.store.update_task(task_id, status="queued", error=None, rounds=rounds)
                bus.emit(EventKind.TASK_INTERRUPTED, reason="the server is shutting down; the "
                         "task resumes from its log when it starts again")
            else:
                self.store.update_task(task_id, status="cancelled", error="cancelled by request",
                                       rounds=rounds)
                bus.emit(EventKind.TASK_FINISHED, status="cancelled",
                         error="cancelled by request")
            self.close_bus(task_id)
            raise
        self.close_bus(task_id)
        return outcome

    async def _rounds(self, task: TaskRecord, env: Environment, limit: int,
                      workspace: Path | None, cost: CostManager) -> TaskOutcome:
        for _ in range(limit):
            if env.is_idle or env.errors:
                break
            await env.run_round()
        status, error = "done", None
        if env.budget_error is not None:
            status, error = "failed", str(env.budget_error)
            env.bus.emit(EventKind.BUDGET, exhausted=True, message=error)
        elif env.errors:
            status, error = "failed", "; ".join(str(e) for e in env.errors)
        elif not env.is_idle:
            busy = ", ".join(r.name for r in env.roles if r.has_news)
            status = "failed"
            error = f"stopped after {env.rounds} rounds (n_round={limit}) with work left for {busy}"
        latest = env.memory.latest(REPORT_CAUSE)
        report = latest.content if latest is not None and latest.seq > 0 else None
        rounds = task.rounds + env.rounds
        self.store.update_task(task.id, status=status, error=error, report=report, rounds=rounds)
        env.bus.emit(EventKind.TASK_FINISHED, status=status, error=error, rounds=rounds,
                     report=report, workspace=str(workspace) if workspace else None,
                     cost=cost.total.cost, tokens=cost.total.tokens, llm_calls=cost.total.calls)
        if workspace is not None:
            self._write_workspace(task.id, workspace, report, error)
        return TaskOutcome(task_id=task.id, status=status, report=report, error=error,
                           rounds=rounds, workspace=str(workspace) if workspace else None,
                           usage=cost.total.model_copy())

    def _write_workspace(self, task_id: str, workspace: Path, report: str | None,
                         error: str | None) -> None:
        lines = [m.to_json() for m in self.store.messages(task_id)]
        (workspace / "messages.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        events = [e.model_dump_json() for e in self.store.events(task_id)]
        (workspace / "events.jsonl").write_text("\n".join(events) + "\n", encoding="utf-8")
        text = report or f"# No report\n\nThe run ended without a report: {error or 'unknown'}\n"
        (workspace / "report.md").write_text(text + "\n", encoding="utf-8")
