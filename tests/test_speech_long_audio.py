"""Long audio: files are decoded, cut and transcribed as a stream, with the whole-file results,
a bounded number of windows at the worker, clean failures midway, and monotonic progress."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from company.speech import (
    SAMPLE_RATE,
    AudioLimits,
    AudioTooLong,
    CorruptAudio,
    Transcription,
    WhisperService,
    WhisperSettings,
    decode_audio,
    split_windows,
)
from company.speech.audio import open_audio
from company.speech.cli import transcribe_files
from company.speech.results import WindowResult
from company.speech.streaming import AudioProgress
from company.speech.windows import WindowCutter
from company.speech.worker import CallRequest, ModelWorker, WindowRequest
from tests.hostile_audio import raw_wav
from tests.speech_fixtures import *  # noqa: F403
from tests.speech_fixtures import encode_audio, make_clip

pytestmark = pytest.mark.speech

CLIP_3MIN = make_clip(180.0, seed=31)


class CountingWorker(ModelWorker):
    """The real worker, counting the windows submitted and not yet answered."""

    def __init__(self, settings: WhisperSettings) -> None:
        super().__init__(settings)
        self.lock = threading.Lock()
        self.outstanding = 0
        self.max_outstanding = 0
        self.requests: list[WindowRequest] = []
        self.answered: set[int] = set()

    def submit(self, request: WindowRequest | CallRequest) -> None:
        if isinstance(request, WindowRequest):
            self._count(request)
        super().submit(request)

    def _count(self, request: WindowRequest) -> None:
        n = len(request.windows)
        original = request.on_done

        def on_done(outcome: list[WindowResult] | BaseException) -> None:
            with self.lock:
                self.outstanding -= n
                self.answered.add(id(request))
            original(outcome)

        request.on_done = on_done
        with self.lock:
            self.outstanding += n
            self.max_outstanding = max(self.max_outstanding, self.outstanding)
            self.requests.append(request)


@pytest.fixture
def counting_service(speech_settings: WhisperSettings) -> Iterator[WhisperService]:
    """A service of its own, at most 3 windows in flight, on a counting worker.

    One window per batch: a window's tokens then do not depend on what it was batched with
    (int8 dynamic quantization scales activations per batch), so paths compare exactly.
    """
    settings = speech_settings.model_copy(update={"batch_size": 1})
    service = WhisperService(
        settings, max_windows_in_flight=3, worker=CountingWorker(settings)
    )
    yield service
    service.close()


def _worker(service: WhisperService) -> CountingWorker:
    worker = service._worker  # noqa: SLF001 - the test's own instrumented worker
    assert isinstance(worker, CountingWorker)
    return worker


def _window_tokens(result: Transcription) -> list[tuple[float, float, str, list[int], str]]:
    return [(w.start, w.end, w.language, w.tokens, w.text) for w in result.windows]


def _float_wav(values: np.ndarray) -> bytes:
    """A 16 kHz IEEE-float WAV holding exactly ``values``."""
    data = np.asarray(values, dtype="<f4").tobytes()
    head = raw_wav(16_000, 0, bits=32, tag=3)
    return (
        head[:4] + (36 + len(data)).to_bytes(4, "little") + head[8:40]
        + len(data).to_bytes(4, "little") + data
    )


def _live_webm(samples: np.ndarray) -> bytes:
    """Opus in WebM written as a live stream: no declared duration (like browser recordings)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm", options={"live": "1"}) as container:
        stream = container.add_stream("libopus", rate=48_000)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for converted in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    return buffer.getvalue()


# ---- cutting as the samples arrive -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_cutter_gives_the_whole_clip_windows_whatever_the_chunks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    clip = make_clip(float(rng.uniform(20, 170)), seed=seed)
    expected = [(w.start, w.end) for w in split_windows(clip, search_seconds=4.0)]
    cutter = WindowCutter(search_seconds=4.0)
    got: list[tuple[int, int]] = []
    position = 0
    while position < clip.size:
        size = int(rng.choice([1, 777, 4096, 16_000, 200_000, 600_000]))
        for window, samples in cutter.push(clip[position : position + size]):
            assert np.array_equal(samples, clip[window.start : window.end])
            got.append((window.start, window.end))
        # Never more than a window's worth plus the last chunk is held.
        assert cutter.held_samples <= 30 * SAMPLE_RATE + size
        position += size
    for window, samples in cutter.finish():
        assert np.array_equal(samples, clip[window.start : window.end])
        got.append((window.start, window.end))
    assert got == expected
    assert cutter.finish() == [] and cutter.push(np.zeros(0, np.float32)) == []


