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


class Idea(BaseModel):
    """Something worth remembering, with a priority."""

    text: str = Field(min_length=1)
    priority: Priority = "medium"


class ActionItem(BaseModel):
    """Something to do, with a priority."""

    text: str = Field(min_length=1)
    priority: Priority = "medium"


class Analysis(BaseModel):
    """The Analyst's reading of a request."""

    summary: str = Field(min_length=1)
    ideas: list[Idea] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)


class PlanStep(BaseModel):
    """One plan step: which graph to run, with which inputs, after which steps."""

    id: str = Field(min_length=1)
    graph: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    purpose: str = ""


class Plan(BaseModel):
    """The Planner's ordered steps."""

    steps: list[PlanStep] = Field(default_factory=list)
    notes: str = ""


class StepResult(BaseModel):
    """What running one plan step gave."""

    step_id: str
    graph: str
    status: StepStatus
    outputs: dict[str, list[Any]] = Field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    execution_id: str | None = None


class GraphResults(BaseModel):
    """The Executor's results for a whole plan."""

    steps: list[StepResult] = Field(default_factory=list)


class Report(BaseModel):
    """The final report to the Boss, in Markdown."""

    markdown: str = Field(min_length=1)


class Review(BaseModel):
    """A review of executed results: accept them, or send the Planner back."""

    verdict: Literal["accept", "replan"]
    feedback: str = ""
