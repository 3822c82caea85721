"""Real Whisper weights (tiny.en, base from the model cache) on espeak-ng speech, via our service.

Every test is ``real_model``: the checkpoints come from ``company.models.cached_model_file``
(``python startup.py models pull tiny.en base``; ``make test`` pulls them first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from company.speech import WhisperService, WhisperSettings, decode_audio
from company.speech.synth import speak_to_wav
from company.speech.wer import normalize_words, word_error_rate
from tests.real_models import require_model

pytestmark = [pytest.mark.real_model, pytest.mark.speech]

PHRASES = {
    "six_times_seven": "What is six times seven?",
    "report": "Please send the report to the team by Friday.",
    "lights": "Turn off the lights in the kitchen.",
    "fox": "How many words are in the quick brown fox?",
    "shopping": "Add milk and eggs to the shopping list.",
}
PARAGRAPH = (
    "The quarterly review starts on Monday morning. Each team will present its results, "
    "its open problems and its plans for the next three months. The finance group asks every "
    "speaker to keep to ten minutes and to send the slides by Friday, so that the numbers can be "
    "checked before the meeting. After the presentations we will vote on the two projects that "
    "receive extra funding next year."
)  # about 25 s at 150 words per minute
# Measured here: tiny.en 10 %, base 4 % on this paragraph; 20 % leaves room for other CPUs.
PARAGRAPH_MAX_WER = 0.20


def _service(name: str) -> WhisperService:
    """A CPU service for cached model ``name``: a generous batch wait so concurrent clips batch,
    one thread like the other speech tests (robust when the test machine's cores are busy)."""
    settings = WhisperSettings(
        model=str(require_model(name)), device="cpu", batch_wait_ms=200, threads=1
    )
    return WhisperService(settings)


@pytest.fixture(scope="module")
def tiny_en() -> Iterator[WhisperService]:
    """Whisper tiny.en from the model cache."""
    service = _service("tiny.en")
    yield service
    service.close()


@pytest.fixture(scope="module")
def base() -> Iterator[WhisperService]:
    """Whisper base (multilingual) from the model cache."""
    service = _service("base")
    yield service
    service.close()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The phrases and the paragraph spoken by espeak-ng, as 16 kHz samples."""
    folder = tmp_path_factory.mktemp("speech")
    texts = {**PHRASES, "paragraph": PARAGRAPH}
    return {
        key: decode_audio(speak_to_wav(text, folder / f"{key}.wav")) for key, text in texts.items()
    }


@pytest.mark.parametrize("key", ["six_times_seven", "report", "lights"])
async def test_tiny_en_gets_short_phrases_exactly(
    tiny_en: WhisperService, speech: dict[str, np.ndarray], key: str
) -> None:
    result = await tiny_en.transcribe(speech[key], name=key)
    assert normalize_words(result.text) == normalize_words(PHRASES[key]), result.text
    assert result.language == "en"


async def test_tiny_en_paragraph_word_error_rate(
    tiny_en: WhisperService, speech: dict[str, np.ndarray]
) -> None:
    result = await tiny_en.transcribe(speech["paragraph"], name="paragraph")
    assert 20 < result.duration_s < 35
    wer = word_error_rate(PARAGRAPH, result.text)
    assert wer < PARAGRAPH_MAX_WER, f"WER {wer:.1%}: {result.text}"


async def test_batched_decoding_gives_the_tokens_of_one_by_one(
    tiny_en: WhisperService, speech: dict[str, np.ndarray]
) -> None:
    keys = ["six_times_seven", "report", "fox", "lights"]
    one_by_one = [await tiny_en.transcribe(speech[key], name=key) for key in keys]
    before = dict(tiny_en.stats.batch_sizes)
    together = await asyncio.gather(*(tiny_en.transcribe(speech[key], name=key) for key in keys))
    batches = {size: n - before.get(size, 0) for size, n in tiny_en.stats.batch_sizes.items()}
    assert any(size > 1 and n > 0 for size, n in batches.items()), batches  # it did batch
    for key, alone, batched in zip(keys, one_by_one, together, strict=True):
        assert [w.tokens for w in batched.windows] == [w.tokens for w in alone.windows], key
        assert batched.text == alone.text


async def test_multilingual_base_detects_english_and_transcribes(
    base: WhisperService, speech: dict[str, np.ndarray]
) -> None:
    keys = ["six_times_seven", "fox"]
    results = await asyncio.gather(*(base.transcribe(speech[key], name=key) for key in keys))
    for key, result in zip(keys, results, strict=True):
        assert result.language == "en"
        assert normalize_words(result.text) == normalize_words(PHRASES[key]), result.text


async def test_word_timings_match_whispers_own_transcribe(
    tiny_en: WhisperService, speech: dict[str, np.ndarray]
) -> None:
    ours = await tiny_en.transcribe(speech["report"], name="report", word_timestamps=True)
    theirs = await tiny_en.transcribe_sequential(speech["report"], word_timestamps=True)
    our_words = [w for s in ours.segments for w in s.words or ()]
    their_words = [w for s in theirs.segments for w in s.words or ()]
    assert [w.word for w in our_words] == [w.word for w in their_words]
    assert normalize_words("".join(w.word for w in our_words)) == normalize_words(PHRASES["report"])
    for mine, whisper_s in zip(our_words, their_words, strict=True):
        assert abs(mine.start - whisper_s.start) <= 0.05 and abs(mine.end - whisper_s.end) <= 0.05
    # in order, inside the clip and their segment
    starts = [w.start for w in our_words]
    assert starts == sorted(starts) and our_words[-1].end <= ours.duration_s + 0.05
    for segment in ours.segments:
        assert all(segment.start - 0.01 <= w.start <= w.end <= segment.end + 0.01
                   for w in segment.words or ())


async def test_word_timings_of_a_streamed_file_run_on_across_windows(
    tiny_en: WhisperService, speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import wave

    pause = np.zeros(16_000, dtype=np.float32)
    clip = np.concatenate([speech["paragraph"], pause, speech["paragraph"]])
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(clip, -1, 1) * 32767).astype("<i2").tobytes())
    result = await tiny_en.transcribe(str(path), name="long", word_timestamps=True)
    assert len(result.windows) >= 2
    words = [w for s in result.segments for w in s.words or ()]
    assert all(s.words for s in result.segments)
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert words[-1].end > 45  # the second reading is timed in the clip, not its window
    # the second reading's first word starts after the first reading and the pause
    second = [w for w in words if w.start > len(speech["paragraph"]) / 16_000]
    assert normalize_words("".join(w.word for w in second))[:2] == ["the", "quarterly"]
