"""Download a YouTube video's audio track with yt-dlp, bounded in duration, size and time.

yt-dlp is blocking and heavy: it is imported on first use and runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from company.graphs.config import YouTubeSettings

log = logging.getLogger(__name__)

WATCH_URL = "https://www.youtube.com/watch?v={video_id}"


class DownloadedAudio(BaseModel):
    """An audio file's bytes and its name (the extension tells the decoder its container)."""

    model_config = ConfigDict(frozen=True)

    content: bytes
    filename: str


class AudioDownloadError(RuntimeError):
    """The audio could not be downloaded, or was refused by a limit."""


AudioDownloader = Callable[[str, YouTubeSettings, float], Awaitable[DownloadedAudio]]
"""(video id, settings, seconds allowed) -> the audio; raises AudioDownloadError."""


class _Stop(Exception):
    """Raised from a progress hook to abort a download."""


async def download_audio(
    video_id: str, settings: YouTubeSettings, timeout_s: float
) -> DownloadedAudio:
    """Download the audio of `video_id` on a worker thread within `timeout_s` seconds."""
    stop = threading.Event()
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_download_blocking, video_id, settings, stop), timeout_s
        )
    except TimeoutError:
        raise AudioDownloadError(
            f"the audio download did not finish within {timeout_s:g} s"
        ) from None
    finally:
        stop.set()  # a download still running on its thread aborts at its next chunk


def _download_blocking(
    video_id: str, settings: YouTubeSettings, stop: threading.Event
) -> DownloadedAudio:
    import yt_dlp

    max_bytes = settings.max_audio_bytes
    max_seconds = settings.max_audio_minutes * 60
    refusals: list[str] = []

    def match_filter(info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            refusals.append("it is a live stream")
        elif (duration := info.get("duration")) and duration > max_seconds:
            refusals.append(
                f"it lasts {duration / 60:.0f} min, over the {settings.max_audio_minutes:g}-min "
                "limit (graphs.youtube.max_audio_minutes)"
            )
        else:
            return None
        return refusals[-1]

    def progress(status: dict[str, Any]) -> None:
        if stop.is_set():
            raise _Stop("cancelled")
        if (status.get("downloaded_bytes") or 0) > max_bytes:
            refusals.append(f"the audio is over {max_bytes} bytes (graphs.youtube.max_audio_bytes)")
            raise _Stop(refusals[-1])

    size = f"[filesize<?{max_bytes}][filesize_approx<?{max_bytes}]"
    with tempfile.TemporaryDirectory(prefix="yt-audio-") as tmp:
        options: dict[str, Any] = {
            # A speech-grade audio-only stream when there is one; else the smallest file.
            "format": f"bestaudio[abr<=96]{size}/bestaudio{size}/worst{size}",
            "outtmpl": {"default": str(Path(tmp) / "audio.%(ext)s")},
            "max_filesize": max_bytes,
            "match_filter": match_filter,
            "progress_hooks": [progress],
            "noplaylist": True,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": log,
            "cachedir": False,
            "socket_timeout": 30,
            "retries": 2,
            "fragment_retries": 2,
        }
        if settings.proxy_url is not None:
            options["proxy"] = settings.proxy_url.get_secret_value()
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                ydl.extract_info(WATCH_URL.format(video_id=video_id), download=True)
        except (yt_dlp.utils.DownloadError, _Stop) as err:
            if refusals:
                raise AudioDownloadError(f"audio not downloaded: {refusals[-1]}") from None
            raise AudioDownloadError(
                f"audio download failed: {_clean(str(err), video_id)}"
            ) from None
        if refusals:
            raise AudioDownloadError(f"audio not downloaded: {refusals[-1]}")
        files = [p for p in Path(tmp).iterdir() if p.is_file() and p.suffix != ".part"]
        if not files:
            raise AudioDownloadError(
                f"audio not downloaded: no audio stream under {max_bytes} bytes "
                "(graphs.youtube.max_audio_bytes)"
            )
        path = files[0]
        if path.stat().st_size > max_bytes:
            raise AudioDownloadError(f"audio not downloaded: it is over {max_bytes} bytes")
        return DownloadedAudio(content=path.read_bytes(), filename=f"{video_id}{path.suffix}")


def _clean(message: str, video_id: str) -> str:
    """yt-dlp's message without its 'ERROR: [youtube] <video id>: ' prefix."""
    message = message.removeprefix("ERROR: ").strip()
    if message.startswith("[") and "] " in message:
        message = message.split("] ", 1)[1]
    return message.removeprefix(f"{video_id}: ")
