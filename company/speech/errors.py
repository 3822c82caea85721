"""Typed errors of the speech package, each with a message a person can act on."""

from __future__ import annotations


class SpeechError(Exception):
    """Base class of every error raised by ``company.speech``."""


class AudioError(SpeechError):
    """The audio could not be used; ``source`` names the file (or ``<bytes>``)."""

    def __init__(self, message: str, *, source: str = "<bytes>") -> None:
        super().__init__(message)
        self.source = source


class AudioNotFound(AudioError):
    """The audio path does not exist or is not a regular file."""


class EmptyAudio(AudioError):
    """The input has no bytes, or no audio samples could be decoded from it."""


class NotAudio(AudioError):
    """The input is not an audio file (text, an image, an unknown format, no audio stream)."""


class CorruptAudio(AudioError):
    """The input looks like audio but cannot be decoded."""


class UnsupportedAudio(AudioError):
    """The header asks for what the decoder refuses: an absurd sample rate, too many channels,
    a packet or frame far larger than real recordings have (often a forged header)."""


class AudioTooLarge(AudioError):
    """The input is bigger than ``AudioLimits.max_bytes``."""


class AudioTooLong(AudioError):
    """The audio lasts longer than ``AudioLimits.max_seconds``."""


class SilentAudio(AudioError):
    """The audio contains only silence (no short frame is louder than the threshold)."""


class ModelUnavailable(SpeechError):
    """The Whisper checkpoint is not on disk and cannot be downloaded or found."""


class ModelLoadError(SpeechError):
    """The Whisper checkpoint exists but could not be loaded (corrupt, wrong format, device)."""


class ServiceClosed(SpeechError):
    """The speech service was closed; no more requests are accepted."""
