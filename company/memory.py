"""Append-only message memory with an index by ``cause_by``."""

from __future__ import annotations

from collections import defaultdict

from company.message import ActionRef, Message, cause_name


class Memory:
    """Append-only list of messages, indexed so look-ups never scan the history."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._ids: set[str] = set()
        self._by_cause: dict[str, list[Message]] = defaultdict(list)

    def add(self, message: Message) -> None:
        """Append one message (ignored when its id is already stored)."""
        if message.id:
            if message.id in self._ids:
                return
            self._ids.add(message.id)
        self._messages.append(message)
        self._by_cause[message.cause_by].append(message)

    def by_cause(self, action: ActionRef) -> list[Message]:
        """Messages produced by an action (its class or name), oldest first."""
        return list(self._by_cause.get(cause_name(action), ()))

    def latest(self, action: ActionRef) -> Message | None:
        """The newest message produced by an action (its class or name)."""
        found = self._by_cause.get(cause_name(action))
        return found[-1] if found else None

    def all(self) -> list[Message]:
        """Every message, oldest first."""
        return list(self._messages)

    @property
    def last_seq(self) -> int:
        """The highest seq remembered (0 when empty)."""
        return max((m.seq for m in self._messages), default=0)

    def __len__(self) -> int:
        return len(self._messages)
