"""The realtime session's parts alone: stable partials, turn detection, Silero VAD, WebM input,
the bounded outbox (a client that does not read is dropped), the spoken answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from company.realtime.answer import lead_answer
from company.realtime.audio_in import Pcm16Input, WebmInput, WrongAudioFormat
from company.realtime.hub import RealtimeHub
from company.realtime.outbox import Outbox, SlowClient
from company.realtime.partials import StablePrefix
from company.realtime.protocol import CloseCode, ErrorEvent, ErrorInfo
from company.realtime.session import RealtimeSession
from company.realtime.settings import RealtimeSettings
from company.realtime.turns import TurnDetector, TurnEnded, TurnStarted
from company.realtime.vad import FRAME, EnergyStream, make_vad
from company.speech.synth import espeak_available
from tests.speech_fixtures import encode_audio, make_clip
from tests.test_realtime import spoken


def test_partials_only_grow_with_what_two_decodes_agree_on() -> None:
    prefix = StablePrefix()
    assert prefix.update("what is") is None  # one decode: nothing agreed yet
    assert prefix.update("what is six") == "what is"
    assert prefix.update("what is sex times") is None  # 'six' changed: not stable
    assert prefix.update("what is sex times seven") == "sex times"
    assert prefix.update("what was it") is None  # never flickers back
    assert prefix.text == "what is sex times"
    assert prefix.update("what is sex times seven") is None
    assert prefix.update("what is sex times seven") == "seven"
    assert prefix.text == "what is sex times seven"


def _frames(pattern: str) -> tuple[np.ndarray, list[float]]:
    """Audio and VAD probabilities for a pattern of frames: '#' speech, '.' silence."""
    audio = np.concatenate([np.full(FRAME, 1000 if c == "#" else 0, np.int16) for c in pattern])
    return audio, [1.0 if c == "#" else 0.0 for c in pattern]


def test_turns_start_after_enough_speech_and_end_after_enough_silence() -> None:
    turns = TurnDetector(min_speech_ms=96, silence_ms=160, preroll_ms=64)
    audio, probs = _frames(".........##.." + "####" + "..##" + "......" + "..")
    events = turns.push(audio, probs)
    assert [type(e) for e in events] == [TurnStarted, TurnEnded]
    started, ended = events
    assert isinstance(started, TurnStarted) and isinstance(ended, TurnEnded)
    assert started.start_ms == (13 - 2) * 32  # two frames of pre-roll before the speech
    assert ended.reason == "silence"
    assert ended.end_ms == (13 + 4 + 4 + 5) * 32  # five silent frames (160 ms) ended it
    assert ended.audio.size == ended.end_ms * 16 - started.start_ms * 16
    assert not turns.in_turn


def test_commit_ends_a_turn_at_once_and_max_turn_cuts_a_long_one() -> None:
    turns = TurnDetector(min_speech_ms=32, silence_ms=1000, preroll_ms=0, max_turn_s=0.32)
    assert turns.commit() is None
    audio, probs = _frames("###")
    assert isinstance(turns.push(audio, probs)[0], TurnStarted)
    ended = turns.commit()
    assert ended is not None and ended.reason == "commit" and ended.audio.size == 3 * FRAME
    audio, probs = _frames("#" * 12)
    events = turns.push(audio, probs)
    assert [e.reason for e in events if isinstance(e, TurnEnded)] == ["max_turn"]


def test_idle_audio_is_not_kept_beyond_the_preroll() -> None:
    turns = TurnDetector(preroll_ms=64)
    for _ in range(50):
        audio, probs = _frames("." * 20)
        turns.push(audio, probs)
    assert turns._buffer.size <= 2 * FRAME  # bounded while nobody speaks


@pytest.mark.speech
@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_silero_hears_speech_and_not_silence_or_noise(tmp_path: Path) -> None:
    speech = spoken("Turn off the lights in the kitchen.", tmp_path).astype(np.float32) / 32768
    vad = make_vad("silero")
    quiet = vad.feed(np.zeros(16_000, np.float32))
    noise = vad.feed(np.random.default_rng(0).normal(0, 0.003, 16_000).astype(np.float32))
    heard = vad.feed(speech)
    assert max(quiet) < 0.2 and max(noise) < 0.5
    assert np.mean(np.array(heard) > 0.5) > 0.5


def test_energy_vad_scores_frames_by_loudness() -> None:
    vad = EnergyStream(0.02)
    assert vad.feed(np.zeros(FRAME + 10, np.float32)) == [0.0]
    assert vad.feed(np.full(FRAME, 0.3, np.float32)) == [1.0]  # with the 10 left over


async def test_webm_chunks_decode_as_they_arrive() -> None:
    clip = make_clip(2.0)
    data = encode_audio(clip, "webm")
    decoder = WebmInput()
    got = []
    try:
        for start in range(0, len(data), 700):
            got.append((await decoder.feed(data[start:start + 700])).size)
    finally:
        decoder.close()
    assert sum(got) > 0.9 * clip.size
    assert sum(1 for n in got[: len(got) // 2] if n) > 3  # decoded while the stream went on


async def test_garbage_webm_and_odd_pcm_are_wrong_formats() -> None:
    decoder = WebmInput(max_undecoded_bytes=20_000)
    with pytest.raises(WrongAudioFormat):
        await decoder.feed(b"OggS" + bytes(100))  # no EBML header
    decoder.close()
    decoder = WebmInput(max_undecoded_bytes=20_000)
    with pytest.raises(WrongAudioFormat):
        await decoder.feed(b"\x1a\x45\xdf\xa3" + b"garbage" * 100)
        for _ in range(10):
            await decoder.feed(b"x" * 5000)
    decoder.close()
    with pytest.raises(WrongAudioFormat):
        await Pcm16Input().feed(b"\x00\x01\x02")


def _event(n: int) -> ErrorEvent:
    return ErrorEvent(error=ErrorInfo(code="x", message=str(n)))


async def test_outbox_drops_a_client_that_does_not_read() -> None:
    never = asyncio.Event()

    async def stuck(text: str) -> None:
        await never.wait()

    outbox = Outbox(stuck, max_events=4, max_bytes=1 << 20, slow_s=0.2)
    sender = asyncio.create_task(outbox.run())
    for n in range(4):  # the first one stuck in the socket, all four held
        await outbox.put(_event(n))
    await asyncio.sleep(0.05)
    with pytest.raises(SlowClient):
        await outbox.put(_event(4))
    assert outbox.pending == 4
    sender.cancel()


async def test_outbox_bounds_bytes_and_delivers_in_order() -> None:
    sent: list[str] = []
    gate = asyncio.Event()

    async def slow(text: str) -> None:
        await gate.wait()
        sent.append(text)

    outbox = Outbox(slow, max_events=100, max_bytes=120, slow_s=5)
    sender = asyncio.create_task(outbox.run())
    await outbox.put(_event(0))
    await outbox.put(_event(1))
    waiting = asyncio.create_task(outbox.put(_event(2)))  # over 120 bytes: waits for room
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gate.set()
    await waiting
    outbox.close()
    await sender
    assert [json.loads(t)["error"]["message"] for t in sent] == ["0", "1", "2"]


class _StuckSocket:
    """A client that sends bad frames and never reads what the server sends back."""

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None
        self._never = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        return {"type": "websocket.receive", "text": "{bad"}

    async def send_text(self, data: str) -> None:
        await self._never.wait()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")


async def test_a_session_whose_client_does_not_read_is_closed_4411() -> None:
    settings = RealtimeSettings(vad="energy", max_outbox_events=8, slow_client_s=0.3)
    api = SimpleNamespace(pool=SimpleNamespace(stop_event=asyncio.Event()))
    socket = _StuckSocket()
    session = RealtimeSession(socket, api, RealtimeHub(settings))  # type: ignore[arg-type]
    await asyncio.wait_for(session.run(), 10)
    assert socket.closed is not None and socket.closed[0] == CloseCode.SLOW_CLIENT
    assert session.outbox.pending <= 8


def test_the_spoken_answer_is_the_reports_lead() -> None:
    report = ("> ⚠ Unchecked: the number 43\n\n# Report\n\n**42** is the product of 6 and 7. "
              "See [the table](#t).\n\n| a | b |\n|---|---|\n")
    assert lead_answer(report) == "42 is the product of 6 and 7. See the table."
    long = "One two three. " * 100
    cut = lead_answer(long, max_chars=40)
    assert cut == "One two three. One two three."


@pytest.mark.speech
def test_espeak_library_speaks_without_a_subprocess() -> None:
    from company.realtime.tts import EspeakLibrary, EspeakSynthesizer, TtsUnavailable

    try:
        EspeakLibrary.shared()
    except TtsUnavailable as exc:
        pytest.skip(str(exc))
    speech = EspeakSynthesizer().synthesize("The answer is forty two.")
    assert 0.8 < speech.duration_s < 4 and speech.sample_rate > 8000
    assert np.abs(speech.samples).max() > 1000
    shorter = EspeakSynthesizer(words_per_minute=400).synthesize("The answer is forty two.")
    assert shorter.duration_s < speech.duration_s

