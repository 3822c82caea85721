"""``/v1/realtime`` end to end: a real server on loopback, a WebSocket client streaming espeak-ng
speech in 100 ms chunks, the random-weights Whisper, the fake Ollama and espeak-ng's library."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from company.realtime.hub import RealtimeHub
from company.realtime.settings import RealtimeSettings
from company.speech.synth import espeak_available
from tests.api_support import VOICE_SOP, Served, api_config, live_server, script, wait_for
from tests.fakes.ollama_server import FakeOllama

KEY = "rt-secret"
ANSWER = "The product is forty-two, and the sentence has four words."
FAST = {"vad": "silero", "silence_ms": 500, "partial_every_ms": 500, "audio_lead_ms": 0,
        "audio_chunk_ms": 100}

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


# -- helpers (imported by the other test_realtime_* modules) --------------------------------------
def spoken(text: str, folder: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng, as int16 samples at 16 kHz."""
    from company.speech import decode_audio
    from company.speech.synth import speak_to_wav

    name = "".join(c if c.isalnum() else "_" for c in text)[:40]
    samples = decode_audio(speak_to_wav(text, folder / f"{name}.wav"))
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    loud = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[loud[0]:loud[-1] + 1]  # espeak-ng's own leading and trailing silence cut


def silence(seconds: float) -> np.ndarray:
    """Zeros, as int16 samples at 16 kHz."""
    return np.zeros(int(seconds * 16_000), np.int16)


