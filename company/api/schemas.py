"""Pydantic models of every request body and response of the HTTP shim."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from company.status import TaskStatus

MAX_REQUEST_CHARS = 20_000
SOP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
TASK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
NOT_BLANK = r"\S"


def _stripped(value: Any, what: str) -> Any:
    """Strip strings and refuse blank ones with a clear message (other types: pydantic's)."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError(f"the {what} is empty: say what the company should do")
    return value


class TaskOptions(BaseModel):
    """Per-task run options."""

    model_config = ConfigDict(extra="forbid", strict=True)

    n_round: int | None = Field(default=None, ge=1, le=50, description="at most this many rounds")
    investment: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False,
                                     description="money budget for this task, USD")


class TaskRequest(BaseModel):
    """A typed request from the Boss."""

    model_config = ConfigDict(extra="forbid", strict=True)

    request: str = Field(min_length=1, max_length=MAX_REQUEST_CHARS, pattern=NOT_BLANK,
                         description="what to do")
    sop: str | None = Field(default=None, pattern=SOP_NAME_PATTERN,
                            description="an SOP under config/sops/ (default: the server's)")
    options: TaskOptions | None = None

    @field_validator("request", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        return _stripped(value, "request")


class VoiceForm(BaseModel):
    """The multipart form of a voice request (documents ``/v1/tasks/voice``)."""

    audio: bytes = Field(json_schema_extra={"format": "binary"},
                         description="the recording (webm/opus, ogg, wav, mp3, m4a, flac ...)")
    text: str = Field(default="", max_length=MAX_REQUEST_CHARS, description="typed text")
    sop: str | None = Field(default=None, pattern=SOP_NAME_PATTERN)


class VoiceFields(BaseModel):
    """The text fields of a voice upload, validated after streaming."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(default="", max_length=MAX_REQUEST_CHARS)
    sop: str | None = Field(default=None, pattern=SOP_NAME_PATTERN)

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class FollowUp(BaseModel):
    """A follow-up from the Boss into an existing task."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1, max_length=MAX_REQUEST_CHARS, pattern=NOT_BLANK)

    @field_validator("text", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        return _stripped(value, "follow-up")


class FollowUpForm(BaseModel):
    """The multipart form of a spoken follow-up (documents ``/v1/tasks/{id}/messages``)."""

    audio: bytes | None = Field(default=None, json_schema_extra={"format": "binary"})
    text: str = Field(default="", max_length=MAX_REQUEST_CHARS)


class TaskAccepted(BaseModel):
    """The answer to a submission: where to look next."""

    task_id: str
    status: TaskStatus
    status_url: str
    events_url: str


class MessageOut(BaseModel):
    """One message of a task's shared memory."""

    id: str
    seq: int
    cause_by: str
    sent_from: str
    send_to: list[str]
    content: str
    payload: dict[str, Any] | None = None
    created_at: datetime


class UsageOut(BaseModel):
    """LLM usage of one role with one model."""

    role: str
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageTotal(BaseModel):
    """LLM usage of a whole task."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0
    cost: float = 0.0


class TaskUsage(BaseModel):
    """Usage per role plus the totals."""

    by_role: list[UsageOut] = Field(default_factory=list)
    total: UsageTotal = Field(default_factory=UsageTotal)


class TaskSummary(BaseModel):
    """A task in a listing."""

    task_id: str
    status: TaskStatus
    request: str
    sop: str
    rounds: int
    created_at: datetime
    updated_at: datetime
    error: str | None = None


class TaskDetail(TaskSummary):
    """A task with its messages, usage, cost, and the report or the error."""

    llm: str
    queue_position: int | None = Field(default=None, description="1 = next to run (this server)")
    messages: list[MessageOut]
    usage: TaskUsage
    cost: float
    report: str | None = None
    events_url: str


class TaskPage(BaseModel):
    """One page of tasks, newest first."""

    items: list[TaskSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None


class CancelResult(BaseModel):
    """The task's status after a cancel."""

    task_id: str
    status: TaskStatus


class Check(BaseModel):
    """One health check."""

    ok: bool
    detail: str


class RunStats(BaseModel):
    """The run pool of this server process."""

    running: int
    queued: int
    max_concurrent_runs: int
    max_queue: int
    accepting: bool


class Health(BaseModel):
    """Whether the server can do its work."""

    status: Literal["ok", "degraded"]
    llm: Check
    store: Check
    whisper: Check
    runs: RunStats


class ErrorBody(BaseModel):
    """Every error answer: a sentence saying what is wrong."""

    detail: str


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int]
    msg: str


class ValidationErrorBody(ErrorBody):
    """A 422 answer: the summary plus each invalid field."""

    errors: list[FieldError] = Field(default_factory=list)
