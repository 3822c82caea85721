"""Small building blocks for runtime tests: echo actions and roles without an LLM."""

from __future__ import annotations

from typing import Any

from company.action import Action, ActionOutput
from company.message import Message
from company.role import Role


def echo_action(name: str, *, send_to: list[str] | None = None,
                triggers: tuple[str, ...] = ()) -> type[Action]:
    """An Action class that answers each turn with the news it saw."""

    class Echo(Action):
        async def run(self, news: list[Message]) -> ActionOutput | None:
            seen = ",".join(f"{m.sent_from}:{m.cause_by}" for m in news)
            return ActionOutput(content=f"{name} saw {seen}", send_to=send_to)

    Echo.name = name
    Echo.triggers = triggers
    Echo.description = f"echo as {name}"
    return Echo


def echo_role(name: str, watch: list[str], action: str, ctx: Any = None, **kw: Any) -> Role:
    """A role with one echo action."""
    cls = echo_action(action, send_to=kw.pop("send_to", None))
    return Role(name=name, watch=watch, actions=[cls(ctx)], ctx=ctx, **kw)