def test_stream_decoder_gives_the_whole_file_samples() -> None:
    data = encode_audio(CLIP_3MIN, "flac")
    with open_audio(data, name="long.flac") as stream:
        assert stream.declared_seconds == pytest.approx(180.0)
        assert not stream.declared_over_limit
        chunks = list(stream)
        with pytest.raises(RuntimeError, match="already read"):
            iter(stream)
    assert len(chunks) > 100  # frame by frame, not all at once
    assert np.array_equal(np.concatenate(chunks), decode_audio(data))
    assert stream.decoded_samples == 180 * SAMPLE_RATE


# ---- streamed transcription ------------------------------------------------------------------


async def test_streamed_file_equals_the_whole_file_path(
    counting_service: WhisperService, tmp_path: Path
) -> None:
    path = tmp_path / "meeting.flac"
    path.write_bytes(encode_audio(CLIP_3MIN, "flac"))
    streamed = await counting_service.transcribe(path)
    whole = await counting_service.transcribe(decode_audio(path), name=str(path))
    assert len(streamed.windows) == 7
    assert _window_tokens(streamed) == _window_tokens(whole)
    assert streamed.windows == whole.windows  # segments and their times included
    assert streamed.segments == whole.segments and streamed.text == whole.text
    assert streamed.duration_s == whole.duration_s == pytest.approx(180.0)
    assert streamed.source == whole.source == str(path)
    assert streamed.language == whole.language
    assert streamed.token_count == whole.token_count
    # The file went to the worker one window per request; the samples as one request.
    worker = _worker(counting_service)
    assert [len(r.windows) for r in worker.requests] == [1] * 7 + [7]


async def test_later_windows_are_timed_in_the_clip(
    counting_service: WhisperService, tmp_path: Path
) -> None:
    """Each window transcribed alone, moved by its start, is what the stream gives."""
    path = tmp_path / "talk.wav"
    path.write_bytes(encode_audio(CLIP_3MIN, "wav"))
    streamed = await counting_service.transcribe(path)
    samples = decode_audio(path)  # the WAV holds 16-bit samples, not the float clip
    starts = [w.start for w in streamed.windows]
    assert starts[0] == 0 and all(b > a + 25 for a, b in zip(starts, starts[1:], strict=False))
    for window in streamed.windows[1:]:
        first = int(round(window.start * SAMPLE_RATE))
        last = int(round(window.end * SAMPLE_RATE))
        alone = await counting_service.transcribe(samples[first:last])
        assert len(alone.windows) == 1 and alone.windows[0].tokens == window.tokens
        assert len(alone.segments) == len(window.segments)
        for moved, segment in zip(alone.segments, window.segments, strict=True):
            assert segment.text == moved.text
            assert segment.start == pytest.approx(moved.start + window.start, abs=1.5e-3)
            assert segment.end == pytest.approx(moved.end + window.start, abs=1.5e-3)
            assert window.start <= segment.start <= segment.end <= window.end


@pytest.mark.slow
async def test_windows_in_flight_never_exceed_the_bound(
    counting_service: WhisperService, tmp_path: Path
) -> None:
    path = tmp_path / "lecture.ogg"
    path.write_bytes(encode_audio(make_clip(330.0, seed=32), "ogg"))
    result = await counting_service.transcribe(path)
    worker = _worker(counting_service)
    assert len(result.windows) >= 12
    assert len(worker.requests) == len(result.windows)
    assert worker.max_outstanding == counting_service.max_windows_in_flight == 3
    assert worker.outstanding == 0


@pytest.mark.slow
async def test_streaming_memory_does_not_hold_the_clip(
    speech_settings: WhisperSettings, tmp_path: Path
) -> None:
    """Twelve minutes (46 MB of samples): the stream holds a few windows, decode_audio all."""
    path = tmp_path / "twelve.wav"
    path.write_bytes(encode_audio(make_clip(720.0, seed=33), "wav"))
    clip_bytes = 720 * SAMPLE_RATE * 4
    service = WhisperService(speech_settings, max_windows_in_flight=2)
    try:
        await service.transcribe(encode_audio(make_clip(40.0, seed=36), "wav"))  # first-use costs
        tracemalloc.start()
        try:
            result = await service.transcribe(path)
            _, streamed_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            whole = decode_audio(path)
            _, whole_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        service.close()
    assert result.duration_s == whole.size / SAMPLE_RATE == 720.0
    assert whole_peak > clip_bytes  # the measure sees numpy's buffers
    assert streamed_peak < clip_bytes / 3, f"{streamed_peak / 1e6:.1f} MB"


