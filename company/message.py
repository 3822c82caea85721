"""Messages: what roles publish into the environment and watch each other by."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

EVERYONE = "<all>"
USER_REQUIREMENT = "UserRequirement"
VOICE_REQUEST = "VoiceRequest"
BOSS = "Boss"


class Named(Protocol):
    """Anything with a ``name``: an Action class is the usual one."""

    name: str


ActionRef = type[Named] | str
"""An action named by its class (``WritePlan``) or, to break an import cycle, by its name."""


def cause_name(ref: ActionRef) -> str:
    """The ``cause_by`` name of an action class (or a name given as text)."""
    return ref if isinstance(ref, str) else ref.name


def utc_now() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


class Message(BaseModel):
    """One message in a task's shared memory, MetaGPT style."""

    id: str = ""
    task_id: str = ""
    seq: int = 0
    content: str
    payload: dict[str, Any] | None = None
    cause_by: str = USER_REQUIREMENT
    sent_from: str = BOSS
    send_to: list[str] = Field(default_factory=lambda: [EVERYONE])
    created_at: datetime = Field(default_factory=utc_now)

    def is_for(self, role_name: str) -> bool:
        """True when the message is addressed to everyone or to this role."""
        return EVERYONE in self.send_to or role_name in self.send_to

    def to_json(self) -> str:
        """Serialize to one line of JSON."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Message:
        """Parse a message serialized with :meth:`to_json`."""
        return cls.model_validate_json(text)
