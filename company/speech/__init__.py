"""Speech recognition: audio decoding (PyAV) and a shared, batched Whisper service.

Importing this package does not import torch or whisper; they load with the first audio.
"""

from company.speech.audio import SAMPLE_RATE, AudioLimits, check_samples, decode_audio
from company.speech.errors import (
    AudioError,
    AudioNotFound,
    AudioTooLarge,
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    ModelLoadError,
    ModelUnavailable,
    NotAudio,
    ServiceClosed,
    SilentAudio,
    SpeechError,
    UnsupportedAudio,
)
from company.speech.results import Segment, Transcription, WindowResult
from company.speech.service import WhisperService, close_services, get_service
from company.speech.settings import WhisperSettings
from company.speech.windows import Window, split_windows

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioLimits",
    "AudioNotFound",
    "AudioTooLarge",
    "AudioTooLong",
    "CorruptAudio",
    "EmptyAudio",
    "ModelLoadError",
    "ModelUnavailable",
    "NotAudio",
    "Segment",
    "ServiceClosed",
    "SilentAudio",
    "SpeechError",
    "Transcription",
    "UnsupportedAudio",
    "WhisperService",
    "WhisperSettings",
    "Window",
    "WindowResult",
    "check_samples",
    "close_services",
    "decode_audio",
    "get_service",
    "split_windows",
]
