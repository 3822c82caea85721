"""Environment: hosts roles, routes messages through an index, runs deterministic rounds."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence

from company.action import ActionOutput
from company.events import EventBus, EventKind
from company.llm.base import BudgetExceeded
from company.memory import Memory
from company.message import EVERYONE, Message
from company.role import Role
from company.store import Store


class RoleError(Exception):
    """A role's turn failed; carries the role name."""

    def __init__(self, role: str, error: BaseException) -> None:
        super().__init__(f"{role}: {error}")
        self.role = role
        self.error = error


class Environment:
    """Where roles meet. Publishing writes to the store first, then delivers by index."""

    def __init__(
        self,
        task_id: str,
        roles: Sequence[Role],
        *,
        store: Store | None = None,
        bus: EventBus | None = None,
        memory: Memory | None = None,
    ) -> None:
        self.task_id = task_id
        self.store = store
        self.bus = bus or EventBus(task_id)
        self.memory = memory or Memory()
        self.roles: list[Role] = []
        self._by_name: dict[str, Role] = {}
        self._by_cause: dict[str, list[Role]] = defaultdict(list)
        self.seq = len(self.memory) and max(m.seq for m in self.memory.all())
        self.cursors: dict[str, int] = {}
        self.errors: list[RoleError] = []
        self.budget_error: BudgetExceeded | None = None
        self.rounds = 0
        for role in roles:
            self.add_role(role)

    def add_role(self, role: Role) -> None:
        """Host a role and index its watch set."""
        if role.name in self._by_name:
            raise ValueError(f"a role named {role.name!r} is already hired")
        self.roles.append(role)
        self._by_name[role.name] = role
        for cause in role.watch:
            self._by_cause[cause].append(role)

    def role(self, name: str) -> Role:
        """The hosted role with this name."""
        return self._by_name[name]

    # publishing --------------------------------------------------------
    def _stamp(self, message: Message) -> Message:
        self.seq += 1
        return message.model_copy(
            update={"seq": self.seq, "task_id": self.task_id,
                    "id": f"{self.task_id}-{self.seq:05d}"}
        )

    def _recipients(self, message: Message) -> list[Role]:
        if EVERYONE in message.send_to:
            candidates = self._by_cause.get(message.cause_by, ())
        else:
            candidates = [self._by_name[n] for n in message.send_to if n in self._by_name]
        return [r for r in candidates if r.wants(message)]

    def _record(self, message: Message) -> None:
        if self.store is not None:
            self.store.append_message(message)
        self.memory.add(message)

    def publish(self, message: Message) -> Message:
        """Stamp, persist, remember and deliver one message; return it as stored."""
        message = self._stamp(message)
        if self.store is not None:
            with self.store.transaction():
                self._record(message)
        else:
            self._record(message)
        self._deliver(message)
        return message

    def _deliver(self, message: Message) -> None:
        for role in self._recipients(message):
            role.deliver(message)
        self.bus.emit(
            EventKind.MESSAGE, id=message.id, seq=message.seq, cause_by=message.cause_by,
            sent_from=message.sent_from, send_to=message.send_to, content=message.content,
        )

    def restore(self, messages: Sequence[Message], cursors: dict[str, int]) -> None:
        """Rebuild memory from the log and re-deliver what each role had not yet consumed."""
        for message in messages:
            self.memory.add(message)
            self.seq = max(self.seq, message.seq)
            for role in self._recipients(message):
                if message.seq > cursors.get(role.name, 0):
                    role.deliver(message)
        self.cursors.update(cursors)

    # rounds ------------------------------------------------------------
    @property
    def is_idle(self) -> bool:
        """True when no role has news."""
        return not any(role.has_news for role in self.roles)

    async def _turn(self, role: Role, news: list[Message]) -> list[ActionOutput]:
        started = time.perf_counter()
        self.bus.emit(EventKind.ROLE_STARTED, role=role.name, news=[m.id for m in news])
        try:
            outputs = await role.run(news)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # failures are values: reported, then the task fails cleanly
            self.bus.emit(EventKind.ERROR, role=role.name, error=str(exc),
                          error_type=type(exc).__name__)
            self.bus.emit(EventKind.ROLE_FINISHED, role=role.name, ok=False,
                          duration_s=round(time.perf_counter() - started, 4))
            raise RoleError(role.name, exc) from exc
        self.bus.emit(EventKind.ROLE_FINISHED, role=role.name, ok=True, outputs=len(outputs),
                      duration_s=round(time.perf_counter() - started, 4))
        return outputs

    async def run_round(self) -> int:
        """One round: every role with news acts concurrently; outputs publish in role order."""
        active = [(role, role.take_news()) for role in self.roles if role.has_news]
        if not active:
            return 0
        self.bus.emit(EventKind.ROUND_STARTED, round=self.rounds + 1,
                      roles=[role.name for role, _ in active])
        results = await asyncio.gather(
            *(self._turn(role, news) for role, news in active), return_exceptions=True
        )
        round_cursor = self.seq
        failed = {r.role for r in results if isinstance(r, RoleError)}
        for role in self.roles:
            if role.name not in failed:
                self.cursors[role.name] = round_cursor
        if self.store is not None:
            with self.store.transaction():
                published = self._publish_results(active, results)
                self.save_cursors()
        else:
            published = self._publish_results(active, results)
        self.rounds += 1  # counted once finished, so a cancelled round is not counted twice
        for message in published:
            self._deliver(message)
        return len(published)

    def _publish_results(
        self, active: list[tuple[Role, list[Message]]], results: list[object]
    ) -> list[Message]:
        published = []
        for (role, _news), result in zip(active, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, RoleError):
                    raise result
                self.errors.append(result)
                if isinstance(result.error, BudgetExceeded):
                    self.budget_error = result.error
                continue
            assert isinstance(result, list)
            for out in result:
                message = self._stamp(Message(
                    content=out.content,
                    payload=out.payload.model_dump(mode="json") if out.payload else None,
                    cause_by=out.cause_by or role.name,
                    sent_from=role.name,
                    send_to=out.send_to or [EVERYONE],
                ))
                self._record(message)
                published.append(message)
        return published

    def save_cursors(self) -> None:
        """Persist every role's watch set and how far it has consumed the log."""
        if self.store is None:
            return
        with self.store.transaction():
            for role in self.roles:
                self.store.save_role_state(self.task_id, role.name, sorted(role.watch),
                                           self.cursors.get(role.name, 0))
