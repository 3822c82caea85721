"""Action: one unit of work, named once by its class, with its triggers and payload model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from company.events import EventKind
from company.memory import Memory
from company.message import ActionRef, Message, cause_name
from company.prompts import PromptLibrary
from company.store import Store

if TYPE_CHECKING:
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
    """A unit of work, MetaGPT style. A subclass is its own name (``name`` defaults to the class
    name); ``triggers`` are the actions whose messages make it run; ``payload`` is the model of
    what it publishes; ``prompt`` an inline Jinja2 template used when no prompt file exists."""

    name: ClassVar[str] = "Action"
    triggers: ClassVar[tuple[ActionRef, ...]] = ()
    payload: ClassVar[type[BaseModel] | None] = None
    description: ClassVar[str] = ""
    prompt: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    @classmethod
    def trigger_names(cls) -> set[str]:
        """The ``cause_by`` names that make this action run (empty: any news)."""
        return {cause_name(t) for t in cls.triggers}

    @property
    def llm(self) -> RoleLLM:
        """The role's LLM, with every call booked to this action (scripted providers and the
        call log see who asked)."""
        return self.ctx.llm.for_action(self.name)

    def render(self, **variables: Any) -> str:
        """This action's prompt, rendered (an SOP override, prompts/<name>.j2, else
        ``prompt``)."""
        return self.ctx.prompts.render(self.name, fallback=self.prompt, **variables)

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Do the work for these news; None when there is nothing to say."""
        raise NotImplementedError


def published_by(news: list[Message], action: ActionRef) -> list[Message]:
    """The news produced by an action (its class or name), oldest first."""
    name = cause_name(action)
    return [m for m in news if m.cause_by == name]
