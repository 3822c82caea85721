"""Append-only message memory with indexes by cause_by and by sender."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from company.message import Message


class Memory:
    """Append-only list of messages, indexed so look-ups never scan the history."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._by_id: dict[str, Message] = {}
        self._by_cause: dict[str, list[Message]] = defaultdict(list)
        self._by_sender: dict[str, list[Message]] = defaultdict(list)

    def add(self, message: Message) -> None:
        """Append one message (ignored when its id is already stored)."""
        if message.id and message.id in self._by_id:
            return
        self._messages.append(message)
        if message.id:
            self._by_id[message.id] = message
        self._by_cause[message.cause_by].append(message)
        self._by_sender[message.sent_from].append(message)

    def extend(self, messages: Iterable[Message]) -> None:
        """Append several messages in order."""
        for message in messages:
            self.add(message)

    def get(self, message_id: str) -> Message | None:
        """The message with this id, or None."""
        return self._by_id.get(message_id)

    def by_cause(self, cause_by: str) -> list[Message]:
        """Messages produced by the named action, oldest first."""
        return list(self._by_cause.get(cause_by, ()))

    def by_sender(self, sender: str) -> list[Message]:
        """Messages sent by the named role, oldest first."""
        return list(self._by_sender.get(sender, ()))

    def latest(self, cause_by: str) -> Message | None:
        """The newest message produced by the named action."""
        found = self._by_cause.get(cause_by)
        return found[-1] if found else None

    def all(self) -> list[Message]:
        """Every message, oldest first."""
        return list(self._messages)

    def tail(self, n: int) -> list[Message]:
        """The last ``n`` messages."""
        return self._messages[-n:] if n > 0 else []

    def __len__(self) -> int:
        return len(self._messages)
