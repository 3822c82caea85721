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


# ---------------------------------------------------------------- OpenAI-compatible audio API

AUDIO_RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
"""The ``response_format`` values of ``/v1/audio/transcriptions`` and ``/translations``."""
TIMESTAMP_GRANULARITIES = ("segment", "word")
AudioResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]


class OpenAIErrorDetail(BaseModel):
    """What went wrong, as OpenAI's API says it."""

    message: str = Field(description="a sentence saying what is wrong")
    type: str = Field(description="invalid_request_error, rate_limit_error or server_error")
    param: str | None = Field(default=None, description="the form field at fault, if one is")
    code: str | None = Field(default=None, description="a machine-readable reason, if any")


class OpenAIErrorBody(BaseModel):
    """Every error answer of ``/v1/audio/*``: OpenAI's error shape."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": {
        "message": "response_format 'xml' is not supported; use one of json, text, srt, vtt, "
                   "verbose_json", "type": "invalid_request_error", "param": "response_format",
        "code": "invalid_value"}}]})

    error: OpenAIErrorDetail


def _granularities(value: Any) -> Any:
    """One value or several (``timestamp_granularities[]`` repeated) as a list."""
    return [value] if isinstance(value, str) else value


class AudioOptions(BaseModel):
    """The text fields of ``POST /v1/audio/translations`` (OpenAI's), validated after the
    upload has streamed in; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    model: str = Field(description="'whisper-1' or the name of the model this server runs; "
                       "every accepted name is served by the server's configured Whisper model",
                       examples=["whisper-1"])
    prompt: str | None = Field(default=None, max_length=MAX_REQUEST_CHARS,
                               description="accepted and ignored: the Whisper service does not "
                               "take an initial prompt yet")
    response_format: AudioResponseFormat = Field(default="json", examples=["verbose_json"])
    temperature: float = Field(default=0.0, ge=0.0, le=1.0, allow_inf_nan=False,
                               description="accepted (0 to 1) and ignored: the service decodes "
                               "at its configured temperature")
    language: str | None = Field(default=None, description="the spoken language (ISO-639-1, "
                                 "e.g. 'de'); detected when absent", examples=["en"])

    @field_validator("model", "language", "prompt", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("response_format", mode="before")
    @classmethod
    def _known_format(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip() in AUDIO_RESPONSE_FORMATS:
            return value.strip()
        raise ValueError(f"response_format {value!r} is not supported; use one of "
                         f"{', '.join(AUDIO_RESPONSE_FORMATS)}")


class TranscriptionOptions(AudioOptions):
    """The text fields of ``POST /v1/audio/transcriptions`` (OpenAI's)."""

    timestamp_granularities: list[Literal["segment", "word"]] = Field(
        default=["segment"], alias="timestamp_granularities[]", max_length=2,
        description="with verbose_json: 'segment' (the default); 'word' is refused until the "
        "service decodes word timestamps")

    @field_validator("timestamp_granularities", mode="before")
    @classmethod
    def _known_granularities(cls, value: Any) -> Any:
        values = _granularities(value)
        bad = [v for v in values if v not in TIMESTAMP_GRANULARITIES]
        if bad:
            raise ValueError(f"timestamp_granularities[] {bad[0]!r} is not supported; use "
                             f"segment or word")
        return values


_FILE_DOC = ("the recording (wav, mp3, m4a, ogg, webm, flac ...), within the server's upload "
             "limits")


class TranslationForm(AudioOptions):
    """The multipart form of ``POST /v1/audio/translations`` (documents the route)."""

    file: bytes = Field(json_schema_extra={"format": "binary"}, description=_FILE_DOC)


class TranscriptionForm(TranscriptionOptions):
    """The multipart form of ``POST /v1/audio/transcriptions`` (documents the route)."""

    file: bytes = Field(json_schema_extra={"format": "binary"}, description=_FILE_DOC)


TEXT_EXAMPLE: dict[str, Any] = {"text": "Book a meeting room for Thursday.",
                                "usage": {"type": "duration", "seconds": 2.4}}
VERBOSE_EXAMPLE: dict[str, Any] = {
    "task": "transcribe", "language": "english", "duration": 2.4,
    "text": "Book a meeting room for Thursday.",
    "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 2.4,
                  "text": "Book a meeting room for Thursday.",
                  "tokens": [50364, 15058, 257, 3440, 1808, 337, 10383, 13, 50484],
                  "temperature": 0.0, "avg_logprob": -0.21, "compression_ratio": 0.92,
                  "no_speech_prob": 0.01}],
    "usage": {"type": "duration", "seconds": 2.4}}


class AudioUsage(BaseModel):
    """The audio seconds a request used (OpenAI's ``usage`` for duration-billed models)."""

    type: Literal["duration"] = "duration"
    seconds: float


class TranscriptionText(BaseModel):
    """``response_format=json``: the text (and the audio seconds used)."""

    model_config = ConfigDict(json_schema_extra={"examples": [TEXT_EXAMPLE]})

    text: str
    usage: AudioUsage | None = None


class VerboseSegmentOut(BaseModel):
    """One segment of ``verbose_json``; the decoding figures are its 30 s window's."""

    id: int
    seek: int = Field(description="the window's start in 10 ms mel frames")
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class VerboseWordOut(BaseModel):
    """One word of ``verbose_json`` (``timestamp_granularities[]=word``)."""

    word: str
    start: float
    end: float


class VerboseTranscriptionOut(BaseModel):
    """``response_format=verbose_json``: OpenAI's layout (``language`` is the English name)."""

    model_config = ConfigDict(json_schema_extra={"examples": [VERBOSE_EXAMPLE]})

    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[VerboseSegmentOut] | None = None
    words: list[VerboseWordOut] | None = None
    usage: AudioUsage | None = None


# ---------------------------------------------------------------- the Boss's notebook

NoteKind = Literal["idea", "item"]
ItemStatus = Literal["open", "done", "dropped"]
IdeaStatus = Literal["kept", "dropped"]
NoteStatus = Literal["open", "done", "kept", "dropped"]
NotePriority = Literal["high", "medium", "low"]
MAX_NOTE_TEXT = 1000
MAX_NOTE_TAGS = 10
MAX_NOTE_TAG = 40
ITEM_EXAMPLE: dict[str, Any] = {
    "id": 7, "kind": "item", "text": "Send the invoice to Bob by Friday", "priority": "high",
    "status": "open", "tags": ["billing"], "source": "send the invoice to Bob by Friday",
    "task_id": "20250101-120000-ab12cd", "message_id": "20250101-120000-ab12cd-00001",
    "mentions": 1, "created_at": "2025-01-01T12:00:03+00:00",
    "updated_at": "2025-01-01T12:00:03+00:00"}
IDEA_EXAMPLE: dict[str, Any] = {
    **ITEM_EXAMPLE, "id": 8, "kind": "idea", "text": "Bob prefers PDF invoices",
    "priority": "low", "status": "kept", "tags": [], "source": "Bob prefers PDF"}


class NoteOut(BaseModel):
    """One note of the notebook: an action item (open, done, dropped) or an idea (kept,
    dropped); ``mentions`` counts the Boss's messages that said it."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_EXAMPLE, IDEA_EXAMPLE]})

    id: int
    kind: NoteKind
    text: str
    priority: NotePriority
    status: NoteStatus
    tags: list[str] = Field(default_factory=list)
    source: str = Field(default="", description="the Boss's words the note came from")
    task_id: str = Field(default="", description="the task of the newest mention")
    message_id: str = Field(default="", description="the message of the newest mention")
    mentions: int = 1
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    """One page of notes, most recently updated first (``total``: all that match)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [ITEM_EXAMPLE], "total": 12, "limit": 1, "offset": 0, "next_offset": 1}]})

    items: list[NoteOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None


class ItemPatch(BaseModel):
    """A change to an action item: its status (``open`` reopens a done or dropped item),
    text, priority or tags (the tags given replace the old ones). At least one field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: ItemStatus | None = Field(default=None, description="open, done or dropped")
    text: str | None = Field(default=None, min_length=1, max_length=MAX_NOTE_TEXT,
                             pattern=NOT_BLANK)
    priority: NotePriority | None = None
    tags: list[str] | None = Field(
        default=None, max_length=MAX_NOTE_TAGS,
        description=f"at most {MAX_NOTE_TAGS} tags of 1..{MAX_NOTE_TAG} characters "
        "(a leading '#' is dropped; kept lower-case)")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        for tag in value or ():
            if not 1 <= len(" ".join(tag.split()).lstrip("#")) <= MAX_NOTE_TAG:
                raise ValueError(f"a tag must have 1..{MAX_NOTE_TAG} characters")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields given (an explicit null counts as not given)."""
        return self.model_dump(exclude_none=True)
