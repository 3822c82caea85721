"""Action: one unit of work, with the LLM and its prompt template at hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from company.events import EventKind
from company.memory import Memory
from company.message import Message
from company.prompts import PromptLibrary
from company.store import Store

if TYPE_CHECKING:
    from company.config import AppConfig
    from company.llm.client import RoleLLM
    from company.services import Services


@dataclass
class ActionContext:
    """What an action may use: the LLM, prompts, memory, store, workspace and services."""

    task_id: str
    role: str
    llm: RoleLLM
    prompts: PromptLibrary
    memory: Memory
    store: Store
    config: AppConfig
    services: Services
    workspace: Path | None
    emit: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)

    def event(self, kind: EventKind, **data: Any) -> None:
        """Emit an event on the task's stream, tagged with the role."""
        self.emit(kind, role=self.role, **data)


class ActionOutput(BaseModel):
    """What an action produced: text, a typed payload, and optional addressees."""

    content: str
    payload: BaseModel | None = None
    send_to: list[str] | None = None
    cause_by: str = ""


class ActionFailed(Exception):
    """An action could not do its work; the message is meant for people."""


class Action:
    """A named unit of work; subclasses set ``name``, ``triggers`` and implement ``run``."""

    name: ClassVar[str] = "Action"
    triggers: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    def render(self, **variables: Any) -> str:
        """This action's prompt, rendered."""
        return self.ctx.prompts.render(self.name, **variables)

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Do the work for these news; None when there is nothing to say."""
        raise NotImplementedError
