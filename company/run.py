"""One run of a stored task: hire its roles into an Environment, play rounds until the work is
done, a role fails, the rounds or the budget run out; record and export how it ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from company.action import ActionContext
from company.environment import Environment, RoleError
from company.events import EventBus, EventKind
from company.llm.client import LLM
from company.llm.usage import CostManager, UsageTotals
from company.prompts import PromptLibrary
from company.role import Role
from company.run_options import RunSettings
from company.status import TaskStatus
from company.store import Store, TaskRecord
from company.workspace import export_run

if TYPE_CHECKING:
    from company.company import Company

INTERRUPT = "shutdown"
"""Cancel a running task with this message to interrupt it resumably (not a user cancel)."""
CANCELLED = "cancelled by request"
LEASE_LOST = "lease lost"
"""Cancel a run with this message when another worker took its task (company.worker): the run
stops without recording anything, the new holder owns the task."""


class TaskOutcome(BaseModel):
    """How a task's run ended."""

    task_id: str
    status: TaskStatus
    report: str | None = None
    error: str | None = None
    rounds: int = 0
    workspace: str | None = None
    usage: UsageTotals = UsageTotals()


class TaskRun:
    """A task's run from its message log: the roles, their LLM, the environment and the
    rounds. Built fresh for every run (roles are cheap); the heavy parts come from the
    Company."""

    def __init__(self, company: Company, task: TaskRecord, settings: RunSettings,
                 staff: list[Role]) -> None:
        self.company = company
        self.task = task
        self.settings = settings
        self.store = company.store
        self.bus: EventBus = company.buses.open(task.id)
        self.cost = CostManager(company.config.llm.prices, settings.budget.model_copy())
        for call in turn_calls(self.store, task.id):
            self.cost.add(call["role"], call.get("model") or "", call.get("prompt_tokens") or 0,
                          call.get("completion_tokens") or 0)
        self.workspace: Path | None = None
        if settings.write_workspace:
            self.workspace = company.config.workspace / task.id
            self.workspace.mkdir(parents=True, exist_ok=True)
        self.env = Environment(task.id, [], store=self.store, bus=self.bus,
                               max_message_bytes=company.config.limits.max_message_bytes)
        self.resumed = self._hire(staff)

    def _llm(self) -> LLM:
        s, llm = self.settings, self.company.config.llm
        return LLM(self.company.provider, model=s.model, cost=self.cost, store=self.store,
                   task_id=self.task.id, cache_mode=s.cache_mode,
                   cache_namespace=s.cache_namespace, max_retries=llm.max_retries,
                   options=s.llm_options, emit=self.bus.emit, bounds=llm.bounds())

    def _hire(self, staff: list[Role]) -> bool:
        """Bind each role to this task, restore watch sets and cursors from the store, and
        re-deliver what a role had not yet consumed; True when resuming."""
        sop = self.settings.sop
        overrides = {a: p for a in sop.prompts if (p := sop.prompt_path(a)) is not None}
        prompts = PromptLibrary(overrides)
        llm = self._llm()
        states = self.store.role_states(self.task.id)
        for role in staff:
            role.bind(ActionContext(
                task_id=self.task.id, role=role.name, llm=llm.for_role(role.name),
                prompts=prompts, memory=self.env.memory, store=self.store,
                services=self.company.services, workspace=self.workspace, emit=self.bus.emit,
                options=role.options,
            ))
            if role.name in states:
                role.watch = set(states[role.name][0])
            self.env.add_role(role)
        self.env.restore(self.store.messages(self.task.id),
                         {n: s[1] for n, s in states.items()})
        return bool(states)

    async def run(self) -> TaskOutcome:
        """Play rounds to the end; a cancel is recorded (resumably for a server shutdown)."""
        task = self.task
        self.store.update_task(task.id, status=TaskStatus.RUNNING, error=None)
        self.bus.emit(EventKind.TASK_STARTED, request=task.request, sop=self.settings.sop.name,
                      model=self.settings.model, resumed=self.resumed)
        try:
            outcome = await self._rounds()
        except asyncio.CancelledError as exc:
            reason = exc.args[0] if exc.args else None
            if reason != LEASE_LOST:  # another worker holds the task now: write nothing
                self._cancelled(interrupted=reason == INTERRUPT)
            raise
        finally:
            self.company.buses.close(task.id)
        return outcome

    def _cancelled(self, *, interrupted: bool) -> None:
        rounds = self.task.rounds + self.env.rounds
        if interrupted:  # a server shutting down, not the user: the task resumes on restart
            self.store.update_task(self.task.id, status=TaskStatus.QUEUED, error=None,
                                   rounds=rounds)
            self.bus.emit(EventKind.TASK_INTERRUPTED, reason="the server is shutting down; "
                          "the task resumes from its log when it starts again")
            return
        self.store.update_task(self.task.id, status=TaskStatus.CANCELLED, error=CANCELLED,
                               rounds=rounds)
        self.bus.emit(EventKind.TASK_FINISHED, status=TaskStatus.CANCELLED, error=CANCELLED)

    async def _rounds(self) -> TaskOutcome:
        env, limit = self.env, self.settings.n_round
        failed: list[RoleError] = []
        budget_error = None
        for _ in range(limit):
            if env.is_idle:
                break
            outcome = await env.run_round()
            failed += outcome.failed
            budget_error = budget_error or outcome.budget_error
            if outcome.failed:
                break
        status, error = TaskStatus.DONE, None
        if budget_error is not None:
            status, error = TaskStatus.FAILED, str(budget_error)
            self.bus.emit(EventKind.BUDGET, exhausted=True, message=error)
        elif failed:
            status, error = TaskStatus.FAILED, "; ".join(str(e) for e in failed)
        elif not env.is_idle:
            busy = ", ".join(r.name for r in env.roles if r.has_news)
            status = TaskStatus.FAILED
            error = f"stopped after {env.rounds} rounds (n_round={limit}) with work left for {busy}"
        return self._finish(status, error)

    def _finish(self, status: TaskStatus, error: str | None) -> TaskOutcome:
        from actions.summarize_results import SummarizeResults

        latest = self.env.memory.latest(SummarizeResults)
        report = latest.content if latest is not None and latest.seq > 0 else None
        rounds = self.task.rounds + self.env.rounds
        where = str(self.workspace) if self.workspace else None
        total = self.cost.total
        self.store.update_task(self.task.id, status=status, error=error, report=report,
                               rounds=rounds)
        self.bus.emit(EventKind.TASK_FINISHED, status=status, error=error, rounds=rounds,
                      report=report, workspace=where, cost=total.cost, tokens=total.tokens,
                      llm_calls=total.calls)
        if self.workspace is not None:
            export_run(self.store, self.task.id, self.workspace, report, error)
        return TaskOutcome(task_id=self.task.id, status=status, report=report, error=error,
                           rounds=rounds, workspace=where, usage=total.model_copy())


BOSS_CAUSES = frozenset({"UserRequirement", "VoiceRequest"})


def turn_calls(store: Store, task_id: str) -> list[dict[str, Any]]:
    """The counted LLM calls of the task's newest turn (since the Boss's newest message): the
    budget, like ``n_round``, applies to one request, so a follow-up starts afresh and a
    resumed turn keeps what it spent (replays from the journal were never counted)."""
    calls: list[dict[str, Any]] = []
    for event in store.events(task_id):
        data = event.data
        if event.kind == EventKind.MESSAGE and data.get("cause_by") in BOSS_CAUSES:
            calls = []
        elif event.kind == EventKind.LLM_CALL and data.get("source") != "journal":
            calls.append(data)
    return calls
