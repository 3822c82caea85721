"""Speed settings of the Whisper service: validation, the fast decoding loop (same tokens as
whisper.decode, with finished rows dropped or kept), int8 linears, fp16 weights, mel batches and
the GPU batch size from (faked) free memory. No timings are asserted: see
benchmarks/bench_whisper_real.py for speed."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from pydantic import ValidationError

from company.speech import WhisperService, WhisperSettings
from company.speech.decoding import (
    DecodePlan,
    decode_chunks,
    decode_plan,
    decoding_options,
    encode,
    sdpa_enabled,
    torch_threads,
    window_mels,
)
from company.speech.gpu_batch import choose_batch_size, window_bytes
from company.speech.testing import DIMS, synthetic_clip
from company.speech.worker import ModelWorker
from tests.real_models import require_model
from tests.speech_fixtures import *  # noqa: F403

pytestmark = pytest.mark.speech

if TYPE_CHECKING:
    from whisper.decoding import DecodingResult
    from whisper.model import Whisper

REPO = Path(__file__).resolve().parents[1]
CLIP_SECONDS = [3.0, 5.0, 8.0, 12.0, 20.0, 29.0]


def _clips() -> list[np.ndarray]:
    return [synthetic_clip(seconds, seed=i) for i, seconds in enumerate(CLIP_SECONDS)]


def _tokens(results: list[DecodingResult]) -> list[list[int]]:
    return [list(result.tokens) for result in results]


@pytest.fixture(scope="module")
def fp32_model(whisper_checkpoint: Path) -> Whisper:
    """A private copy of the random tiny model (tests below change copies of it)."""
    import whisper

    return whisper.load_model(str(whisper_checkpoint), device="cpu")


@pytest.fixture(scope="module")
def early_eot_model(fp32_model: Whisper) -> Whisper:
    """The random model with a louder end-of-text embedding, so windows finish at different
    steps (some early, some at ``sample_len``) and dropping finished rows is exercised."""
    import torch
    from whisper.tokenizer import get_tokenizer

    eot = get_tokenizer(True, num_languages=fp32_model.num_languages).eot
    options = decoding_options(WhisperSettings(sample_len=24), language=None, fp16=False)
    for factor in (3.0, 2.5, 3.5, 2.0, 4.0):
        model = copy.deepcopy(fp32_model)
        with torch.no_grad():
            model.decoder.token_embedding.weight[eot] *= factor
        lengths = [len(t) for t in _tokens(decode_chunks(model, _clips(), options))]
        if len(set(lengths)) >= 3 and min(lengths) < 24 and max(lengths) == 24:
            return model
    pytest.fail("no eot scaling made the random model's windows end at different steps")


# ---- settings ---------------------------------------------------------------------------------


def test_speed_defaults() -> None:
    settings = WhisperSettings()
    assert settings.decoder == "fast"
    assert settings.drop_finished is True
    assert settings.cpu_quantize == "auto"
    assert settings.sdpa is True
    assert settings.decode_threads == 1
    assert settings.encode_windows is None
    assert settings.gpu_batch_auto is True
    assert 0 < settings.gpu_memory_fraction <= 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("decoder", "beam"),
        ("cpu_quantize", "int4"),
        ("cpu_quantize", True),
        ("decode_threads", 0),
        ("encode_windows", 0),
        ("gpu_memory_fraction", 0),
        ("gpu_memory_fraction", 1.5),
        ("drop_finished", "sometimes"),
    ],
)
def test_invalid_speed_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        WhisperSettings.model_validate({field: value})


def test_speed_settings_from_a_config_section() -> None:
    settings = WhisperSettings.model_validate(
        {"decoder": "whisper", "cpu_quantize": "off", "decode_threads": None, "sdpa": False}
    )
    assert (settings.decoder, settings.cpu_quantize, settings.decode_threads) == (
        "whisper",
        "off",
        None,
    )
    assert settings.sdpa is False
    assert hash(settings) == hash(settings.model_copy())  # still usable as a service key


def test_the_gpu_worker_example_config_is_valid() -> None:
    from company.config import load_config

    config = load_config(REPO / "examples" / "speech_gpu.yaml")
    settings = WhisperSettings.model_validate(config.speech)
    assert settings.device == "cuda"
    assert settings.fp16 is True
    assert settings.gpu_batch_auto is True
    assert settings.batch_size >= 8


def test_decode_plan_threads_apply_to_the_cpu_only() -> None:
    settings = WhisperSettings(threads=4, decode_threads=1, decoder="whisper", sdpa=False)
    assert decode_plan(settings, "cpu") == DecodePlan(
        fast=False,
        drop_finished=True,
        sdpa=False,
        encode_threads=4,
        decode_threads=1,
        encode_windows=1,
    )
    on_gpu = decode_plan(settings, "cuda:0")
    assert on_gpu.encode_threads is None and on_gpu.decode_threads is None
    assert on_gpu.encode_windows is None  # the whole batch at once
    assert decode_plan(WhisperSettings(encode_windows=4), "cpu").encode_windows == 4
    assert decode_plan(WhisperSettings(threads=3, decode_threads=None), "cpu").decode_threads == 3


def test_thread_and_sdpa_switches_are_restored() -> None:
    import torch
    from whisper.model import MultiHeadAttention

    before_threads, before_sdpa = torch.get_num_threads(), MultiHeadAttention.use_sdpa
    target = 2 if before_threads == 1 else 1
    with torch_threads(target), sdpa_enabled(not before_sdpa):
        assert torch.get_num_threads() == target
        assert MultiHeadAttention.use_sdpa is (not before_sdpa)
    assert torch.get_num_threads() == before_threads
    assert MultiHeadAttention.use_sdpa is before_sdpa
    with torch_threads(None):
        assert torch.get_num_threads() == before_threads


# ---- mel batches --------------------------------------------------------------------------------


def test_window_mels_match_whisper_per_window() -> None:
    import torch
    import whisper

    chunks = [synthetic_clip(2.0, seed=1), synthetic_clip(31.0, seed=2), np.zeros(0, np.float32)]
    got = window_mels(chunks, 80, torch.device("cpu"))
    for row, chunk in zip(got, chunks, strict=True):
        audio = whisper.pad_or_trim(torch.from_numpy(np.ascontiguousarray(chunk, np.float32)))
        expected = whisper.log_mel_spectrogram(audio, 80)
        assert torch.equal(row, expected)


def test_encoding_a_window_at_a_time_matches_the_batch(fp32_model: Whisper) -> None:
    import torch

    mel = window_mels(_clips()[:3], fp32_model.dims.n_mels, fp32_model.device)
    with torch.no_grad():
        whole = encode(fp32_model, mel)
        for windows in (1, 2):
            assert torch.allclose(encode(fp32_model, mel, windows), whole, atol=1e-5)


# ---- the fast decoding loop ---------------------------------------------------------------------


@pytest.mark.parametrize("timestamps", [True, False])
@pytest.mark.parametrize("language", [None, "en"])
def test_fast_loop_gives_the_tokens_of_whisper_decode(
    fp32_model: Whisper, timestamps: bool, language: str | None
) -> None:
    import whisper

    options = decoding_options(
        WhisperSettings(sample_len=12, timestamps=timestamps), language=language, fp16=False
    )
    fast = decode_chunks(fp32_model, _clips(), options, DecodePlan(fast=True))
    mel = window_mels(_clips(), fp32_model.dims.n_mels, fp32_model.device)
    reference = whisper.decode(fp32_model, mel, options)
    assert _tokens(fast) == _tokens(reference)
    assert [r.language for r in fast] == [r.language for r in reference]
    for ours, theirs in zip(fast, reference, strict=True):
        assert ours.text == theirs.text
        assert ours.avg_logprob == pytest.approx(theirs.avg_logprob, abs=1e-4)
        assert ours.no_speech_prob == pytest.approx(theirs.no_speech_prob, abs=1e-5)


@pytest.mark.parametrize("timestamps", [True, False])
def test_dropping_finished_rows_keeps_every_rows_tokens(
    early_eot_model: Whisper, timestamps: bool
) -> None:
    import whisper

    options = decoding_options(
        WhisperSettings(sample_len=24, timestamps=timestamps), language=None, fp16=False
    )
    mel = window_mels(_clips(), early_eot_model.dims.n_mels, early_eot_model.device)
    reference = _tokens(whisper.decode(early_eot_model, mel, options))
    dropped = decode_chunks(early_eot_model, _clips(), options, DecodePlan(drop_finished=True))
    kept = decode_chunks(early_eot_model, _clips(), options, DecodePlan(drop_finished=False))
    assert _tokens(dropped) == reference
    assert _tokens(kept) == reference
    for a, b in zip(dropped, kept, strict=True):
        assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-5)


def test_early_stop_is_exercised(early_eot_model: Whisper) -> None:
    """The fixture really has rows that finish while others go on (else the test above is
    vacuous)."""
    options = decoding_options(WhisperSettings(sample_len=24), language=None, fp16=False)
    lengths = [len(t) for t in _tokens(decode_chunks(early_eot_model, _clips(), options))]
    assert min(lengths) < 24 == max(lengths)


def test_unsupported_options_fall_back_to_whisper_decode(fp32_model: Whisper) -> None:
    from whisper.decoding import DecodingOptions

    from company.speech.fast_decode import greedy_decode, supports

    options = DecodingOptions(temperature=0.5, sample_len=4, fp16=False, language="en")
    assert not supports(options)
    assert not supports(DecodingOptions(beam_size=2, fp16=False))
    results = decode_chunks(fp32_model, _clips()[:2], options)  # sampled by whisper.decode
    assert all(len(r.tokens) <= 4 for r in results)
    with pytest.raises(ValueError):
        greedy_decode(fp32_model, fp32_model.encoder(window_mels(_clips()[:1], 80, "cpu")), options)


# ---- int8 ---------------------------------------------------------------------------------------


def test_int8_linear_is_close_and_row_independent() -> None:
    import torch

    from company.speech.precision import _int8_linear_class

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 96)
    quantized = _int8_linear_class()(linear)
    x = torch.randn(5, 3, 64)
    expected = linear(x)
    got = quantized(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()
    # int8 products are summed exactly in int32 and scaled per row: a row alone gives the same
    # bits as inside a batch (what keeps batched decoding equal to one-by-one decoding)
    assert torch.equal(quantized(x[2:3]), got[2:3])
    assert torch.equal(quantized(x.reshape(15, 64))[4], got.reshape(15, 96)[4])


def test_quantized_model_gives_the_tokens_of_the_fp32_model(fp32_model: Whisper) -> None:
    from company.speech.precision import quantize_int8

    quantized = copy.deepcopy(fp32_model)
    replaced = quantize_int8(quantized)
    assert replaced == 4 * (DIMS["tiny"]["n_audio_layer"] + 2 * DIMS["tiny"]["n_text_layer"]) + (
        2 * (DIMS["tiny"]["n_audio_layer"] + DIMS["tiny"]["n_text_layer"])
    )  # q, k, v, out per attention; two MLP linears per block
    options = decoding_options(WhisperSettings(sample_len=4), language=None, fp16=False)
    expected = decode_chunks(fp32_model, _clips(), options)
    got = decode_chunks(quantized, _clips(), options)
    assert _tokens(got) == _tokens(expected)
    assert [r.language for r in got] == [r.language for r in expected]


def test_auto_quantizes_wide_models_only(whisper_checkpoint: Path) -> None:
    from company.speech.precision import quantization_available, worth_quantizing

    assert quantization_available()
    worker = ModelWorker(WhisperSettings(model=str(whisper_checkpoint), device="cpu"))
    model = worker._ensure_model()
    assert not worth_quantizing(model)  # 64 wide: int8 would cost too much accuracy
    assert not worker.quantized
    forced = ModelWorker(
        WhisperSettings(model=str(whisper_checkpoint), device="cpu", cpu_quantize="int8")
    )
    forced._ensure_model()
    assert forced.quantized


async def test_int8_service_batches_give_the_tokens_of_one_by_one(
    whisper_checkpoint: Path,
) -> None:
    settings = WhisperSettings(
        model=str(whisper_checkpoint),
        device="cpu",
        sample_len=8,
        batch_size=8,
        batch_wait_ms=100,
        threads=1,
        cpu_quantize="int8",
    )
    service = WhisperService(settings)
    try:
        clips = _clips()[:4]
        alone = [await service.transcribe(clip) for clip in clips]
        together = await asyncio.gather(*(service.transcribe(clip) for clip in clips))
        assert service.stats.max_batch > 1
        assert [[w.tokens for w in r.windows] for r in together] == [
            [w.tokens for w in r.windows] for r in alone
        ]
    finally:
        service.close()


# ---- GPU paths, run on the CPU ------------------------------------------------------------------


def test_batch_size_from_free_memory() -> None:
    per_window = 100 * 2**20
    assert choose_batch_size(10 * 2**30, per_window, fraction=0.8, limit=32) == 32
    assert choose_batch_size(1 * 2**30, per_window, fraction=0.8, limit=32) == 8
    assert choose_batch_size(50 * 2**20, per_window, fraction=0.8, limit=32) == 1  # at least one
    assert choose_batch_size(0, per_window, fraction=0.5, limit=4) == 1


def test_window_estimate_grows_with_the_model_and_shrinks_with_fp16() -> None:
    from whisper.model import ModelDimensions

    base = ModelDimensions(**DIMS["base-like"])
    turbo = ModelDimensions(**DIMS["turbo-like"])
    assert window_bytes(turbo, fp16=True) > window_bytes(base, fp16=True)
    assert window_bytes(turbo, fp16=True) < window_bytes(turbo, fp16=False)
    assert 50 * 2**20 < window_bytes(turbo, fp16=True) < 2 * 2**30  # hundreds of MiB


def test_worker_picks_the_gpu_batch_size_from_faked_free_memory(
    fp32_model: Whisper, whisper_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    free = 3 * 2**30
    seen: list[object] = []

    def fake_mem_get_info(device: object = None) -> tuple[int, int]:
        seen.append(device)
        return free, 80 * 2**30

    monkeypatch.setattr(torch.cuda, "mem_get_info", fake_mem_get_info)
    settings = WhisperSettings(
        model=str(whisper_checkpoint), device="cuda", batch_size=64, gpu_memory_fraction=0.5
    )
    worker = ModelWorker(settings)
    worker._fp16 = True
    model = copy.deepcopy(fp32_model)
    worker._prepare(model, "cuda:0")
    expected = int(free * 0.5) // window_bytes(model.dims, fp16=True)
    assert worker.batch_size == min(64, expected) and 1 <= worker.batch_size <= 64
    assert seen == [torch.device("cuda:0")]
    assert not worker.quantized  # int8 is for the CPU only
    no_auto = ModelWorker(settings.model_copy(update={"gpu_batch_auto": False}))
    no_auto._prepare(copy.deepcopy(fp32_model), "cuda:0")
    assert no_auto.batch_size == 64


async def test_out_of_memory_halves_the_batch_and_still_answers(
    whisper_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from company.speech import decoding

    original = decoding.decode_chunks
    sizes: list[int] = []

    def tight_memory(model: Whisper, chunks: list[np.ndarray], *args: object) -> object:
        sizes.append(len(chunks))
        if len(chunks) > 2:
            raise torch.OutOfMemoryError("fake: CUDA out of memory")
        return original(model, chunks, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(decoding, "decode_chunks", tight_memory)
    settings = WhisperSettings(
        model=str(whisper_checkpoint), device="cpu", sample_len=4, batch_wait_ms=200, threads=1
    )
    service = WhisperService(settings)
    try:
        clips = _clips()[:5]
        results = await asyncio.gather(*(service.transcribe(clip) for clip in clips))
        assert all(len(r.windows) == 1 and len(r.windows[0].tokens) == 4 for r in results)
        assert sizes[0] == 5 and max(sizes[1:]) <= 2  # split, then later batches stay small
        assert service._worker.batch_size == 2
        alone = await service.transcribe(clips[3])
        assert alone.windows[0].tokens == results[3].windows[0].tokens
    finally:
        service.close()


def test_fp16_weights_decode_on_the_half_path(fp32_model: Whisper) -> None:
    """The CUDA path (weights cast once to fp16, fp16 features) runs, here on the CPU."""
    import torch
    from whisper.model import LayerNorm

    from company.speech.precision import half_weights

    model = copy.deepcopy(fp32_model)
    half_weights(model)
    assert model.decoder.token_embedding.weight.dtype == torch.float16
    assert model.encoder.conv1.weight.dtype == torch.float16
    norms = [m for m in model.modules() if isinstance(m, LayerNorm)]
    assert norms and all(m.weight.dtype == torch.float32 for m in norms)
    options = decoding_options(WhisperSettings(sample_len=6), language=None, fp16=True)
    results = decode_chunks(model, _clips()[:3], options)
    assert [len(r.tokens) for r in results] == [6, 6, 6]
    assert all(np.isfinite(r.avg_logprob) for r in results)


# ---- real weights -------------------------------------------------------------------------------


@pytest.mark.real_model
@pytest.mark.slow
async def test_int8_base_transcribes_like_fp32(tmp_path: Path) -> None:
    from company.speech import decode_audio
    from company.speech.synth import speak_to_wav
    from company.speech.wer import normalize_words

    phrases = [
        "What is six times seven?",
        "Please send the report to the team by Friday.",
        "Turn off the lights in the kitchen.",
    ]
    clips = [
        decode_audio(speak_to_wav(text, tmp_path / f"{i}.wav")) for i, text in enumerate(phrases)
    ]
    checkpoint = str(require_model("base"))
    texts = {}
    for mode in ("off", "int8"):
        service = WhisperService(
            WhisperSettings(model=checkpoint, device="cpu", threads=1, cpu_quantize=mode)
        )
        try:
            results = await asyncio.gather(*(service.transcribe(clip) for clip in clips))
            assert service._worker.quantized is (mode == "int8")
        finally:
            service.close()
        texts[mode] = [normalize_words(r.text) for r in results]
    assert texts["int8"] == texts["off"]