# ---- failures ----------------------------------------------------------------------------


async def test_nan_samples_midway_fail_the_file_cleanly(
    counting_service: WhisperService, tmp_path: Path
) -> None:
    values = CLIP_3MIN.copy()
    values[150 * SAMPLE_RATE : 150 * SAMPLE_RATE + 100] = np.nan
    path = tmp_path / "broken.wav"
    path.write_bytes(_float_wav(values))
    with pytest.raises(CorruptAudio) as info:
        await counting_service.transcribe(path)
    assert "broken.wav" in str(info.value) and "NaN" in str(info.value)
    worker = _worker(counting_service)
    assert len(worker.requests) >= 3  # windows before the damage were already at the worker
    # Every window sent was answered or withdrawn: nothing of the file is left at the worker.
    await asyncio.sleep(0.5)
    for request in worker.requests:
        assert id(request) in worker.answered or request.cancelled.is_set()
    # The service goes on; the next file gets its own results only.
    good = tmp_path / "good.wav"
    good.write_bytes(encode_audio(CLIP_3MIN[: 70 * SAMPLE_RATE], "wav"))
    result = await counting_service.transcribe(good)
    expected = await counting_service.transcribe(decode_audio(good), name=str(good))
    assert _window_tokens(result) == _window_tokens(expected)


async def test_damaged_body_midway_is_corrupt(
    counting_service: WhisperService, tmp_path: Path
) -> None:
    data = bytearray(encode_audio(CLIP_3MIN, "ogg"))
    n = len(data)
    data[n // 3 : n // 3 + n // 2] = np.random.default_rng(5).bytes(n // 2)
    with pytest.raises(CorruptAudio, match="damaged"):
        await counting_service.transcribe(bytes(data), name="voice.ogg")


async def test_too_long_file_costs_no_model_time(speech_settings: WhisperSettings) -> None:
    """It declares more than the limit: its windows are held until the running count refuses."""
    settings = speech_settings.model_copy(update={"audio_limits": AudioLimits(max_seconds=100)})
    service = WhisperService(settings, worker=CountingWorker(settings))
    try:
        with pytest.raises(AudioTooLong, match="limit of 100 s"):
            await service.transcribe(encode_audio(CLIP_3MIN, "wav"), name="long.wav")
        assert _worker(service).requests == []
    finally:
        service.close()


async def test_cancelling_a_stream_withdraws_its_windows(
    counting_service: WhisperService,
) -> None:
    task = asyncio.create_task(counting_service.transcribe(encode_audio(CLIP_3MIN, "wav")))
    worker = _worker(counting_service)
    for _ in range(500):
        if worker.requests:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    sent = len(worker.requests)
    assert sent < 7
    for request in worker.requests:
        assert id(request) in worker.answered or request.cancelled.is_set()
    result = await counting_service.transcribe(make_clip(5.0, seed=34))
    assert len(result.windows) == 1


# ---- progress ----------------------------------------------------------------------------


def _check_progress(states: list[AudioProgress], result: Transcription) -> None:
    """Monotonic, one call per window, ending at the clip's totals."""
    n = len(result.windows)
    assert [s.windows_done for s in states][-n:] == list(range(1, n + 1))
    done = [s.seconds_done for s in states]
    assert done == sorted(done) and done[0] > 0
    last = states[-1]
    assert last.finished and last.windows_total == n
    assert last.seconds_done == last.seconds_total == result.duration_s
    assert all(s.windows_total in (None, n) for s in states)


async def test_progress_is_monotonic_and_ends_at_the_total(
    counting_service: WhisperService,
) -> None:
    states: list[AudioProgress] = []
    counts: list[tuple[int, int]] = []
    result = await counting_service.transcribe(
        encode_audio(CLIP_3MIN, "wav"),
        audio_progress=states.append,
        progress=lambda done, total: counts.append((done, total)),
    )
    _check_progress(states, result)
    n = len(result.windows)
    assert len(states) == n  # the last window came back after the file was decoded
    assert all(s.seconds_total == pytest.approx(180.0) for s in states)  # WAV declares it
    assert [d for d, _ in counts] == list(range(1, n + 1)) and counts[-1] == (n, n)
    assert all(d <= t for d, t in counts)
    # Samples: the same callbacks, the totals known from the start.
    states.clear()
    counts.clear()
    result = await counting_service.transcribe(
        CLIP_3MIN,
        audio_progress=states.append,
        progress=lambda done, total: counts.append((done, total)),
    )
    _check_progress(states, result)
    assert counts == [(i, n) for i in range(1, n + 1)]
    assert [s.seconds_done for s in states] == [w.end for w in result.windows]


async def test_progress_without_a_declared_duration(counting_service: WhisperService) -> None:
    states: list[AudioProgress] = []
    result = await counting_service.transcribe(
        _live_webm(CLIP_3MIN[: 100 * SAMPLE_RATE]), audio_progress=states.append
    )
    _check_progress(states, result)
    assert states[0].seconds_total is None and states[0].windows_total is None
    assert result.duration_s == pytest.approx(100.0, abs=0.05)


async def test_cli_progress_bar_in_audio_seconds(
    speech_service: WhisperService, tmp_path: Path
) -> None:
    path = tmp_path / "call.wav"
    path.write_bytes(encode_audio(make_clip(95.0, seed=35), "wav"))
    shown, hidden = io.StringIO(), io.StringIO()
    for err, show in ((shown, True), (hidden, None)):
        out = io.StringIO()
        code = await transcribe_files(
            [str(path)], service=speech_service, as_json=False, out=out, err=err,
            show_progress=show,
        )
        assert code == 0 and out.getvalue().strip()
    assert "call.wav" in shown.getvalue() and "x realtime" in shown.getvalue()
    assert "/1:35" in shown.getvalue()  # audio done / total
    assert hidden.getvalue() == ""  # not a terminal, not asked for


async def test_cli_writes_every_requested_format_into_the_output_folder(
    speech_service: WhisperService, tmp_path: Path
) -> None:
    from company.speech.formats import render_transcription

    path = tmp_path / "memo.wav"
    path.write_bytes(encode_audio(make_clip(40.0, seed=7), "wav"))
    err, out = io.StringIO(), io.StringIO()
    code = await transcribe_files([str(path)], service=speech_service, as_json=True, out=out,
                                  err=err, formats=["srt", "txt", "vtt", "srt"],
                                  output_dir=tmp_path / "subs")
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "subs").iterdir())
    assert written == ["memo.srt", "memo.txt", "memo.vtt"]
    result = Transcription.model_validate_json(out.getvalue())
    assert (tmp_path / "subs" / "memo.srt").read_text() == render_transcription("srt", result)
    assert (tmp_path / "subs" / "memo.vtt").read_text().startswith("WEBVTT")
    assert "wrote " in err.getvalue()
    with pytest.raises(ValueError, match="unknown transcript format doc"):
        await transcribe_files([str(path)], service=speech_service, as_json=False,
                               formats=["doc"])


