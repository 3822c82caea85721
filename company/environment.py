"""Environment: hosts roles, routes messages through an index, runs deterministic rounds."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from company.action import ActionOutput
from company.events import EventBus, EventKind
from company.llm.base import BudgetExceeded
from company.memory import Memory
from company.message import EVERYONE, Message
from company.role import Role
from company.store import Store

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The default of ``limits.max_message_bytes``: one message's content plus payload, as UTF-8.
Above twice a fetched web page (graphs.web_max_response_bytes, 5 MB: the Executor's message
holds its outputs as text and as payload), far below what a plan growing its outputs reaches."""


class MessageTooLarge(ValueError):
    """A message over the size limit: refused before it is stored or delivered."""


def human_bytes(size: int) -> str:
    """``4194304`` -> ``4.0 MB`` (binary units, one decimal)."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def message_bytes(content: str, payload: dict[str, Any] | None) -> int:
    """The size a message's content and payload take as UTF-8 (the payload as JSON)."""
    size = len(content.encode("utf-8", "surrogatepass"))
    if payload is not None:
        size += len(json.dumps(payload, ensure_ascii=False, default=str).encode(
            "utf-8", "surrogatepass"))
    return size


class RoleError(Exception):
    """A role's turn failed; carries the role name."""

    def __init__(self, role: str, error: BaseException) -> None:
        super().__init__(f"{role}: {error}")
        self.role = role
        self.error = error


@dataclass
class RoundOutcome:
    """What one round did: the messages it published and the roles whose turn failed."""

    published: list[Message] = field(default_factory=list)
    failed: list[RoleError] = field(default_factory=list)

    @property
    def budget_error(self) -> BudgetExceeded | None:
        """The budget error that failed a role this round, if any."""
        return next((f.error for f in self.failed if isinstance(f.error, BudgetExceeded)), None)


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
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        start_seq: int | None = None,
    ) -> None:
        self.task_id = task_id
        self.max_message_bytes = max_message_bytes
        self.store = store
        self.bus = bus or EventBus(task_id)
        self.memory = memory or Memory()
        self.roles: list[Role] = []
        self._by_name: dict[str, Role] = {}
        self._by_cause: dict[str, list[Role]] = defaultdict(list)
        self.seq = self.memory.last_seq if start_seq is None else start_seq
        self.cursors: dict[str, int] = {}
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
    def check_size(self, content: str, payload: dict[str, Any] | None) -> None:
        """Refuse a message whose content plus payload is over ``max_message_bytes``."""
        if payload is None and len(content) * 4 <= self.max_message_bytes:
            return  # fits even if every character takes four bytes
        size = message_bytes(content, payload)
        if size > self.max_message_bytes:
            raise MessageTooLarge(
                f"its message is {human_bytes(size)}, over the message limit of "
                f"{human_bytes(self.max_message_bytes)} (limits.max_message_bytes)")

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
        """Stamp, persist, remember and deliver one message (a Boss's request or follow-up);
        return it as stored. Role outputs take the same path at the end of a round.

        Raises MessageTooLarge (nothing stored) for a message over the size limit."""
        self.check_size(message.content, message.payload)
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
            for out in outputs:  # refused here, the oversized output fails the role's turn
                self.check_size(out.content, _payload_json(out))
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

    async def run_round(self) -> RoundOutcome:
        """One round: every role with news acts concurrently; outputs publish in role order."""
        active = [(role, role.take_news()) for role in self.roles if role.has_news]
        if not active:
            return RoundOutcome()
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
                outcome = self._publish_results(active, results)
                self.save_cursors()
        else:
            outcome = self._publish_results(active, results)
        self.rounds += 1  # counted once finished, so a cancelled round is not counted twice
        for message in outcome.published:
            self._deliver(message)
        return outcome

    def _publish_results(
        self, active: list[tuple[Role, list[Message]]], results: list[object]
    ) -> RoundOutcome:
        outcome = RoundOutcome()
        for (role, _news), result in zip(active, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, RoleError):
                    raise result
                outcome.failed.append(result)
                continue
            assert isinstance(result, list)
            for out in result:
                message = self._stamp(Message(
                    content=out.content, payload=_payload_json(out),
                    cause_by=out.cause_by or role.name,
                    sent_from=role.name,
                    send_to=out.send_to or [EVERYONE],
                ))
                self._record(message)
                outcome.published.append(message)
        return outcome

    def save_cursors(self) -> None:
        """Persist every role's watch set and how far it has consumed the log."""
        if self.store is None:
            return
        with self.store.transaction():
            for role in self.roles:
                self.store.save_role_state(self.task_id, role.name, sorted(role.watch),
                                           self.cursors.get(role.name, 0))


def _payload_json(out: ActionOutput) -> dict[str, Any] | None:
    return out.payload.model_dump(mode="json") if out.payload else None
