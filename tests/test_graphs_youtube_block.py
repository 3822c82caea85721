"""TranscribeYoutubeVideoBlock: URL shapes, YouTube captions from a local stand-in (the real
youtube-transcript-api on the wire, through ctx.http), the Whisper fallback, and the audio
download's limits (yt-dlp replaced by a scripted module)."""

from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from company.graphs.blocks import youtube
from company.graphs.blocks.base import BlockContext, BlockServices
from company.graphs.blocks.registry import default_registry
from company.graphs.catalogue import Catalogue
from company.graphs.config import GraphSettings, YouTubeSettings
from company.graphs.model import Graph
from company.graphs.results import ExecutionStatus
from company.graphs.runner import GraphRunner
from company.graphs.safe_http import SafeHttpClient, is_network_failure
from company.graphs.speech_port import whisper_transcribe
from company.graphs.youtube_audio import AudioDownloadError, DownloadedAudio, download_audio

ROOT = Path(__file__).resolve().parents[1]
BLOCK_IDS = ROOT.parent / "shared" / "autogpt" / "block_ids.json"
API_KEY = "AIzaTestKey_123"

# ----- the caption stand-in: what youtube-transcript-api asks www.youtube.com for -----


def _track(lang: str, name: str, *, asr: bool = False) -> dict[str, Any]:
    track: dict[str, Any] = {
        "baseUrl": f"https://www.youtube.com/api/timedtext?v=VID&lang={lang}&fmt=srv3",
        "name": {"runs": [{"text": name}]},
        "languageCode": lang,
        "isTranslatable": True,
    }
    if asr:
        track["kind"] = "asr"
    return track


def _tracks(*tracks: dict[str, Any]) -> dict[str, Any]:
    return {"captions": {"playerCaptionsTracklistRenderer": {"captionTracks": list(tracks)}}}


OK = {"playabilityStatus": {"status": "OK"}}
PLAYER: dict[str, dict[str, Any]] = {
    "dQw4w9WgXcQ": {**OK, **_tracks(_track("de", "Deutsch"), _track("en", "English"))},
    "germanOnly1": {**OK, **_tracks(_track("de", "Deutsch (automatisch)", asr=True))},
    "consentVid1": {**OK, **_tracks(_track("en", "English"))},
    "hugeCaption": {**OK, **_tracks(_track("en", "English"))},
    "noCaptions1": {**OK},  # captions disabled: no captions object at all
    "emptyTracks": {**OK, **_tracks()},
    "gone_Video1": {
        "playabilityStatus": {"status": "ERROR", "reason": "This video is unavailable"}
    },
}
CAPTIONS: dict[tuple[str, str], str] = {
    ("dQw4w9WgXcQ", "en"): '<?xml version="1.0" encoding="utf-8" ?><transcript>'
    '<text start="0.0" dur="1.5">Never gonna give you up</text>'
    '<text start="1.5" dur="1.5">Never gonna &lt;b&gt;let&lt;/b&gt; you down</text>'
    "</transcript>",
    ("dQw4w9WgXcQ", "de"): "<transcript><text start=\"0\" dur=\"1\">Niemals</text></transcript>",
    ("germanOnly1", "de"): '<transcript><text start="0" dur="2">Guten Tag</text>'
    '<text start="2" dur="2">und willkommen</text></transcript>',
    ("consentVid1", "en"): '<transcript><text start="0" dur="1">after consent</text></transcript>',
    ("hugeCaption", "en"): "<transcript>"
    + '<text start="0" dur="1">la la la la la la la la</text>' * 2000
    + "</transcript>",
}


