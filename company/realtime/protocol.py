"""The ``/v1/realtime`` protocol: every client message and server event, one pydantic model each.

Client -> server: JSON text frames (``ClientMessage``) and binary audio frames (PCM16 mono
16 kHz little-endian, or WebM/Opus as MediaRecorder writes it, after ``session.update``).
Server -> client: JSON text frames (``ServerEvent``). Close codes: ``CloseCode``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

AudioFormat = Literal["pcm16", "webm"]


class CloseCode(IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    """``session.close`` from the client."""
    GOING_AWAY = 1001
    """The server is shutting down."""
    TOO_BIG = 1009
    """A frame larger than ``realtime.max_frame_bytes``."""
    INTERNAL = 1011
    """The server cannot serve sessions (e.g. no VAD model) or failed."""
    UNAUTHORIZED = 4401
    """No key, or a wrong one."""
    IDLE = 4408
    """The client sent nothing for ``realtime.idle_timeout_s``."""
    SESSION_EXPIRED = 4410
    """The session lasted ``realtime.max_session_s``."""
    SLOW_CLIENT = 4411
    """The client did not read its events (its queue stayed full ``realtime.slow_client_s``)."""
    TOO_MANY_SESSIONS = 4429
    """The key (or the server) has its most sessions open."""


# -- client messages ----------------------------------------------------------------------------
class _Client(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionConfig(_Client):
    """What a client may change in its session (every field optional)."""

    audio_format: AudioFormat | None = Field(default=None, description="of binary frames")
    sop: str | None = Field(default=None, max_length=200, description="the SOP of the task")
    text: str | None = Field(default=None, max_length=4000,
                             description="typed text sent with the first turn")
    speak: bool | None = Field(default=None, description="speak the report's lead answer")
    partials: bool | None = Field(default=None, description="send transcript.delta")
    silence_ms: int | None = Field(default=None, ge=100, le=10_000,
                                   description="silence that ends a turn")


class SessionUpdate(_Client):
    """Change the session's settings; answered by ``session.updated``."""

    type: Literal["session.update"]
    session: SessionConfig


class InputAudioAppend(_Client):
    """Audio as base64 in JSON (binary frames are the cheaper way)."""

    type: Literal["input_audio.append"]
    audio: str = Field(max_length=1_000_000, description="base64 of the session's audio format")


class InputAudioCommit(_Client):
    """End the current turn now (push-to-talk), without waiting for silence."""

    type: Literal["input_audio.commit"]


class InputAudioClear(_Client):
    """Drop the current turn's audio."""

    type: Literal["input_audio.clear"]


class ResponseCancel(_Client):
    """Stop the spoken reply (the task itself goes on)."""

    type: Literal["response.cancel"]


class SessionClose(_Client):
    """End the session: ``session.ended``, then close code 1000."""

    type: Literal["session.close"]


ClientMessage = Annotated[
    SessionUpdate | InputAudioAppend | InputAudioCommit | InputAudioClear | ResponseCancel
    | SessionClose,
    Field(discriminator="type"),
]
CLIENT_MESSAGE: TypeAdapter[Any] = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("session.update", "input_audio.append", "input_audio.commit",
                "input_audio.clear", "response.cancel", "session.close")


# -- server events ------------------------------------------------------------------------------
class _Server(BaseModel):
    pass


class SessionInfo(BaseModel):
    """The session as the server runs it."""

    id: str
    audio_format: AudioFormat
    sample_rate: int = 16_000
    sop: str | None = None
    speak: bool
    partials: bool
    silence_ms: int
    vad: str
    limits: dict[str, float] = Field(default_factory=dict)


class SessionCreated(_Server):
    """The first event: the session's id and settings."""

    type: Literal["session.created"] = "session.created"
    session: SessionInfo


class SessionUpdated(_Server):
    """The session's settings after a ``session.update``."""

    type: Literal["session.updated"] = "session.updated"
    session: SessionInfo


class SpeechStarted(_Server):
    """Voice activity began a turn (``audio_start_ms``: session audio time)."""

    type: Literal["input.speech_started"] = "input.speech_started"
    turn: int
    audio_start_ms: int


