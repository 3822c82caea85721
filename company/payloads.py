"""Typed payloads of the company's standard actions (each action class names its own)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from company.status import StepStatus

Priority = Literal["high", "medium", "low"]


class VoiceRequestPayload(BaseModel):
    """A Boss's voice note: where the audio lies, plus any typed text."""

    audio_path: str
    text: str = ""
    filename: str = ""


class TranscriptSegment(BaseModel):
    """A stretch of transcript with its times in seconds."""

    start: float
    end: float
    text: str


class TranscriptPayload(BaseModel):
    """The Transcriber's result: transcript merged with typed text, or the error."""

    transcript: str = ""
    typed_text: str = ""
    language: str | None = None
    duration_s: float = 0.0
    processing_s: float = 0.0
    segments: list[TranscriptSegment] = Field(default_factory=list)
    error: str | None = None


SOURCE_HELP = "the Boss's exact words this came from, copied from the request"


class Idea(BaseModel):
    """Something the Boss said worth remembering (a preference, a fact they stated, a plan),
    with the Boss's words it came from (``source``; empty in payloads stored before it)."""

    source: str = Field(default="", description=SOURCE_HELP)
    text: str = Field(min_length=1)
    priority: Priority = "medium"


class ActionItem(BaseModel):
    """Something to do, with a priority and the Boss's words it came from."""

    source: str = Field(default="", description=SOURCE_HELP)
    text: str = Field(min_length=1)
    priority: Priority = "medium"


class Analysis(BaseModel):
    """The Analyst's reading of a request."""

    summary: str = Field(min_length=1)
    ideas: list[Idea] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)


class PlanStep(BaseModel):
    """One plan step: which graph to run, with which inputs, after which steps.

    ``depends_on`` is not asked of the model: the Planner derives it from the ``{{ sN.output }}``
    references in ``inputs`` (``actions.planning.derive_dependencies``); a stored plan that
    carries its own still loads."""

    id: str = Field(min_length=1)
    graph: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    purpose: str = ""


class Plan(BaseModel):
    """The Planner's ordered steps."""

    steps: list[PlanStep] = Field(default_factory=list)
    notes: str = ""


class NodeStatus(BaseModel):
    """How one node of a step's graph ended, as AutoGPT reported it (its executions folded
    into one: FAILED when any failed, else the last one's status; the first error)."""

    node_id: str
    block: str = ""
    status: str
    error: str | None = None
    executions: int = 1


class StepResult(BaseModel):
    """What running one plan step gave.

    ``status`` is honest where AutoGPT's is not: AutoGPT calls a graph COMPLETED even when a
    node failed; a step is FAILED when a node failed and the graph gave no value on any of its
    outputs. A step whose graph gave some output while a node failed stays COMPLETED, with the
    failed nodes in ``error`` (a partial result: a reader that wants a clean run checks
    ``error`` too). ``nodes`` keeps AutoGPT's own node statuses; ``attempt`` is which plan for
    this request ran it (1, or 2 after one re-plan following failed steps)."""

    step_id: str
    graph: str
    status: StepStatus
    outputs: dict[str, list[Any]] = Field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    execution_id: str | None = None
    nodes: list[NodeStatus] = Field(default_factory=list)
    attempt: int = Field(default=1, ge=1)
    where: Literal["local", "remote", "refused"] | None = None  # where the graph ran


class GraphResults(BaseModel):
    """The Executor's results: ``steps`` are the graph executions this Executor turn ran, each
    reported once (a re-plan inside the turn, with no Planner, adds the new plan's steps after
    the failed plan's); ``replans`` counts those in-turn re-plans. ``earlier`` repeats the steps
    of this request's earlier attempts, published before to the Planner for a re-plan, so that
    the newest results alone tell what failed (they are not new executions)."""

    steps: list[StepResult] = Field(default_factory=list)
    replans: int = Field(default=0, ge=0)
    earlier: list[StepResult] = Field(default_factory=list)

    @property
    def all_steps(self) -> list[StepResult]:
        """Every step the request ran, oldest attempt first: ``earlier``, then ``steps``."""
        return [*self.earlier, *self.steps]


class Report(BaseModel):
    """The final report to the Boss, in Markdown."""

    markdown: str = Field(min_length=1)
    unchecked: str | None = None
    """Why the narrative failed its checks even after a re-ask (the report's status line
    says it too); None when it passed."""


class Review(BaseModel):
    """A review of executed results: accept them, or send the Planner back."""

    verdict: Literal["accept", "replan"]
    feedback: str = ""