class _YouTube(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any = None) -> tuple[str, dict[str, list[str]]]:
        url = urlparse(self.path)
        self.requests.append(
            {"method": self.command, "path": url.path, "query": url.query, "body": body,
             "headers": {k.lower(): v for k, v in self.headers.items()}}
        )
        return url.path, parse_qs(url.query)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path, query = self._record()
        video = query.get("v", [""])[0]
        if path == "/watch":
            cookie = self.headers.get("Cookie", "")
            if video == "consentVid1" and "CONSENT=YES+cb.123" not in cookie:
                page = (
                    '<form action="https://consent.youtube.com/s">'
                    '<input name="v" value="cb.123">'
                )
                self._send(200, page, "text/html; charset=utf-8")
                return
            page = f'<html><script>ytcfg.set({{"INNERTUBE_API_KEY": "{API_KEY}"}})</script></html>'
            self._send(200, page, "text/html; charset=utf-8")
        elif path == "/api/timedtext" and (video, query["lang"][0]) in CAPTIONS:
            self._send(200, CAPTIONS[video, query["lang"][0]], "text/xml; charset=utf-8")
        else:
            self._send(404, "not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        path, query = self._record(body)
        if path != "/youtubei/v1/player" or query.get("key") != [API_KEY]:
            self._send(403, "{}", "application/json")
            return
        video = body["videoId"]
        player = json.loads(json.dumps(PLAYER[video]).replace("v=VID", f"v={video}"))
        self._send(200, json.dumps(player), "application/json")


class _ToStandIn(httpx.AsyncBaseTransport):
    """Sends www.youtube.com requests to the local stand-in; refuses every other host."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "www.youtube.com":
            raise httpx.ConnectError(f"test transport: no internet ({request.url.host})")
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _YouTube)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
async def http(stand_in: int) -> AsyncIterator[SafeHttpClient]:
    _YouTube.requests.clear()
    async with SafeHttpClient(allow_private_network=True, transport=_ToStandIn(stand_in)) as client:
        yield client


def make_ctx(
    http: SafeHttpClient, *, transcribe: Any = None, youtube_settings: Any = None, **settings: Any
) -> BlockContext:
    graph_settings = GraphSettings(**settings)
    if youtube_settings is not None:
        graph_settings.youtube = YouTubeSettings(**youtube_settings)
    return BlockContext(
        settings=graph_settings,
        llm=None,
        http=http,
        graph=Graph(nodes=[]),
        node_id="n",
        node_exec_id="e",
        services=BlockServices(transcribe=transcribe),
    )


async def run_block(
    ctx: BlockContext, url: str, block: youtube.TranscribeYoutubeVideoBlock | None = None
) -> dict[str, Any]:
    block = block or youtube.TranscribeYoutubeVideoBlock()
    pairs = [pair async for pair in block.run(block.validate_input({"youtube_url": url}), ctx)]
    outputs = dict(pairs)
    assert len(outputs) == len(pairs)  # each pin once
    return outputs


class ScriptedTranscriber:
    """A `BlockServices.transcribe` that records its calls and answers a fixed text."""

    def __init__(self, answer: str = "hello from whisper", error: Exception | None = None):
        self.answer = answer
        self.error = error
        self.calls: list[tuple[bytes, str]] = []

    async def __call__(self, audio: bytes, name: str) -> str:
        self.calls.append((audio, name))
        if self.error is not None:
            raise self.error
        return self.answer


class ScriptedDownloader:
    """An `AudioDownloader` stand-in: returns fixed audio, or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, YouTubeSettings, float]] = []

    async def __call__(self, video_id: str, settings: YouTubeSettings, timeout_s: float
                       ) -> DownloadedAudio:
        self.calls.append((video_id, settings, timeout_s))
        if self.error is not None:
            raise self.error
        return DownloadedAudio(content=b"RIFF-fake-audio-" + video_id.encode(),
                               filename=f"{video_id}.webm")


# ----- identity and URL shapes -----


def test_block_has_autogpts_id_name_and_pins() -> None:
    reference = json.loads(BLOCK_IDS.read_text())["blocks"]
    block = default_registry().get("f3a8f7e1-4b1d-4e5f-9f2a-7c3d5a2e6b4c")
    assert block is not None and block.name == "TranscribeYoutubeVideoBlock"
    assert reference[block.id]["name"] == block.name
    assert {"youtube_url", "credentials"} <= set(block.Input.model_fields)
    assert set(block.Output.model_fields) == {"video_id", "transcript"}
    assert block.needs_network