class SpeechStopped(_Server):
    """The turn ended: silence, ``input_audio.commit``, or its audio limit."""

    type: Literal["input.speech_stopped"] = "input.speech_stopped"
    turn: int
    audio_end_ms: int
    reason: Literal["silence", "commit", "max_turn"] = "silence"


class TranscriptDelta(_Server):
    """More of the turn's stable transcript: ``delta`` is new, ``text`` all so far."""

    type: Literal["transcript.delta"] = "transcript.delta"
    turn: int
    delta: str
    text: str


class TranscriptDone(_Server):
    """The turn's final transcript (what the offline path gives for the same audio)."""

    type: Literal["transcript.done"] = "transcript.done"
    turn: int
    text: str
    language: str | None = None
    duration_s: float


class TaskCreated(_Server):
    """The first turn became a VoiceRequest task."""

    type: Literal["task.created"] = "task.created"
    turn: int
    task_id: str
    events_url: str


class TaskFollowedUp(_Server):
    """A later turn became a follow-up of the session's task."""

    type: Literal["task.followed_up"] = "task.followed_up"
    turn: int
    task_id: str


class TaskEvent(_Server):
    """One of the company's own events for the task (role started/finished, message, graph
    node, budget, ...), as the SSE stream shows it."""

    type: Literal["task.event"] = "task.event"
    task_id: str
    seq: int
    kind: str
    at: str
    data: dict[str, Any]


class ResponseCreated(_Server):
    """The company started on a turn."""

    type: Literal["response.created"] = "response.created"
    turn: int
    task_id: str


class ResponseDone(_Server):
    """The company finished a turn: its report (or error) and the lead answer."""

    type: Literal["response.done"] = "response.done"
    turn: int
    task_id: str
    status: str
    report: str | None = None
    answer: str | None = Field(default=None, description="the report's lead answer, spoken")
    error: str | None = None


class AudioDelta(_Server):
    """A piece of the spoken answer: base64 PCM16 mono at ``sample_rate``."""

    type: Literal["response.audio.delta"] = "response.audio.delta"
    turn: int
    index: int
    sample_rate: int
    audio: str


class AudioDone(_Server):
    """The spoken answer was sent whole."""

    type: Literal["response.audio.done"] = "response.audio.done"
    turn: int
    chunks: int
    duration_s: float


class AudioCancelled(_Server):
    """The spoken answer stopped: the user spoke (barge-in) or sent ``response.cancel``."""

    type: Literal["response.audio.cancelled"] = "response.audio.cancelled"
    turn: int
    reason: Literal["barge_in", "cancel"]
    sent_s: float


class ErrorInfo(BaseModel):
    """What went wrong."""

    code: str
    message: str


class ErrorEvent(_Server):
    """A problem with one message or frame; the session goes on unless a close follows."""

    type: Literal["error"] = "error"
    error: ErrorInfo


class SessionEnded(_Server):
    """The last event before the server closes the socket."""

    type: Literal["session.ended"] = "session.ended"
    reason: str
    code: int


ServerEvent = Annotated[
    SessionCreated | SessionUpdated | SpeechStarted | SpeechStopped | TranscriptDelta
    | TranscriptDone | TaskCreated | TaskFollowedUp | TaskEvent | ResponseCreated | ResponseDone
    | AudioDelta | AudioDone | AudioCancelled | ErrorEvent | SessionEnded,
    Field(discriminator="type"),
]
SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(ServerEvent)


def error(code: str, message: str) -> ErrorEvent:
    """An ``error`` event."""
    return ErrorEvent(error=ErrorInfo(code=code, message=message))


def protocol_schema() -> dict[str, Any]:
    """JSON schemas of both directions, for the docs (AsyncAPI-style ``messages``)."""
    return {
        "client": CLIENT_MESSAGE.json_schema(),
        "server": SERVER_EVENT.json_schema(),
        "close_codes": {code.name.lower(): int(code) for code in CloseCode},
    }
