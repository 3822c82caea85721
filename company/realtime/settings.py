"""RealtimeSettings: the ``realtime`` section of the config (turns, partials, voice, limits)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RealtimeSettings(BaseModel):
    """How ``/v1/realtime`` detects turns, shows partials, speaks replies and bounds sessions."""

    model_config = ConfigDict(extra="forbid")

    # turn detection
    vad: Literal["silero", "energy"] = Field(
        default="silero", description="silero: the silero-vad package's ONNX model; energy: RMS")
    vad_threshold: float = Field(default=0.5, gt=0, lt=1, description="speech probability")
    energy_threshold: float = Field(default=0.02, gt=0, description="RMS of speech (energy VAD)")
    min_speech_ms: int = Field(default=200, ge=32, description="speech this long starts a turn")
    silence_ms: int = Field(default=700, ge=100, le=10_000,
                            description="silence this long ends a turn")
    preroll_ms: int = Field(default=400, ge=0, le=5_000,
                            description="audio kept before the detected start of speech")
    # partial transcripts
    partials: bool = True
    partial_every_ms: int = Field(default=700, ge=100, description="re-decode cadence (audio)")
    partial_sample_len: int | None = Field(default=None, ge=1,
                                           description="token cap of a partial decode")
    # spoken replies
    speak: bool = Field(default=True, description="speak the report's lead answer")
    tts: Literal["espeak", "piper"] = "espeak"
    voice: str = Field(default="en-us", description="espeak-ng voice name")
    words_per_minute: int = Field(default=175, ge=80, le=450)
    piper_model: str | None = Field(default=None, description="a Piper .onnx voice (tts: piper)")
    max_spoken_chars: int = Field(default=600, ge=20, description="longest answer spoken")
    audio_chunk_ms: int = Field(default=200, ge=20, le=2_000)
    audio_lead_ms: int = Field(default=600, ge=0, description="how far audio runs ahead of "
                               "playback (barge-in stops what has not been sent)")
    # limits
    max_session_s: float = Field(default=1800.0, gt=0, description="a session's whole length")
    idle_timeout_s: float = Field(default=120.0, gt=0,
                                  description="close when the client sends nothing this long")
    max_turn_s: float = Field(default=60.0, gt=0, description="audio of one turn (then it ends)")
    max_sessions_per_key: int = Field(default=4, ge=1)
    max_sessions: int = Field(default=32, ge=1, description="sessions of this server process")
    max_frame_bytes: int = Field(default=256 * 1024, ge=1024, description="one WebSocket frame")
    max_pending_turns: int = Field(default=2, ge=1, description="turns waiting for a busy task")
    max_outbox_events: int = Field(default=256, ge=8, description="events queued for a client")
    max_outbox_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    slow_client_s: float = Field(default=10.0, gt=0, description="a client whose queue stays "
                                 "full this long is dropped (close code 4411)")

    @classmethod
    def from_config(cls, config: Any) -> RealtimeSettings:
        """Validate the config's ``realtime`` section (absent: the defaults)."""
        section = getattr(config, "realtime", None)
        if isinstance(section, RealtimeSettings):
            return section
        return cls.model_validate(section or {})
