"""TranscribeYoutubeVideoBlock: YouTube's captions (youtube-transcript-api), else the video's
audio transcribed by the company's Whisper service (`ctx.services.transcribe`)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.youtube_audio import AudioDownloader, AudioDownloadError, download_audio

if TYPE_CHECKING:
    import requests

    from company.graphs.config import YouTubeSettings

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
     "youtube-nocookie.com", "www.youtube-nocookie.com"}
)
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_ID_PATH_PREFIXES = frozenset({"embed", "v", "shorts", "live", "e"})


def extract_video_id(url: str) -> str:
    """The 11-character id of a youtu.be, /watch?v=, /embed/, /v/, /shorts/ or /live/ URL."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parsed = urlparse(text)
    host = (parsed.hostname or "").lower()
    parts = [part for part in parsed.path.split("/") if part]
    candidate: str | None = None
    if host in _SHORT_HOSTS and parts:
        candidate = parts[0]
    elif host in _YOUTUBE_HOSTS:
        if parts == ["watch"]:
            candidate = parse_qs(parsed.query).get("v", [""])[0]
        elif len(parts) >= 2 and parts[0] in _ID_PATH_PREFIXES:
            candidate = parts[1]
    if candidate and _VIDEO_ID.fullmatch(candidate):
        return candidate
    raise ValueError(f"Invalid YouTube URL: {url}")


class CaptionsUnavailable(Exception):
    """The video has no captions we can fetch (none, disabled, or guarded by a PO token)."""


def fetch_captions(
    video_id: str,
    languages: list[str],
    http_client: requests.Session,
    proxy_url: str | None = None,
) -> str:
    """Blocking: the captions as text, one line per cue (AutoGPT's TextFormatter), in the first
    of `languages` that has a track, else the first track (manual before generated)."""
    from youtube_transcript_api import (
        NoTranscriptFound,
        PoTokenRequired,
        TranscriptsDisabled,
        YouTubeTranscriptApi,
    )
    from youtube_transcript_api.formatters import TextFormatter
    from youtube_transcript_api.proxies import GenericProxyConfig

    proxy = GenericProxyConfig(http_url=proxy_url, https_url=proxy_url) if proxy_url else None
    api = YouTubeTranscriptApi(proxy_config=proxy, http_client=http_client)
    try:
        listing = api.list(video_id)
    except TranscriptsDisabled:
        raise CaptionsUnavailable(f"Captions are disabled for YouTube video {video_id}") from None
    try:
        track = listing.find_transcript(languages)
    except NoTranscriptFound:
        track = next(iter(listing), None)
    if track is None:
        raise CaptionsUnavailable(f"YouTube video {video_id} has no captions")
    try:
        fetched = track.fetch()
    except PoTokenRequired:
        raise CaptionsUnavailable(
            f"The captions of YouTube video {video_id} need a PO token"
        ) from None
    text = TextFormatter().format_transcript(fetched)
    if not text.strip():
        raise CaptionsUnavailable(f"The captions of YouTube video {video_id} are empty")
    return text


def _caption_error(video_id: str, err: Exception) -> str:
    """A short message for a caption failure (the library's own embeds a bug-report template)."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, str) and cause:
        return f"Could not get the captions of YouTube video {video_id}: {cause.strip()}"
    return f"Could not get the captions of YouTube video {video_id}: {err}"


def _proxy_session(timeout_s: float) -> requests.Session:
    """A plain `requests.Session` whose requests time out after `timeout_s` (the proxy path)."""
    import requests

    class Session(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("timeout", timeout_s)
            return super().request(*args, **kwargs)

    session = Session()
    session.trust_env = False
    return session


class TranscribeYoutubeVideoBlock(Block):
    """Transcribes a YouTube video: its captions, else its audio through our Whisper service."""

    id = "f3a8f7e1-4b1d-4e5f-9f2a-7c3d5a2e6b4c"
    description = "Transcribes a YouTube video."
    needs_network = True

    class Input(BlockSchema):
        """Input pins (AutoGPT's `credentials`, a Webshare proxy login, is not used here:
        set graphs.youtube.proxy_url instead)."""

        youtube_url: str
        credentials: Any = None

    class Output(BlockSchema):
        """Output pins."""

        video_id: str
        transcript: str

    def __init__(self, *, audio_downloader: AudioDownloader | None = None) -> None:
        super().__init__()
        self.audio_downloader: AudioDownloader = audio_downloader or download_audio

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the video id, then the transcript (or an error naming what was missing)."""
        try:
            video_id = extract_video_id(input_data.youtube_url)
        except ValueError as err:
            yield "error", str(err)
            return
        yield "video_id", video_id
        settings = ctx.settings.youtube
        try:
            captions = await self._captions(video_id, ctx)
        except CaptionsUnavailable as err:
            missing = str(err)
        except Exception as err:  # network, blocked IP, unplayable video, size limit...
            yield "error", _caption_error(video_id, err)
            return
        else:
            yield "transcript", captions
            return
        if not settings.whisper_fallback:
            yield "error", (
                f"{missing}; the Whisper fallback is turned off (graphs.youtube.whisper_fallback)"
            )
            return
        if ctx.services.transcribe is None:
            yield "error", (
                f"{missing}, and the Whisper fallback (transcribing the "
                "audio) is not available in this context: no transcriber is configured"
            )
            return
        try:
            transcript = await self._whisper(video_id, settings, ctx)
        except AudioDownloadError as err:
            yield "error", f"{missing}; {err}"
        except Exception as err:
            yield "error", (
                f"{missing}; Whisper could not transcribe its audio: "
                f"{type(err).__name__}: {err}"
            )
        else:
            yield "transcript", transcript

    async def _captions(self, video_id: str, ctx: BlockContext) -> str:
        """Fetch the captions on a worker thread, every request through ctx.http (unless a
        proxy is configured: then through the proxy, still bounded in time)."""
        settings = ctx.settings.youtube
        per_request_s = ctx.settings.web_timeout_s * (ctx.settings.web_max_redirects + 1)
        if settings.proxy_url is not None:
            session = _proxy_session(ctx.settings.web_timeout_s)
            proxy: str | None = settings.proxy_url.get_secret_value()
        else:
            from company.graphs.requests_bridge import safe_session

            session = safe_session(ctx.http, asyncio.get_running_loop(), per_request_s)
            proxy = None
        with session:
            return await asyncio.to_thread(
                fetch_captions, video_id, list(settings.languages), session, proxy
            )

    async def _whisper(self, video_id: str, settings: YouTubeSettings, ctx: BlockContext) -> str:
        """Download the audio (bounded) and transcribe it with ctx.services.transcribe."""
        assert ctx.services.transcribe is not None
        timeout_s = settings.download_timeout_s
        if ctx.deadline is not None:
            timeout_s = max(0.001, min(timeout_s, ctx.deadline - time.monotonic()))
        audio = await self.audio_downloader(video_id, settings, timeout_s)
        return await ctx.services.transcribe(audio.content, audio.filename)


BLOCKS = [TranscribeYoutubeVideoBlock]