class Client:
    """A blocking WebSocket client of ``/v1/realtime`` that records every event it reads."""

    def __init__(self, served: Served, *, key: str | None = KEY, query: str = "",
                 header: bool = True) -> None:
        from websockets.sync.client import connect

        url = served.url.replace("http://", "ws://") + "/v1/realtime" + query
        headers = {"Authorization": f"Bearer {key}"} if key and header else {}
        self.ws = connect(url, additional_headers=headers, open_timeout=10,
                          max_size=2**24).__enter__()
        self.events: list[dict[str, Any]] = []

    def send_json(self, message: dict[str, Any]) -> None:
        """Send one control message."""
        self.ws.send(json.dumps(message))

    def stream(self, pcm: np.ndarray, chunk_ms: int = 100) -> None:
        """Send ``pcm`` as binary frames of ``chunk_ms``."""
        step = 16 * chunk_ms
        for start in range(0, pcm.size, step):
            self.ws.send(pcm[start:start + step].astype("<i2").tobytes())

    def next(self, timeout: float = 60) -> dict[str, Any]:
        """The next event."""
        event = json.loads(self.ws.recv(timeout=timeout))
        self.events.append(event)
        return event

    def until(self, kind: str, timeout: float = 60, **match: Any) -> dict[str, Any]:
        """Read events until one of type ``kind`` (with the given fields) arrives."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    def closed(self, timeout: float = 20) -> int | None:
        """Read until the server closes; its close code."""
        try:
            while True:
                self.next(timeout)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None

    def types(self) -> list[str]:
        """The types of the events read so far, in order."""
        return [e["type"] for e in self.events]

    def close(self) -> None:
        """Close the socket."""
        self.ws.close()


def serve_realtime(tmp_path: Path, checkpoint: Path, **realtime: Any) -> Iterator[Served]:
    """A server whose voice tasks run Transcriber + Analyst on the fake Ollama, with the given
    realtime settings (applied before the first session)."""
    fake = script(FakeOllama().start(), delay_s=0.05)
    config = api_config(tmp_path, fake, api_key=KEY)
    sop = tmp_path / "voice-analyst.yaml"
    sop.write_text(VOICE_SOP)
    config.sop = str(sop)
    config.speech = {"model": str(checkpoint), "device": "cpu", "sample_len": 8,
                     "threads": 1, "batch_wait_ms": 30}
    try:
        with live_server(config) as server:
            server.app.state.realtime = RealtimeHub(RealtimeSettings(**{**FAST, **realtime}))
            yield server
    finally:
        fake.stop()


realtime_server = contextmanager(serve_realtime)


@pytest.fixture
def served(tmp_path: Path, whisper_checkpoint: Path) -> Iterator[Served]:
    """The realtime server with the test settings."""
    yield from serve_realtime(tmp_path, whisper_checkpoint)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The test phrases, spoken."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("rt-speech")
    return {"ask": spoken("What is six times seven?", folder),
            "more": spoken("And count the words too.", folder)}


def with_pause(first: np.ndarray, second: np.ndarray, gap_s: float = 0.25) -> np.ndarray:
    """Two stretches of speech with a short pause (shorter than a turn's end) between them."""
    return np.concatenate([silence(0.3), first, silence(gap_s), second])


# -- the tests ------------------------------------------------------------------------------------
def test_schema_route_lists_every_event(served: Served) -> None:
    with served.client() as client:
        assert client.get("/v1/realtime/schema").status_code == 401
        body = client.get("/v1/realtime/schema",
                          headers={"Authorization": f"Bearer {KEY}"}).json()
    server_types = {v["properties"]["type"]["const"] for v in body["server"]["$defs"].values()
                    if "type" in v.get("properties", {})}
    for name in ("session.created", "input.speech_started", "input.speech_stopped",
                 "transcript.delta", "transcript.done", "task.created", "task.followed_up",
                 "task.event", "response.done", "response.audio.delta",
                 "response.audio.cancelled", "error", "session.ended"):
        assert name in server_types
    assert body["close_codes"]["unauthorized"] == 4401


@pytest.mark.slow
@pytest.mark.speech
@needs_espeak
def test_a_spoken_request_runs_to_a_spoken_answer_and_a_follow_up(
        served: Served, speech: dict[str, np.ndarray]) -> None:
    client = Client(served)
    created = client.next()
    assert created["type"] == "session.created"
    client.stream(with_pause(speech["ask"], speech["ask"][:8000]))  # a pause within the turn
    client.stream(silence(1.0))
    done = client.until("response.done")
    task_id = done["task_id"]
    client.until("response.audio.done")
    order = [t for t in client.types() if t in (
        "input.speech_started", "input.speech_stopped", "transcript.done", "task.created",
        "response.created", "response.done", "response.audio.delta", "response.audio.done")]
    dedup = [t for i, t in enumerate(order) if i == 0 or order[i - 1] != t]
    assert dedup == ["input.speech_started", "input.speech_stopped", "transcript.done",
                     "task.created", "response.created", "response.done",
                     "response.audio.delta", "response.audio.done"]
    assert client.types().count("input.speech_started") == 1  # the pause did not end the turn
    kinds = [e["kind"] for e in client.events if e["type"] == "task.event"]
    assert "role_started" in kinds and "message" in kinds and kinds[-1] == "task_finished"
    assert done["status"] == "done" and done["answer"] == ANSWER
    assert done["report"].startswith("# Report")
    final = next(e for e in client.events if e["type"] == "transcript.done")
    with served.client(headers={"Authorization": f"Bearer {KEY}"}) as http:
        offline = http.get(f"/v1/tasks/{task_id}/transcript?format=json").json()
        stored = served.app.state.api.company.store.messages(task_id)
    assert final["text"] == offline["text"]  # the Transcriber's offline pass of the same audio
    assert stored[0].cause_by == "VoiceRequest"
    audio = b"".join(base64.b64decode(e["audio"]) for e in client.events
                     if e["type"] == "response.audio.delta")
    rate = next(e for e in client.events if e["type"] == "response.audio.delta")["sample_rate"]
    assert len(audio) / 2 / rate > 1.0  # the answer, spoken
    assert np.abs(np.frombuffer(audio, "<i2")).max() > 1000

    client.stream(np.concatenate([speech["more"], silence(1.0)]))
    followed = client.until("task.followed_up")
    assert followed["task_id"] == task_id and followed["turn"] == 2
    second = client.until("response.done", turn=2)
    assert second["task_id"] == task_id and second["status"] == "done"
    stored = served.app.state.api.company.store.messages(task_id)
    assert [m.cause_by for m in stored].count("VoiceRequest") == 2
    client.send_json({"type": "session.close"})
    assert client.closed() == 1000
    assert client.events[-1]["type"] == "session.ended"


@pytest.mark.slow
@pytest.mark.speech
@needs_espeak
def test_two_sessions_at_once_each_get_their_own_task(
        served: Served, speech: dict[str, np.ndarray]) -> None:
    service = served.app.state.api.company.services.speech()
    before = dict(service.stats.batch_sizes)
    first, second = Client(served), Client(served)
    turn = np.concatenate([silence(0.2), speech["ask"], silence(1.0)])
    step = 1600
    for start in range(0, turn.size, step):  # both talk at once, 100 ms at a time
        first.stream(turn[start:start + step])
        second.stream(turn[start:start + step])
        time.sleep(0.02)
    one = first.until("response.done")
    two = second.until("response.done")
    assert one["task_id"] != two["task_id"]
    assert one["status"] == two["status"] == "done"
    for client in (first, second):
        assert "transcript.done" in client.types()
        client.close()
    grew = {size: n - before.get(size, 0) for size, n in service.stats.batch_sizes.items()}
    assert any(size > 1 and n > 0 for size, n in grew.items()), grew  # decoded together


@pytest.mark.slow
@pytest.mark.speech
@needs_espeak
def test_webm_opus_frames_as_mediarecorder_sends_them(
        served: Served, speech: dict[str, np.ndarray]) -> None:
    from tests.speech_fixtures import encode_audio

    pcm = np.concatenate([silence(0.3), speech["ask"], silence(1.2)])
    webm = encode_audio(pcm.astype(np.float32) / 32768, "webm")
    client = Client(served, query="?format=webm")
    assert client.next()["session"]["audio_format"] == "webm"
    for start in range(0, len(webm), 1500):  # MediaRecorder-sized chunks
        client.ws.send(webm[start:start + 1500])
    done = client.until("transcript.done")
    assert 1.0 < done["duration_s"] < pcm.size / 16_000
    assert client.until("response.done")["status"] == "done"
    assert "error" not in client.types()
    client.close()


@pytest.mark.slow
@pytest.mark.speech
@needs_espeak
def test_barge_in_cancels_the_spoken_reply(tmp_path: Path, whisper_checkpoint: Path,
                                           speech: dict[str, np.ndarray]) -> None:
    with realtime_server(tmp_path, whisper_checkpoint, audio_chunk_ms=100, audio_lead_ms=0,
                         partials=False) as served:
        client = Client(served)
        client.stream(np.concatenate([speech["ask"], silence(1.0)]))
        client.until("response.audio.delta")
        client.stream(speech["more"][:16_000])  # the user talks over the answer
        cancelled = client.until("response.audio.cancelled")
        assert cancelled["reason"] == "barge_in" and cancelled["turn"] == 1
        assert cancelled["sent_s"] < 2.0
        after = client.events.index(cancelled)
        started = client.until("input.speech_started")
        assert started["turn"] == 2
        rest = [e["type"] for e in client.events[after:]]
        assert "response.audio.delta" not in rest and "response.audio.done" not in rest
        client.close()


def test_bad_frames_get_errors_and_the_server_stays_healthy(served: Served) -> None:
    client = Client(served)
    client.next()
    client.ws.send("{not json")
    assert client.next()["error"]["code"] == "invalid_json"
    client.send_json({"type": "conversation.item.create"})
    unknown = client.next()
    assert unknown["error"]["code"] == "unknown_type"
    assert "session.update" in unknown["error"]["message"]
    client.send_json({"type": "session.update", "session": {"silence_ms": "soon"}})
    assert client.next()["error"]["code"] == "invalid_message"
    client.ws.send(b"\x01\x02\x03")  # half a sample
    assert client.next()["error"]["code"] == "wrong_audio_format"
    client.ws.send(b"\x1a\x45\xdf\xa3" + bytes(64))  # WebM in a PCM16 session
    wrong = client.next()
    assert wrong["error"]["code"] == "wrong_audio_format" and "webm" in wrong["error"]["message"]
    client.send_json({"type": "input_audio.append", "audio": "%%%"})
    assert client.next()["error"]["code"] == "invalid_audio"
    client.send_json({"type": "input_audio.commit"})
    assert client.next()["error"]["code"] == "input_audio_empty"
    client.send_json({"type": "session.update", "session": {"audio_format": "webm"}})
    assert client.next()["session"]["audio_format"] == "webm"
    client.ws.send(b"RIFF....WAVEfmt ")  # not WebM
    assert client.next()["error"]["code"] == "wrong_audio_format"
    client.send_json({"type": "session.update", "session": {"sop": "no-such-sop"}})
    assert client.next()["error"]["code"] == "invalid_sop"
    client.send_json({"type": "session.close"})
    assert client.closed() == 1000

    for kwargs in ({"key": None}, {"key": "wrong"}):
        refused = Client(served, **kwargs)  # type: ignore[arg-type]
        assert refused.closed() == 4401
        assert refused.events[0]["error"]["code"] == "unauthorized"
    by_query = Client(served, query=f"?token={KEY}", header=False)
    assert by_query.next()["type"] == "session.created"
    by_query.close()
    response = httpx.get(served.url + "/v1/tasks", timeout=10,
                         headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    again = Client(served)
    assert again.next()["type"] == "session.created"
    again.close()


def test_a_frame_too_big_closes_with_1009(tmp_path: Path, whisper_checkpoint: Path) -> None:
    with realtime_server(tmp_path, whisper_checkpoint, max_frame_bytes=4096) as served:
        client = Client(served)
        client.next()
        client.ws.send(bytes(8192))
        assert client.closed() == 1009
        assert client.events[-2]["error"]["code"] == "frame_too_big"


@pytest.mark.slow
def test_session_limits_close_with_their_codes(tmp_path: Path, whisper_checkpoint: Path) -> None:
    with realtime_server(tmp_path, whisper_checkpoint, max_sessions_per_key=2,
                         idle_timeout_s=1.0, max_session_s=2.2) as served:
        one, two = Client(served), Client(served)
        three = Client(served)
        assert three.closed() == 4429
        assert three.events[0]["error"]["code"] == "too_many_sessions"
        # two is kept busy from now on, so only its length can end it; one sends nothing
        # (waiting for one's idle close first left two idle as long, racing its own close)
        two.next()
        deadline = time.monotonic() + 10
        code = None
        while code is None and time.monotonic() < deadline:  # keep it busy, never idle
            try:
                two.ws.send(silence(0.1).tobytes())
                two.ws.recv(timeout=0.3)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
        assert code == 4410
        assert one.closed() == 4408  # sent nothing
        assert one.events[-1] == {"type": "session.ended", "code": 4408,
                                  "reason": "the client sent nothing for too long"}
        wait_for(lambda: served.app.state.realtime.open_sessions == 0, 10, "sessions released")
        four = Client(served)
        assert four.next()["type"] == "session.created"
        four.close()


@pytest.mark.slow
@pytest.mark.speech
@needs_espeak
def test_commit_ends_a_turn_at_once_with_the_typed_text(
        served: Served, speech: dict[str, np.ndarray]) -> None:
    client = Client(served)
    client.next()
    client.send_json({"type": "session.update",
                      "session": {"text": "also count the words", "speak": False,
                                  "silence_ms": 5000}})
    updated = client.next()
    assert updated["session"]["silence_ms"] == 5000 and updated["session"]["speak"] is False
    client.stream(np.concatenate([speech["ask"], silence(1.0)]))  # too short a pause to end it
    client.send_json({"type": "input_audio.commit"})
    stopped = client.until("input.speech_stopped")
    assert stopped["reason"] == "commit"
    task_id = client.until("task.created")["task_id"]
    assert client.until("response.done")["status"] == "done"
    stored = served.app.state.api.company.store.messages(task_id)
    assert stored[0].payload["text"] == "also count the words"
    client.send_json({"type": "session.close"})
    assert client.closed() == 1000
    assert "response.audio.delta" not in client.types()


@pytest.mark.slow
@pytest.mark.speech
@needs_espeak
def test_a_tts_that_cannot_speak_is_an_error_not_a_closed_session(
        tmp_path: Path, whisper_checkpoint: Path, speech: dict[str, np.ndarray]) -> None:
    with realtime_server(tmp_path, whisper_checkpoint, tts="piper",
                         piper_model=str(tmp_path / "missing.onnx")) as served:
        client = Client(served)
        client.stream(np.concatenate([speech["ask"], silence(1.0)]))
        assert client.until("response.done")["answer"] == ANSWER
        failed = client.until("error")
        assert failed["error"]["code"] == "tts_unavailable"
        client.send_json({"type": "session.close"})
        assert client.closed() == 1000