@pytest.mark.parametrize(
    ("url", "video_id"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s", "dQw4w9WgXcQ"),
        ("http://m.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=RD", "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc&t=10", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/embed/dQw4w9WgXcQ?autoplay=1", "dQw4w9WgXcQ"),
        ("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/v/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/shorts/a-b_c1D2e3F", "a-b_c1D2e3F"),
        ("https://www.youtube.com/live/dQw4w9WgXcQ?feature=share", "dQw4w9WgXcQ"),
        ("  www.youtube.com/watch?v=dQw4w9WgXcQ  ", "dQw4w9WgXcQ"),
        ("HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ],
)
def test_video_id_from_every_url_shape(url: str, video_id: str) -> None:
    assert youtube.extract_video_id(url) == video_id


@pytest.mark.parametrize(
    "url",
    [
        "",
        "dQw4w9WgXcQ",
        "https://vimeo.com/123456",
        "https://www.youtube.com/",
        "https://www.youtube.com/watch",
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ/../../x",
        "https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
        "https://youtu.be/",
        "https://evil.example/youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
    ],
)
async def test_invalid_url_is_an_error_and_fetches_nothing(url: str, http: SafeHttpClient) -> None:
    outputs = await run_block(make_ctx(http), url)
    assert outputs == {"error": f"Invalid YouTube URL: {url}"}
    assert _YouTube.requests == []


# ----- captions through youtube-transcript-api and ctx.http -----


async def test_captions_in_the_preferred_language_as_text_lines(http: SafeHttpClient) -> None:
    transcriber = ScriptedTranscriber()
    outputs = await run_block(
        make_ctx(http, transcribe=transcriber), "https://youtu.be/dQw4w9WgXcQ"
    )
    assert outputs == {
        "video_id": "dQw4w9WgXcQ",
        "transcript": "Never gonna give you up\nNever gonna let you down",
    }
    assert transcriber.calls == []  # captions found: Whisper never asked
    watch, player, captions = _YouTube.requests
    assert (watch["method"], watch["path"], watch["query"]) == ("GET", "/watch", "v=dQw4w9WgXcQ")
    assert watch["headers"]["accept-language"] == "en-US"
    assert player["body"]["videoId"] == "dQw4w9WgXcQ"
    assert parse_qs(captions["query"])["lang"] == ["en"]
    assert all(r["headers"]["user-agent"] == "the-company-graphs/0.1" for r in _YouTube.requests)


async def test_language_preference_comes_from_settings(http: SafeHttpClient) -> None:
    ctx = make_ctx(http, youtube_settings={"languages": ["fr", "de"]})
    outputs = await run_block(ctx, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert outputs["transcript"] == "Niemals"


async def test_any_language_when_none_preferred_has_captions(http: SafeHttpClient) -> None:
    outputs = await run_block(make_ctx(http), "https://youtu.be/germanOnly1")
    assert outputs == {"video_id": "germanOnly1", "transcript": "Guten Tag\nund willkommen"}


async def test_consent_cookie_travels_through_the_safe_client(http: SafeHttpClient) -> None:
    outputs = await run_block(make_ctx(http), "https://youtu.be/consentVid1")
    assert outputs["transcript"] == "after consent"
    watches = [r for r in _YouTube.requests if r["path"] == "/watch"]
    assert "cookie" not in watches[0]["headers"]
    assert "CONSENT=YES+cb.123" in watches[1]["headers"]["cookie"]


async def test_response_size_limit_of_ctx_http_applies(http: SafeHttpClient) -> None:
    http.max_bytes = 20_000
    outputs = await run_block(make_ctx(http), "https://youtu.be/hugeCaption")
    assert outputs["video_id"] == "hugeCaption"
    assert "over the 20000-byte limit" in outputs["error"]
    assert "transcript" not in outputs


async def test_unavailable_video_is_a_short_error_without_fallback(http: SafeHttpClient) -> None:
    downloader = ScriptedDownloader()
    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=downloader)
    ctx = make_ctx(http, transcribe=ScriptedTranscriber())
    outputs = await run_block(ctx, "https://youtu.be/gone_Video1", block)
    assert outputs == {
        "video_id": "gone_Video1",
        "error": "Could not get the captions of YouTube video gone_Video1: "
        "The video is no longer available",
    }
    assert downloader.calls == []


class _Offline(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("network is unreachable")


async def test_network_down_reads_as_a_network_failure() -> None:
    async with SafeHttpClient(allow_private_network=True, transport=_Offline()) as offline:
        block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=ScriptedDownloader())
        ctx = make_ctx(offline, transcribe=ScriptedTranscriber())
        outputs = await run_block(ctx, "https://youtu.be/dQw4w9WgXcQ", block)
    assert outputs["video_id"] == "dQw4w9WgXcQ"
    assert is_network_failure(outputs["error"]), outputs["error"]


# ----- no captions: the Whisper fallback -----


@pytest.mark.parametrize(
    ("video_id", "missing"),
    [
        ("noCaptions1", "Captions are disabled for YouTube video noCaptions1"),
        ("emptyTracks", "YouTube video emptyTracks has no captions"),
    ],
)
async def test_no_captions_falls_back_to_whisper(
    video_id: str, missing: str, http: SafeHttpClient
) -> None:
    transcriber = ScriptedTranscriber("spoken words, transcribed")
    downloader = ScriptedDownloader()
    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=downloader)
    ctx = make_ctx(http, transcribe=transcriber, youtube_settings={"max_audio_minutes": 5})
    outputs = await run_block(ctx, f"https://www.youtube.com/watch?v={video_id}", block)
    assert outputs == {"video_id": video_id, "transcript": "spoken words, transcribed"}
    assert transcriber.calls == [(b"RIFF-fake-audio-" + video_id.encode(), f"{video_id}.webm")]
    [(downloaded, settings, timeout_s)] = downloader.calls
    assert downloaded == video_id and settings.max_audio_minutes == 5
    assert timeout_s == settings.download_timeout_s


async def test_no_transcriber_says_the_fallback_is_unavailable(http: SafeHttpClient) -> None:
    downloader = ScriptedDownloader()
    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=downloader)
    outputs = await run_block(make_ctx(http), "https://youtu.be/noCaptions1", block)
    assert outputs == {
        "video_id": "noCaptions1",
        "error": "Captions are disabled for YouTube video noCaptions1, and the Whisper fallback "
        "(transcribing the audio) is not available in this context: no transcriber is configured",
    }
    assert downloader.calls == []


async def test_fallback_turned_off_in_settings(http: SafeHttpClient) -> None:
    transcriber = ScriptedTranscriber()
    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=ScriptedDownloader())
    ctx = make_ctx(http, transcribe=transcriber, youtube_settings={"whisper_fallback": False})
    outputs = await run_block(ctx, "https://youtu.be/emptyTracks", block)
    assert outputs["error"] == (
        "YouTube video emptyTracks has no captions; the Whisper fallback is turned off "
        "(graphs.youtube.whisper_fallback)"
    )
    assert transcriber.calls == []


