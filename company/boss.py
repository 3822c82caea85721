"""The Boss's two message kinds, as actions roles can watch (MetaGPT's ``UserRequirement``)."""

from __future__ import annotations

from company.action import Action
from company.message import USER_REQUIREMENT, VOICE_REQUEST
from company.payloads import VoiceRequestPayload


class UserRequirement(Action):
    """A typed request (or follow-up) from the Boss."""

    name = USER_REQUIREMENT
    description = "a request the Boss typed"


class VoiceRequest(Action):
    """A voice note from the Boss, with any typed text."""

    name = VOICE_REQUEST
    payload = VoiceRequestPayload
    description = "a voice note the Boss recorded"


BOSS_ACTIONS: tuple[type[Action], ...] = (UserRequirement, VoiceRequest)
"""What the Boss publishes; never run by a role."""
