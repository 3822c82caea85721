"""Task and plan-step statuses as enums, with the task transitions in one table.

Imports nothing from the project: the store, the API, the pool and research all read it.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task stands; the values are the strings the store and the API have always used."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def parse(cls, value: str) -> TaskStatus:
        """The status named ``value``, or a ValueError that lists the valid names."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"{value!r} is not a task status (one of: {names})") from None

    @property
    def terminal(self) -> bool:
        """True once the task's run has ended (a follow-up can queue it again)."""
        return self in TERMINAL

    def can_become(self, new: TaskStatus) -> bool:
        """True when the runtime may move a task from this status to ``new``."""
        return new in TRANSITIONS[self]


RUNNABLE: frozenset[TaskStatus] = frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING})
"""Statuses of a task that a server should (still, or again) run: the pool resumes these."""

TERMINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED}
)
"""Statuses of a task whose run has ended."""

_S = TaskStatus
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    # a run starts it; a cancel takes it out of the queue; a run that crashes before it
    # starts (an unreadable SOP, a missing model) fails it
    _S.QUEUED: frozenset({_S.QUEUED, _S.RUNNING, _S.CANCELLED, _S.FAILED}),
    # a run ends it; a server shutting down (interrupt), or a follow-up to a task left running
    # by a killed server, queues it again; a resumed run marks it running again
    _S.RUNNING: frozenset({_S.RUNNING, _S.QUEUED, _S.DONE, _S.FAILED, _S.CANCELLED}),
    # a follow-up queues a finished task again; running it directly resumes it from its log
    _S.DONE: frozenset({_S.DONE, _S.QUEUED, _S.RUNNING}),
    _S.FAILED: frozenset({_S.FAILED, _S.QUEUED, _S.RUNNING}),
    # as above; and a run in another server process that ends before it sees the cancel
    # records how it ended
    _S.CANCELLED: frozenset({_S.CANCELLED, _S.QUEUED, _S.RUNNING, _S.DONE, _S.FAILED}),
}
"""Each status and the statuses a task in it may move to (itself included)."""


def check_transition(old: TaskStatus | str, new: TaskStatus | str) -> TaskStatus:
    """``new`` as a TaskStatus when a task may move from ``old`` to it, else a ValueError."""
    before, after = TaskStatus.parse(old), TaskStatus.parse(new)
    if not before.can_become(after):
        allowed = ", ".join(sorted(TRANSITIONS[before]))
        raise ValueError(f"a {before} task cannot become {after} (from {before}: {allowed})")
    return after


class StepStatus(StrEnum):
    """How one plan step ended: a graph execution status (as AutoGPT names them), or why the
    step's graph never ran. The values are the strings step results have always carried."""

    INCOMPLETE = "INCOMPLETE"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"
    FAILED = "FAILED"
    REVIEW = "REVIEW"
    SKIPPED = "SKIPPED"
    """Not started: a step it depends on failed, or the dependencies are circular."""
    PLANNED = "planned, not executed"
    """Only planned: no Executor ran the plan (the report lists it so)."""

    @classmethod
    def _missing_(cls, value: object) -> StepStatus | None:
        """Read statuses case-insensitively (``completed`` is COMPLETED)."""
        if isinstance(value, str):
            folded = value.strip().casefold()
            for member in cls:
                if member.value.casefold() == folded:
                    return member
        return None

    @property
    def ran(self) -> bool:
        """True when the step's graph was started."""
        return self not in (StepStatus.SKIPPED, StepStatus.PLANNED)
