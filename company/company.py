"""Company: the public face of the runtime. It stores tasks and the Boss's messages, hires roles
(from an SOP, or in code) and runs tasks; the run itself lives in ``company.run``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import yaml

from company.boss import UserRequirement, VoiceRequest
from company.config import AppConfig
from company.environment import Environment
from company.events import EventBuses
from company.llm.base import Provider
from company.message import BOSS, Message, cause_name
from company.payloads import VoiceRequestPayload
from company.role import Role
from company.run import TaskOutcome, TaskRun
from company.run_options import RunOptions, RunSettings, choose_sop, resolve_run
from company.services import Services
from company.sop import SOP, load_sop, parse_sop
from company.status import TaskStatus
from company.store import Store, TaskRecord

RUN_OPTIONS = "run"
"""The key under which a task's options keep its RunOptions."""


def new_task_id() -> str:
    """A fresh task id."""
    return f"t{uuid.uuid4().hex[:12]}"


class Company:
    """The team: hires roles as an SOP says (or as ``hire`` is told) and runs requests through
    them. Providers, the store and services are shared by every task it runs."""

    def __init__(self, config: AppConfig, *, store: Store | None = None,
                 provider: Provider | None = None, services: Services | None = None) -> None:
        self.config = config
        self.store = store or Store(config.store_location)
        self._provider = provider
        self.services = services or Services(config)
        self.buses = EventBuses(self.store)
        self.hired: SOP | None = None

    @property
    def provider(self) -> Provider:
        """The model server client (built from the config's provider table row on first use)."""
        if self._provider is None:
            from company.llm.providers import build_provider

            self._provider = build_provider(self.config)
        return self._provider

    # hiring ------------------------------------------------------------
    def hire(self, roles: Sequence[Role | type[Role]], *, sop: SOP | str | None = None
             ) -> Company:
        """Staff the company in code, MetaGPT style: these roles (instances or classes, shipped
        or your own) replace the SOP's roles in the runs that follow; the SOP (default: the
        config's) still gives limits, model and prompts. Returns the company, to chain."""
        base = sop if isinstance(sop, SOP) else load_sop(sop or self.config.sop)
        self.hired = sop_with_roles(base, [r if isinstance(r, Role) else r() for r in roles])
        return self

    # tasks -------------------------------------------------------------
    def create_task(self, request: str, options: RunOptions | None = None, *,
                    voice: VoiceRequestPayload | None = None, task_id: str | None = None,
                    meta: dict[str, Any] | None = None) -> str:
        """Store a new task with its SOP and options, and publish the Boss's first message
        (stored before any role sees it). ``meta`` is kept with the task for its callers."""
        options = options or RunOptions()
        request = request.strip()
        if not request and voice is None:
            raise ValueError("the request is empty: say what the company should do")
        sop = self.hired if self.hired is not None and options.sop is None else choose_sop(
            options, self.config)
        settings = resolve_run(options, sop, self.config)
        task_id = task_id or new_task_id()
        stored = {**(meta or {}), RUN_OPTIONS: options.stored(), "sop_source": sop.source}
        with self.store.transaction():
            self.store.create_task(task_id, request, sop.name, sop.text,
                                   llm_spec=f"{self.config.llm.provider}:{settings.model}",
                                   options=stored)
            self._publish_boss(task_id, request, voice)
        return task_id

    def add_boss_message(self, task_id: str, text: str,
                         voice: VoiceRequestPayload | None = None) -> Message:
        """A follow-up from the Boss into an existing task; the task queues again."""
        if not text.strip() and voice is None:
            raise ValueError("the follow-up is empty")
        if self.store.get_task(task_id) is None:
            raise KeyError(task_id)
        with self.store.transaction():
            message = self._publish_boss(task_id, text.strip(), voice)
            self.store.update_task(task_id, status=TaskStatus.QUEUED, error=None)
        return message

    def _publish_boss(self, task_id: str, text: str,
                      voice: VoiceRequestPayload | None) -> Message:
        """Publish through the task's Environment, like every other message."""
        env = Environment(task_id, [], store=self.store, bus=self.buses.writer(task_id),
                          start_seq=self.store.last_message_seq(task_id),
                          max_message_bytes=self.config.limits.max_message_bytes)
        return env.publish(Message(
            content=text, payload=voice.model_dump() if voice else None,
            cause_by=(VoiceRequest if voice else UserRequirement).name, sent_from=BOSS,
        ))

    # running -----------------------------------------------------------
    def settings_for(self, task: TaskRecord, options: RunOptions | None = None) -> RunSettings:
        """A stored task's run settings: these options over the task's stored ones, then its
        SOP, then the config."""
        sop = parse_sop(task.sop_text, source=str(task.options.get("sop_source")
                                                  or task.sop_name))
        stored = RunOptions.model_validate(task.options.get(RUN_OPTIONS) or {})
        return resolve_run((options or RunOptions()).over(stored), sop, self.config)

    async def run(self, request: str, options: RunOptions | None = None, *,
                  voice: VoiceRequestPayload | None = None) -> TaskOutcome:
        """Create a task for the request and run it to the end."""
        task_id = self.create_task(request, options, voice=voice)
        return await self.run_task(task_id)

    async def run_task(self, task_id: str, options: RunOptions | None = None) -> TaskOutcome:
        """Run (or resume) a stored task from its message log until idle, out of rounds or
        budget. ``options`` override the ones stored with the task for this run."""
        task = self.store.get_task(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r} in {self.store.path}")
        settings = self.settings_for(task, options)
        staff = [spec.hire() for spec in settings.sop.roles]
        return await TaskRun(self, task, settings, staff).run()


def sop_with_roles(base: SOP, roles: Sequence[Role]) -> SOP:
    """``base`` with its roles replaced by these (each named by class, shipped or by import
    path, so the stored task can be resumed in another process)."""
    from company.names import path_of

    data = yaml.safe_load(base.text) if base.text else base.model_dump(exclude_none=True)
    data["roles"] = [_role_entry(role, path_of) for role in roles]
    data["name"] = f"{base.name}+hired"
    return parse_sop(yaml.safe_dump(data, sort_keys=False), source=base.source or "<hired>")


def _role_entry(role: Role, path_of: Any) -> dict[str, Any]:
    cls = type(role)
    entry: dict[str, Any] = {"name": path_of(cls)}
    if set(role.watch) != {cause_name(c) for c in cls.default_watch}:
        entry["watch"] = sorted(role.watch)
    actions = role.action_classes
    if actions != list(cls.default_actions):
        entry["actions"] = [path_of(a) for a in actions]
    if role.trigger_overrides:
        entry["triggers"] = {k: sorted(v) for k, v in role.trigger_overrides.items()}
    if role.react_mode.value != "by_trigger":
        entry["react_mode"] = role.react_mode.value
    if role.max_react_loop != 3:
        entry["max_react_loop"] = role.max_react_loop
    for key in ("profile", "goal"):
        if getattr(role, key) != getattr(cls, key):
            entry[key] = getattr(role, key)
    if role.options:
        entry["options"] = role.options
    if role.name != cls.name:
        raise ValueError(f"hire names a role by its class; {role.name!r} differs from "
                         f"{cls.name!r}: subclass it with name = {role.name!r}")
    return entry