async def test_download_and_transcription_failures_are_errors(http: SafeHttpClient) -> None:
    refused = ScriptedDownloader(AudioDownloadError("audio not downloaded: it is a live stream"))
    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=refused)
    ctx = make_ctx(http, transcribe=ScriptedTranscriber())
    outputs = await run_block(ctx, "https://youtu.be/noCaptions1", block)
    assert outputs["error"] == (
        "Captions are disabled for YouTube video noCaptions1; "
        "audio not downloaded: it is a live stream"
    )
    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=ScriptedDownloader())
    ctx = make_ctx(http, transcribe=ScriptedTranscriber(error=RuntimeError("no model")))
    outputs = await run_block(ctx, "https://youtu.be/noCaptions1", block)
    assert outputs["error"].endswith(
        "Whisper could not transcribe its audio: RuntimeError: no model"
    )


# ----- the catalogue graph, run by the local runner -----


async def test_catalogue_graph_runs_with_captions_and_with_whisper(stand_in: int) -> None:
    entry = Catalogue.load(ROOT / "config" / "graphs").get("youtube_transcript")
    assert [s.name for s in entry.inputs] == ["url"] and entry.inputs[0].required
    assert [o.name for o in entry.outputs] == ["transcript"]
    assert entry.needs_network
    settings = GraphSettings(allow_private_network=True)

    runner = GraphRunner(settings, http_transport=_ToStandIn(stand_in))
    run = await runner.run(entry.graph, {"url": "https://youtu.be/dQw4w9WgXcQ"})
    assert run.status == ExecutionStatus.COMPLETED
    assert run.outputs == {"transcript": ["Never gonna give you up\nNever gonna let you down"]}

    class Scripted(youtube.TranscribeYoutubeVideoBlock):
        def __init__(self) -> None:
            super().__init__(audio_downloader=ScriptedDownloader())

    registry = default_registry().copy()
    registry.register(Scripted)
    runner = GraphRunner(
        settings, http_transport=_ToStandIn(stand_in), registry=registry,
        services=BlockServices(transcribe=ScriptedTranscriber("whispered")),
    )
    run = await runner.run(entry.graph, {"url": "https://youtu.be/noCaptions1"})
    assert run.outputs == {"transcript": ["whispered"]}


# ----- the audio download: limits around yt-dlp (a scripted yt_dlp module) -----