async def test_cli_word_timestamps_reach_json_and_word_level_subtitles(
    speech_service: WhisperService, tmp_path: Path
) -> None:
    from company.speech.formats import SubtitleOptions, render_transcription

    path = tmp_path / "memo.wav"
    path.write_bytes(encode_audio(make_clip(40.0, seed=8), "wav"))
    out, err = io.StringIO(), io.StringIO()
    layout = SubtitleOptions(highlight_words=True)
    code = await transcribe_files([str(path)], service=speech_service, as_json=True, out=out,
                                  err=err, formats=["json", "srt"], output_dir=tmp_path,
                                  word_timestamps=True, subtitles=layout)
    assert code == 0, err.getvalue()
    result = Transcription.model_validate_json(out.getvalue())
    assert result.duration_s > 30 and all(s.words is not None for s in result.segments)
    words = [w for s in result.segments for w in s.words or ()]
    assert [w.start for w in words] == sorted(w.start for w in words)
    direct = await speech_service.transcribe(str(path), word_timestamps=True)
    assert len(direct.windows) == 2
    second = direct.windows[1]
    assert second.segments and second.start > 0
    for segment in second.segments:  # timed in the clip, not in its window
        assert all(second.start - 0.01 <= w.start <= w.end <= second.end + 0.01
                   for w in segment.words or ())
    written = json.loads((tmp_path / "memo.json").read_text())
    assert all("words" in segment for segment in written["segments"])
    srt = (tmp_path / "memo.srt").read_text()
    assert srt == render_transcription("srt", result, options=layout)
    assert "<u>" in srt and "<u>" not in render_transcription("srt", result)  # word by word
    # without the flag (and the settings' default), no words are decoded
    plain = io.StringIO()
    await transcribe_files([str(path)], service=speech_service, as_json=True, out=plain,
                           err=io.StringIO())
    assert all(s.words is None
               for s in Transcription.model_validate_json(plain.getvalue()).segments)
