"""Helpers for tests and benchmarks: random-weights Whisper checkpoints, synthetic audio.

The checkpoints are in Whisper's own file format and load through ``whisper.load_model(path)``
like a real one; their transcripts are noise, but the compute (and so batching behaviour and
timing) is that of a real model of the same size. No weights need to be downloaded.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from whisper.model import Whisper

DimsName = Literal["tiny", "base-like", "turbo-like"]

DIMS: dict[str, dict[str, int]] = {
    # A toy model: fast enough for unit tests on a CPU.
    "tiny": dict(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
        n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1,
    ),
    # The dimensions of the real "base" model (74 M parameters).
    "base-like": dict(
        n_mels=80, n_audio_ctx=1500, n_audio_state=512, n_audio_head=8, n_audio_layer=6,
        n_vocab=51865, n_text_ctx=448, n_text_state=512, n_text_head=8, n_text_layer=6,
    ),
    # The dimensions of the real "large-v3-turbo" model (809 M parameters, 1.6 GB in fp16).
    "turbo-like": dict(
        n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32,
        n_vocab=51866, n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=4,
    ),
}  # fmt: skip


def build_random_checkpoint(
    path: str | os.PathLike[str],
    dims: DimsName = "tiny",
    *,
    seed: int = 0,
    audio_sensitive: bool = True,
) -> Path:
    """Write a random-weights checkpoint with ``dims`` to ``path`` (deterministic for ``seed``).

    Whisper leaves ``decoder.positional_embedding`` uninitialised (``torch.empty``); it is filled
    here so that the model is deterministic and free of NaNs. With PyTorch's default init the
    decoder ignores the audio (cross-attention is near-uniform, token embeddings dominate) and
    every clip gives the same tokens; ``audio_sensitive`` rescales a few weights so that
    different audio gives different tokens and languages, which makes equality tests meaningful.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    model_dims = ModelDimensions(**DIMS[dims])
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = Whisper(model_dims)
        with torch.no_grad():
            model.decoder.positional_embedding.normal_(0.0, 0.02)
            if audio_sensitive:
                _make_audio_sensitive(model)
    finally:
        torch.random.set_rng_state(generator_state)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(model_dims), "model_state_dict": model.state_dict()}, target)
    return target


def _make_audio_sensitive(model: Whisper) -> None:
    """Rescale weights so the audio, not the token embeddings, drives the decoder's choices."""
    model.decoder.token_embedding.weight.normal_(0.0, 0.1)
    model.encoder.conv1.weight.mul_(8.0)
    model.encoder.conv2.weight.mul_(8.0)
    for block in model.decoder.blocks:
        assert block.cross_attn is not None
        block.cross_attn.query.weight.mul_(4.0)
        block.cross_attn.key.weight.mul_(4.0)
        block.cross_attn.out.weight.mul_(4.0)


def synthetic_clip(seconds: float, *, seed: int = 0, rate: int = 16_000) -> np.ndarray:
    """Speech-like test audio: tones, chirps and noise bursts of 0.2-0.8 s with short pauses."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    out = np.zeros(n, dtype=np.float64)
    pos = int(0.1 * rate)
    while pos < n:
        length = min(int(rng.uniform(0.2, 0.8) * rate), n - pos)
        t = np.arange(length) / rate
        kind = rng.integers(3)
        if kind == 0:
            burst = np.sin(2 * np.pi * rng.uniform(150, 1200) * t)
        elif kind == 1:
            f0, f1 = rng.uniform(100, 2000, size=2)
            burst = np.sin(2 * np.pi * (f0 + (f1 - f0) * t / (2 * t[-1] + 1e-9)) * t)
        else:
            burst = rng.standard_normal(length) * 0.5
        fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
        out[pos : pos + length] = rng.uniform(0.1, 0.4) * burst * fade
        pos += length + int(rng.uniform(0.05, 0.4) * rate)
    return out.astype(np.float32)