class _FakeYoutubeDL:
    """Plays yt-dlp's part: match filter, progress hooks, then writes the file (or not)."""

    script: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.seen.append(params)

    def __enter__(self) -> _FakeYoutubeDL:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def extract_info(self, url: str, download: bool) -> dict[str, Any]:
        info = {"id": url.rsplit("=", 1)[1], "duration": self.script.get("duration", 60),
                "is_live": self.script.get("is_live", False)}
        if self.params["match_filter"](info, incomplete=False) is not None:
            return info  # yt-dlp skips a refused video without an error
        if "error" in self.script:
            raise sys.modules["yt_dlp"].utils.DownloadError(self.script["error"])
        size = self.script.get("size", 1000)
        for done in range(0, size + 1, 4096):
            for hook in self.params["progress_hooks"]:
                hook({"status": "downloading", "downloaded_bytes": done})
        if size <= self.params["max_filesize"]:
            target = Path(self.params["outtmpl"]["default"].replace("%(ext)s", "webm"))
            target.write_bytes(b"\x1a\x45\xdf\xa3" + b"a" * (size - 4))
        return info


@pytest.fixture
def fake_yt_dlp(monkeypatch: pytest.MonkeyPatch) -> type[_FakeYoutubeDL]:
    class DownloadError(Exception):
        pass

    module = types.ModuleType("yt_dlp")
    module.YoutubeDL = _FakeYoutubeDL  # type: ignore[attr-defined]
    module.utils = types.SimpleNamespace(DownloadError=DownloadError)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yt_dlp", module)
    _FakeYoutubeDL.script = {}
    _FakeYoutubeDL.seen = []
    return _FakeYoutubeDL


async def test_download_returns_the_audio_file(fake_yt_dlp: type[_FakeYoutubeDL]) -> None:
    settings = YouTubeSettings(proxy_url="socks5://user:pw@127.0.0.1:1080")
    audio = await download_audio("noCaptions1", settings, 30)
    assert audio.filename == "noCaptions1.webm"
    assert audio.content.startswith(b"\x1a\x45\xdf\xa3") and len(audio.content) == 1000
    [params] = fake_yt_dlp.seen
    assert params["proxy"] == "socks5://user:pw@127.0.0.1:1080"
    assert params["max_filesize"] == settings.max_audio_bytes and params["noplaylist"]


@pytest.mark.parametrize(
    ("script", "settings", "message"),
    [
        ({"duration": 3601}, {"max_audio_minutes": 60}, "it lasts 60 min, over the 60-min limit"),
        ({"is_live": True}, {}, "it is a live stream"),
        ({"size": 50_000}, {"max_audio_bytes": 10_000}, "the audio is over 10000 bytes"),
        ({"error": "ERROR: [youtube] noCaptions1: Sign in to confirm your age"}, {},
         "audio download failed: Sign in to confirm your age"),
    ],
)
async def test_download_limits_and_failures(
    script: dict[str, Any], settings: dict[str, Any], message: str,
    fake_yt_dlp: type[_FakeYoutubeDL],
) -> None:
    fake_yt_dlp.script = script
    with pytest.raises(AudioDownloadError, match=message.replace("[", r"\[")):
        await download_audio("noCaptions1", YouTubeSettings(**settings), 30)


# ----- the speech adapter -----


async def test_whisper_transcribe_gets_the_service_only_when_audio_comes() -> None:
    calls: list[tuple[bytes, str | None]] = []

    class Service:
        async def transcribe(self, audio: bytes, *, name: str | None = None) -> Any:
            calls.append((audio, name))
            return types.SimpleNamespace(text="the text")

    asked: list[int] = []

    def get_service() -> Service:
        asked.append(1)
        return Service()

    transcribe = whisper_transcribe(get_service)  # type: ignore[arg-type]
    assert asked == []
    assert await transcribe(b"audio", "clip.webm") == "the text"
    assert calls == [(b"audio", "clip.webm")] and asked == [1]


@pytest.mark.slow
@pytest.mark.speech
async def test_fallback_through_the_real_whisper_service(
    http: SafeHttpClient, speech_service: Any
) -> None:
    from tests.speech_fixtures import encode_audio, make_clip

    webm = encode_audio(make_clip(3.0, seed=7), "webm")  # YouTube's usual audio: Opus in WebM

    class Downloader(ScriptedDownloader):
        async def __call__(self, video_id: str, settings: YouTubeSettings, timeout_s: float
                           ) -> DownloadedAudio:
            return DownloadedAudio(content=webm, filename=f"{video_id}.webm")

    block = youtube.TranscribeYoutubeVideoBlock(audio_downloader=Downloader())
    ctx = make_ctx(http, transcribe=whisper_transcribe(lambda: speech_service))
    outputs = await run_block(ctx, "https://youtu.be/noCaptions1", block)
    expected = await speech_service.transcribe(webm, name="noCaptions1.webm")
    assert outputs == {"video_id": "noCaptions1", "transcript": expected.text}
