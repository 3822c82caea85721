"""The Whisper service: windowing, batching equal to one-by-one decoding, concurrency, errors."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from company.speech import (
    SAMPLE_RATE,
    ModelUnavailable,
    NotAudio,
    ServiceClosed,
    Transcription,
    WhisperService,
    WhisperSettings,
    Window,
    split_windows,
)
from company.speech.cli import transcribe_command
from company.speech.decoding import decoding_options, parse_segments, window_mels
from company.speech.service import close_services
from tests.speech_fixtures import *  # noqa: F403
from tests.speech_fixtures import encode_audio, make_clip

pytestmark = pytest.mark.speech

if TYPE_CHECKING:
    from whisper.model import Whisper

REPO = Path(__file__).resolve().parents[1]

# ---- windowing -----------------------------------------------------------------------------


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Loud noise everywhere: the only quiet places are the ones a test carves out."""
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


def _assert_cover(windows: list[Window], total: int) -> None:
    assert windows[0].start == 0 and windows[-1].end == total
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.end == after.start
    assert all(0 < w.end - w.start <= 30 * SAMPLE_RATE for w in windows)


def test_short_audio_is_one_window() -> None:
    for seconds in (0.5, 12.0, 30.0):
        samples = _noise(seconds)
        windows = split_windows(samples)
        assert [(w.start, w.end) for w in windows] == [(0, samples.size)]


def test_cuts_land_on_the_quiet_spots() -> None:
    samples = _noise(75.0)
    s = SAMPLE_RATE
    samples[int(27.0 * s) : int(27.6 * s)] = 0.0  # in the last 5 s before 30 s
    # The second window starts near 27.3 s, so its search region is about 52.3-57.3 s.
    samples[int(54.0 * s) : int(54.5 * s)] *= 0.01
    windows = split_windows(samples, search_seconds=5.0)
    _assert_cover(windows, samples.size)
    assert len(windows) == 3
    assert 27.0 <= windows[0].end_s <= 27.6
    assert 54.0 <= windows[1].end_s <= 54.5


def test_cut_without_a_pause_stays_in_the_search_region() -> None:
    samples = _noise(61.0, seed=4)
    windows = split_windows(samples, search_seconds=3.0)
    _assert_cover(windows, samples.size)
    assert 27.0 <= windows[0].end_s <= 30.0
    with pytest.raises(ValueError):
        split_windows(samples, search_seconds=30.0)


def test_parse_segments_offsets_and_clamps() -> None:
    begin = 50_000  # pretend timestamp tokens start here; text tokens are below

    def decode(tokens: list[int]) -> str:
        return " ".join(str(t) for t in tokens)

    tokens = [begin + 0, 1, 2, begin + 50, begin + 60, 3, begin + 2000, 4]
    segments = parse_segments(
        tokens, timestamp_begin=begin, decode=decode, offset_s=30.0, duration_s=20.0
    )
    assert [(s.start, s.end, s.text) for s in segments] == [
        (30.0, 31.0, "1 2"),
        (31.2, 50.0, "3"),  # a timestamp past the window end is clamped to it
        (50.0, 50.0, "4"),
    ]


# ---- batching --------------------------------------------------------------------------------


WindowTokens = list[tuple[float, float, str, list[int]]]


def _reference_tokens(
    model: Whisper, settings: WhisperSettings, samples: np.ndarray, language: str | None = None
) -> WindowTokens:
    """Decode every window of ``samples`` alone, as the one-by-one baseline."""
    import whisper

    options = decoding_options(settings, language=language, fp16=False)
    out = []
    for window in split_windows(samples, search_seconds=settings.window_search_s):
        mel = window_mels([samples[window.start : window.end]], model.dims.n_mels, model.device)
        result = whisper.decode(model, mel[0], options)
        out.append((window.start_s, window.end_s, result.language, list(result.tokens)))
    return out


def _tokens(result: Transcription) -> WindowTokens:
    return [(w.start, w.end, w.language, w.tokens) for w in result.windows]


CLIPS = {
    "5s": make_clip(5.0, seed=11),
    "12s": make_clip(12.0, seed=12),
    "45s": make_clip(45.0, seed=13),
}


