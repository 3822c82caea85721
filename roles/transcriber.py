"""The Transcriber: how voice enters the company."""

from __future__ import annotations

from actions.transcribe import Transcribe
from company.boss import VoiceRequest
from company.role import Role


class Transcriber(Role):
    """Turns a VoiceRequest into a transcript merged with the typed text."""

    profile = "a careful transcriber"
    goal = "Write down exactly what the Boss said."
    default_watch = (VoiceRequest,)
    default_actions = (Transcribe,)
