"""Role: a profile, a goal, actions and a watch set; observe → think → act."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, create_model

from company.action import Action, ActionContext, ActionOutput
from company.message import Message

REACT_MODES = ("by_order", "react", "plan_and_act")
STOP = "stop"


class Role:
    """One member of the company. Subclasses give defaults; SOPs override them."""

    name: ClassVar[str] = "Role"
    profile: ClassVar[str] = ""
    goal: ClassVar[str] = ""
    default_watch: ClassVar[tuple[str, ...]] = ()
    default_actions: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        actions: Sequence[Action],
        watch: Iterable[str],
        name: str | None = None,
        profile: str | None = None,
        goal: str | None = None,
        react_mode: str = "by_order",
        max_react_loop: int = 3,
        triggers: dict[str, list[str]] | None = None,
        ctx: ActionContext | None = None,
    ) -> None:
        if react_mode not in REACT_MODES:
            raise ValueError(f"react_mode must be one of {REACT_MODES}, not {react_mode!r}")
        self.name = name or type(self).name
        self.profile = profile if profile is not None else type(self).profile
        self.goal = goal if goal is not None else type(self).goal
        self.actions = list(actions)
        self.watch = set(watch)
        self.react_mode = react_mode
        self.max_react_loop = max_react_loop
        overrides = triggers or {}
        self.triggers = {a.name: set(overrides.get(a.name, a.triggers)) for a in self.actions}
        self.ctx = ctx
        self.inbox: list[Message] = []

    # observe -----------------------------------------------------------
    def wants(self, message: Message) -> bool:
        """True when the message is news for this role (watched or addressed, not its own)."""
        if message.sent_from == self.name:
            return False
        if self.name in message.send_to:
            return True
        return message.is_for(self.name) and message.cause_by in self.watch

    def deliver(self, message: Message) -> None:
        """Put a message in the inbox (the environment only delivers what the role wants)."""
        self.inbox.append(message)

    @property
    def has_news(self) -> bool:
        """True when something waits in the inbox."""
        return bool(self.inbox)

    def take_news(self) -> list[Message]:
        """Empty the inbox and return what was in it."""
        news, self.inbox = self.inbox, []
        return news

    # think + act -------------------------------------------------------
    def actions_for(self, news: list[Message]) -> list[Action]:
        """by_order: the actions whose triggers match the news (no triggers: any news)."""
        causes = {m.cause_by for m in news}
        return [a for a in self.actions
                if not self.triggers[a.name] or self.triggers[a.name] & causes]

    async def run(self, news: list[Message]) -> list[ActionOutput]:
        """React to the news per the react mode; return what the actions produced."""
        if self.react_mode == "react":
            return await self._react(news)
        if self.react_mode == "plan_and_act":
            return await self._plan_and_act(news)
        outputs = []
        for action in self.actions_for(news):
            out = await action.run(news)
            if out is not None:
                outputs.append(_caused(out, action))
        return outputs

    def _choice_model(self, *, as_list: bool) -> type[BaseModel]:
        names = tuple(a.name for a in self.actions)
        if as_list:
            return create_model(
                "ActionPlan",
                actions=(list[Literal[names]], Field(min_length=1)),  # type: ignore[valid-type]
                reason=(str, ""),
            )
        return create_model(
            "NextAction",
            action=(Literal[(*names, STOP)], ...),  # type: ignore[valid-type]
            reason=(str, ""),
        )

    def _decision_prompt(self, news: list[Message], done: list[ActionOutput], mode: str) -> str:
        assert self.ctx is not None, "react and plan_and_act need an action context"
        return self.ctx.prompts.render(
            f"Role{mode}", role=self, news=news, done=done,
            actions=[{"name": a.name, "description": a.description} for a in self.actions],
        )

    def _system(self) -> dict[str, str]:
        text = f"You are the {self.name}: {self.profile}. {self.goal}"
        return {"role": "system", "content": text}

    async def _react(self, news: list[Message]) -> list[ActionOutput]:
        assert self.ctx is not None, "react mode needs an action context"
        model = self._choice_model(as_list=False)
        by_name = {a.name: a for a in self.actions}
        outputs: list[ActionOutput] = []
        for _ in range(self.max_react_loop):
            prompt = self._decision_prompt(news, outputs, "React")
            choice: Any = await self.ctx.llm.ask_model(
                [self._system(), {"role": "user", "content": prompt}], model
            )
            if choice.action == STOP:
                break
            action = by_name[choice.action]
            out = await action.run(news)
            if out is not None:
                outputs.append(_caused(out, action))
        return outputs

    async def _plan_and_act(self, news: list[Message]) -> list[ActionOutput]:
        assert self.ctx is not None, "plan_and_act mode needs an action context"
        model = self._choice_model(as_list=True)
        prompt = self._decision_prompt(news, [], "Plan")
        plan: Any = await self.ctx.llm.ask_model(
            [self._system(), {"role": "user", "content": prompt}], model
        )
        by_name = {a.name: a for a in self.actions}
        outputs: list[ActionOutput] = []
        for name in plan.actions[: self.max_react_loop]:
            action = by_name[name]
            out = await action.run(news)
            if out is not None:
                outputs.append(_caused(out, action))
        return outputs


def _caused(out: ActionOutput, action: Action) -> ActionOutput:
    """Stamp the producing action's name as the output's cause_by unless set."""
    if not out.cause_by:
        out.cause_by = action.name
    return out
