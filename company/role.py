"""Role: a profile, a goal, actions and a watch set; observe → think → act."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, create_model

from company.action import Action, ActionContext, ActionOutput
from company.message import ActionRef, Message, cause_name

STOP = "stop"


class ReactMode(StrEnum):
    """How a role picks its actions for the news."""

    BY_TRIGGER = "by_trigger"
    """Every action whose triggers match the news, in the role's order (no LLM call)."""
    REACT = "react"
    """The LLM picks the next action, again and again, until it says stop (max_react_loop)."""
    PLAN_AND_ACT = "plan_and_act"
    """The LLM picks a list of actions once; they run in that order."""


DEPRECATED_MODES = {"by_order": ReactMode.BY_TRIGGER}
"""Old names still accepted, with a DeprecationWarning. In MetaGPT ``by_order`` runs every
action in turn; ours ran the actions whose triggers match, hence the rename."""


def react_mode_of(value: str) -> ReactMode:
    """A react mode by name; a deprecated name warns and maps to its new one."""
    if value in DEPRECATED_MODES:
        new = DEPRECATED_MODES[value]
        warnings.warn(f"react_mode {value!r} is deprecated: use {new.value!r} (it runs the "
                      "actions whose triggers match the news)", DeprecationWarning, stacklevel=3)
        return new
    try:
        return ReactMode(value)
    except ValueError:
        known = ", ".join(m.value for m in ReactMode)
        raise ValueError(f"react_mode must be one of {known}, not {value!r}") from None


class Role:
    """One member of the company. Subclasses set the class attributes (``default_watch`` and
    ``default_actions`` name action classes); SOPs and ``hire`` may override them per run. A
    subclass that overrides ``__init__`` passes ``**kwargs`` on to this one."""

    name: ClassVar[str] = "Role"
    profile: ClassVar[str] = ""
    goal: ClassVar[str] = ""
    default_watch: ClassVar[tuple[ActionRef, ...]] = ()
    default_actions: ClassVar[tuple[type[Action], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def __init__(
        self,
        *,
        actions: Sequence[Action | type[Action]] | None = None,
        watch: Iterable[ActionRef] | None = None,
        name: str | None = None,
        profile: str | None = None,
        goal: str | None = None,
        react_mode: str = ReactMode.BY_TRIGGER,
        max_react_loop: int = 3,
        triggers: Mapping[str, Iterable[ActionRef]] | None = None,
        options: dict[str, Any] | None = None,
        ctx: ActionContext | None = None,
    ) -> None:
        self.name = name or type(self).name
        self.profile = profile if profile is not None else type(self).profile
        self.goal = goal if goal is not None else type(self).goal
        self._staff: list[Action | type[Action]] = list(
            actions if actions is not None else self.default_actions)
        self.watch: set[str] = set()
        self._watch(watch if watch is not None else self.default_watch)
        self.react_mode = react_mode_of(str(react_mode))
        self.max_react_loop = max_react_loop
        self.trigger_overrides = {cause_name(k): {cause_name(c) for c in v}
                                  for k, v in (triggers or {}).items()}
        self.options = dict(options or {})
        self.ctx: ActionContext | None = None
        self.actions: list[Action] = []
        self.triggers: dict[str, set[str]] = {}
        self.inbox: list[Message] = []
        if ctx is not None or all(isinstance(a, Action) for a in self._staff):
            self.bind(ctx)

    # hiring ------------------------------------------------------------
    def _watch(self, actions: Iterable[ActionRef]) -> None:
        """Watch the messages of these actions (classes, or names), MetaGPT style."""
        self.watch |= {cause_name(a) for a in actions}

    @property
    def action_classes(self) -> list[type[Action]]:
        """The classes of this role's actions, in order."""
        return [type(a) if isinstance(a, Action) else a for a in self._staff]

    def bind(self, ctx: ActionContext | None) -> Role:
        """Give the role a task's context: its action classes become actions using it."""
        self.ctx = ctx
        self.actions = [a if isinstance(a, Action) else a(ctx) for a in self._staff]  # type: ignore[arg-type]
        self.triggers = {a.name: self.trigger_overrides.get(a.name, a.trigger_names())
                         for a in self.actions}
        return self

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
        """by_trigger: the actions whose triggers match the news (no triggers: any news)."""
        causes = {m.cause_by for m in news}
        return [a for a in self.actions
                if not self.triggers[a.name] or self.triggers[a.name] & causes]

    async def run(self, news: list[Message]) -> list[ActionOutput]:
        """React to the news per the react mode; return what the actions produced."""
        if self.react_mode is ReactMode.REACT:
            return await self._react(news)
        if self.react_mode is ReactMode.PLAN_AND_ACT:
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

    async def _decide(self, news: list[Message], done: list[ActionOutput], mode: str,
                      model: type[BaseModel]) -> Any:
        assert self.ctx is not None, f"{self.react_mode.value} needs an action context"
        prompt = self.ctx.prompts.render(
            f"Role{mode}", role=self, news=news, done=done,
            actions=[{"name": a.name, "description": a.description} for a in self.actions],
        )
        system = {"role": "system", "content": f"You are the {self.name}: {self.profile}. "
                  f"{self.goal}"}
        llm = self.ctx.llm.for_action(f"Role{mode}")
        return await llm.ask_model([system, {"role": "user", "content": prompt}], model)

    async def _react(self, news: list[Message]) -> list[ActionOutput]:
        model = self._choice_model(as_list=False)
        by_name = {a.name: a for a in self.actions}
        outputs: list[ActionOutput] = []
        for _ in range(self.max_react_loop):
            choice = await self._decide(news, outputs, "React", model)
            if choice.action == STOP:
                break
            action = by_name[choice.action]
            out = await action.run(news)
            if out is not None:
                outputs.append(_caused(out, action))
        return outputs

    async def _plan_and_act(self, news: list[Message]) -> list[ActionOutput]:
        plan = await self._decide(news, [], "Plan", self._choice_model(as_list=True))
        by_name = {a.name: a for a in self.actions}
        outputs: list[ActionOutput] = []
        for name in plan.actions[: self.max_react_loop]:
            action = by_name[name]
            out = await action.run(news)
            if out is not None:
                outputs.append(_caused(out, action))
        return outputs


def _caused(out: ActionOutput, action: Action) -> ActionOutput:
    """Stamp the producing action's name as the output's cause_by unless set, and check the
    payload is the action's declared model."""
    if not out.cause_by:
        out.cause_by = action.name
    expected = type(action).payload if out.cause_by == action.name else None
    if expected is not None and out.payload is not None and not isinstance(out.payload, expected):
        raise TypeError(f"{action.name} must publish a {expected.__name__} payload, not "
                        f"{type(out.payload).__name__}")
    return out