@pytest.mark.asyncio
async def test_batched_decoding_equals_one_by_one(
    speech_service: WhisperService,
    speech_settings: WhisperSettings,
    reference_whisper_model: Whisper,
) -> None:
    before = speech_service.stats.model_copy(deep=True)
    results = await asyncio.gather(*(speech_service.transcribe(c) for c in CLIPS.values()))
    after = speech_service.stats
    # The four windows (1 + 1 + 2) were decoded in batches (normally a single batch of 4).
    new_batches = {
        size: n - before.batch_sizes.get(size, 0)
        for size, n in after.batch_sizes.items()
        if n > before.batch_sizes.get(size, 0)
    }
    assert sum(size * n for size, n in new_batches.items()) == 4
    assert max(new_batches) >= 2
    for result, clip in zip(results, CLIPS.values(), strict=True):
        expected = _reference_tokens(reference_whisper_model, speech_settings, clip)
        assert _tokens(result) == expected
        assert all(len(w.tokens) == speech_settings.sample_len for w in result.windows)
    # The model is random, but it does listen: different audio, different tokens.
    assert len({tuple(w.tokens) for r in results for w in r.windows}) == 4


@pytest.mark.asyncio
async def test_result_fields(speech_service: WhisperService) -> None:
    clip = CLIPS["45s"]
    result = await speech_service.transcribe(clip, name="meeting.ogg")
    assert result.source == "meeting.ogg"
    assert result.duration_s == pytest.approx(45.0)
    assert result.processing_s > 0 and result.model.endswith("tiny-random.pt")
    assert result.token_count == sum(len(w.tokens) for w in result.windows) == 16
    assert result.windows[0].start == 0 and result.windows[-1].end == pytest.approx(45.0)
    assert result.language == result.windows[0].language or len(result.windows) > 1
    assert result.segments == [s for w in result.windows for s in w.segments]
    for window in result.windows:
        for segment in window.segments:
            assert window.start <= segment.start <= segment.end <= window.end
    assert result.text == " ".join(s.text for s in result.segments)


@pytest.mark.asyncio
async def test_concurrent_callers_get_the_one_after_another_results(
    speech_service: WhisperService,
) -> None:
    clips = [CLIPS["12s"], CLIPS["45s"], CLIPS["5s"], make_clip(70.0, seed=14)]
    one_by_one = [_tokens(await speech_service.transcribe(c)) for c in clips]
    together = await asyncio.gather(*(speech_service.transcribe(c) for c in clips))
    assert [_tokens(r) for r in together] == one_by_one


def test_threads_with_their_own_event_loops_share_the_service(
    speech_service: WhisperService,
) -> None:
    clips = [CLIPS["45s"], CLIPS["12s"], make_clip(8.0, seed=15)]
    expected = [_tokens(asyncio.run(speech_service.transcribe(c))) for c in clips]
    got: dict[int, WindowTokens] = {}
    barrier = threading.Barrier(len(clips))

    def worker(i: int) -> None:
        async def main() -> Transcription:
            barrier.wait()
            return await speech_service.transcribe(clips[i])

        got[i] = _tokens(asyncio.run(main()))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [got[i] for i in range(len(clips))] == expected


@pytest.mark.asyncio
async def test_languages_are_not_mixed_in_a_batch(
    speech_service: WhisperService,
    speech_settings: WhisperSettings,
    reference_whisper_model: Whisper,
) -> None:
    clip = CLIPS["12s"]
    english, german = await asyncio.gather(
        speech_service.transcribe(clip, language="en"),
        speech_service.transcribe(clip, language="de"),
    )
    assert english.language == "en" and german.language == "de"
    assert _tokens(english) == _reference_tokens(
        reference_whisper_model, speech_settings, clip, "en"
    )
    assert _tokens(german) == _reference_tokens(
        reference_whisper_model, speech_settings, clip, "de"
    )


@pytest.mark.asyncio
async def test_progress_reports_windows(speech_service: WhisperService) -> None:
    calls: list[tuple[int, int]] = []
    result = await speech_service.transcribe(
        make_clip(95.0, seed=16), progress=lambda d, t: calls.append((d, t))
    )
    n = len(result.windows)
    assert n == 4 and calls == [(i, n) for i in range(1, n + 1)]


@pytest.mark.asyncio
async def test_files_and_bytes_give_the_same_result_as_samples(
    speech_service: WhisperService, tmp_path: Path
) -> None:
    from company.speech import decode_audio

    data = encode_audio(CLIPS["12s"], "flac")
    path = tmp_path / "note.flac"
    path.write_bytes(data)
    from_path = await speech_service.transcribe(path)
    from_bytes = await speech_service.transcribe(data)
    from_samples = await speech_service.transcribe(decode_audio(data))
    assert _tokens(from_path) == _tokens(from_bytes) == _tokens(from_samples)
    assert from_path.source == str(path) and from_bytes.source == "<bytes>"


@pytest.mark.asyncio
async def test_bad_audio_fails_alone(speech_service: WhisperService) -> None:
    good = speech_service.transcribe(CLIPS["5s"])
    bad = speech_service.transcribe(b"just some text, not a voice note\n", name="note.txt")
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert isinstance(results[0], Transcription)
    assert isinstance(results[1], NotAudio) and "note.txt" in str(results[1])


