"""Building blocks for action tests: an ActionContext on a scripted provider (a fresh Memory,
the test's Store, ``Services(config)`` and the shipped prompts), and messages stamped as a
task's memory holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from company.action import Action, ActionContext, ActionOutput
from company.config import AppConfig
from company.events import EventKind
from company.llm.client import LLM
from company.llm.scripted import Script, ScriptedProvider
from company.llm.usage import CostManager
from company.memory import Memory
from company.message import BOSS, EVERYONE, ActionRef, Message, cause_name
from company.prompts import PromptLibrary
from company.role import Role
from company.services import Services
from company.store import Store

TASK_ID = "t-action"


def remember(memory: Memory, content: str, cause_by: ActionRef,
             payload: BaseModel | dict[str, Any] | None = None, *, sent_from: str = BOSS,
             send_to: list[str] | None = None) -> Message:
    """Add a message to ``memory`` as the environment would (the next seq, an id; a payload
    model as JSON) and return it."""
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    seq = memory.last_seq + 1
    message = Message(id=f"{TASK_ID}-{seq:05d}", task_id=TASK_ID, seq=seq, content=content,
                      payload=data, cause_by=cause_name(cause_by), sent_from=sent_from,
                      send_to=send_to or [EVERYONE])
    memory.add(message)
    return message


def offline_config(tmp_path: Path) -> AppConfig:
    """A config for action tests: its workspace in ``tmp_path`` and no model server at all
    (conftest's ``config`` starts a fake Ollama server these tests do not need). A test
    module overrides ``config`` with it::

        @pytest.fixture
        def config(tmp_path: Path) -> AppConfig:
            return offline_config(tmp_path)
    """
    return AppConfig(workspace=tmp_path / "ws", graphs={"allow_private_network": True})


@dataclass
class Harness:
    """One action test's world: the context an action gets, the scripted provider answering
    its LLM calls, and the events it emitted."""

    ctx: ActionContext
    provider: ScriptedProvider
    events: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)

    @property
    def memory(self) -> Memory:
        """The task's memory the action reads."""
        return self.ctx.memory

    def remember(self, content: str, cause_by: ActionRef, payload: BaseModel | dict[str, Any]
                 | None = None, *, sent_from: str = BOSS,
                 send_to: list[str] | None = None) -> Message:
        """Add a message to memory as the environment would (next seq, an id) and return it."""
        return remember(self.memory, content, cause_by, payload, sent_from=sent_from,
                        send_to=send_to)

    def prompts(self, name: str) -> list[str]:
        """The last user message of every LLM call booked to an action (or role), in order."""
        return [call.messages[-1]["content"] for call in self.provider.calls_for(name)]

    async def publish(self, action: type[Action], news: list[Message]) -> list[ActionOutput]:
        """Run one action as its role would in by_trigger mode (its own triggers decide; the
        output is stamped with ``cause_by`` and its payload type checked)."""
        role = Role(name=self.ctx.role, actions=[action], ctx=self.ctx)
        return await role.run(news)


def harness(config: AppConfig, store: Store, answers: dict[str, Script] | None = None, *,
            role: str = "Analyst", options: dict[str, Any] | None = None) -> Harness:
    """An ActionContext for ``role`` whose LLM answers from ``answers`` (scripted by action
    name). The LLM has no store: no journal, so every call reaches the provider."""
    provider = ScriptedProvider(answers or {})
    llm = LLM(provider, model="scripted-model", cost=CostManager(), task_id=TASK_ID)
    events: list[tuple[EventKind, dict[str, Any]]] = []

    def emit(kind: EventKind, **data: Any) -> None:
        events.append((kind, data))

    ctx = ActionContext(
        task_id=TASK_ID, role=role, llm=llm.for_role(role), prompts=PromptLibrary(),
        memory=Memory(), store=store, services=Services(config), workspace=None, emit=emit,
        options=dict(options or {}),
    )
    return Harness(ctx=ctx, provider=provider, events=events)