@pytest.mark.asyncio
async def test_event_loop_stays_responsive(speech_service: WhisperService) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await speech_service.transcribe(make_clip(60.0, seed=17))
    task.cancel()
    assert ticks > 5


@pytest.mark.asyncio
async def test_sequential_baseline_runs_model_transcribe(speech_service: WhisperService) -> None:
    result = await speech_service.transcribe_sequential(CLIPS["45s"])
    assert result.duration_s == pytest.approx(45.0)
    assert result.token_count > 0 and result.segments and result.language
    assert result.windows == []


@pytest.mark.asyncio
async def test_cancelled_request_does_not_break_the_service(
    speech_service: WhisperService,
) -> None:
    task = asyncio.create_task(speech_service.transcribe(make_clip(200.0, seed=18)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = await speech_service.transcribe(CLIPS["5s"])
    assert len(result.windows) == 1


# ---- model availability and lifecycle ----------------------------------------------------------


@pytest.fixture
def unreachable_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the official checkpoints at a host that never resolves (even with internet), and
    the model cache (where `models pull` puts base and tiny.en) at an empty folder."""
    import whisper

    monkeypatch.setenv("COMPANY_MODELS_DIR", str(tmp_path / "empty-model-cache"))
    for name in ("tiny", "base"):
        monkeypatch.setitem(whisper._MODELS, name, f"https://models.invalid/0123/{name}.pt")


@pytest.mark.asyncio
@pytest.mark.usefixtures("unreachable_downloads")
async def test_missing_model_names_the_file(tmp_path: Path) -> None:
    settings = WhisperSettings(
        model="tiny", device="cpu", download_root=str(tmp_path), download_timeout_s=2
    )
    service = WhisperService(settings)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as info:
        await service.transcribe(CLIPS["5s"])
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert str(tmp_path / "tiny.pt") in message and "WHISPER_MODEL" in message
    service.close()


@pytest.mark.asyncio
async def test_missing_checkpoint_path_and_unknown_name(tmp_path: Path) -> None:
    for model, expected in ((str(tmp_path / "mine.pt"), "does not exist"), ("tinny", "unknown")):
        service = WhisperService(WhisperSettings(model=model, device="cpu"))
        with pytest.raises(ModelUnavailable, match=expected):
            await service.load()
        service.close()


@pytest.mark.asyncio
async def test_closed_service_refuses_work(speech_settings: WhisperSettings) -> None:
    service = WhisperService(speech_settings)
    service.close()
    with pytest.raises(ServiceClosed):
        await service.transcribe(CLIPS["5s"])


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHISPER_MODEL", raising=False)
    settings = WhisperSettings()
    assert settings.resolved_model("cpu") == "base"
    assert settings.resolved_model("cuda") == "large-v3-turbo"
    assert settings.resolved_fp16("cuda") and not settings.resolved_fp16("cpu")
    assert not WhisperSettings(fp16=True).resolved_fp16("cpu")
    monkeypatch.setenv("WHISPER_MODEL", "/models/base.pt")
    assert WhisperSettings().resolved_model("cuda") == "/models/base.pt"
    assert WhisperSettings(model="tiny").resolved_model("cpu") == "tiny"
    with pytest.raises(ValueError):
        WhisperSettings(device="gpu")


@pytest.mark.subprocess
def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, company.speech, company.speech.cli; "
        "assert 'torch' not in sys.modules and 'whisper' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_prints_json_and_reports_bad_files(
    speech_settings: WhisperSettings, tmp_path: Path
) -> None:
    good = tmp_path / "a.wav"
    good.write_bytes(encode_audio(CLIPS["5s"], "wav"))
    bad = tmp_path / "b.txt"
    bad.write_text("hello")
    out, err = io.StringIO(), io.StringIO()
    try:
        code = transcribe_command(
            [str(good), str(bad)], settings=speech_settings, as_json=True, out=out, err=err
        )
    finally:
        close_services()
    assert code == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["source"] == str(good)
    assert err.getvalue().count("\n") == 1 and str(bad) in err.getvalue()


@pytest.mark.usefixtures("unreachable_downloads")
def test_cli_missing_model(tmp_path: Path) -> None:
    clip = tmp_path / "a.ogg"
    clip.write_bytes(encode_audio(CLIPS["5s"], "ogg"))
    settings = WhisperSettings(
        model="base", device="cpu", download_root=str(tmp_path), download_timeout_s=2
    )
    out, err = io.StringIO(), io.StringIO()
    try:
        code = transcribe_command([str(clip)], settings=settings, as_json=False, out=out, err=err)
    finally:
        close_services()
    assert code == 2 and out.getvalue() == ""
    assert str(tmp_path / "base.pt") in err.getvalue()
