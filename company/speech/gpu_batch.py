"""How many 30 s windows fit in one batch on a GPU: a per-model memory estimate per window."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whisper.model import ModelDimensions

SAMPLES_PER_WINDOW = 480_000
MEL_FRAMES = 3_000
SAFETY = 1.5
"""Headroom for allocator fragmentation and temporaries the estimate does not name."""


def window_bytes(dims: ModelDimensions, *, fp16: bool) -> int:
    """Estimated GPU bytes one window needs during a batch (weights not included).

    Counts the audio and mel, the encoder's largest live activations (residual stream, q/k/v,
    the 4x MLP hidden, one layer's attention scores in case the fused kernel is not used), the
    decoder's cross-attention keys/values for every layer, a full self-attention cache and the
    logits, times ``SAFETY``.
    """
    width = 2 if fp16 else 4
    audio = (SAMPLES_PER_WINDOW + dims.n_mels * MEL_FRAMES) * 4 * 2
    conv = MEL_FRAMES * dims.n_audio_state * width * 2
    encoder = dims.n_audio_ctx * dims.n_audio_state * width * 10
    scores = dims.n_audio_head * dims.n_audio_ctx * dims.n_audio_ctx * width
    cross = 2 * dims.n_text_layer * dims.n_audio_ctx * dims.n_text_state * width
    self_cache = 2 * dims.n_text_layer * dims.n_text_ctx * dims.n_text_state * width
    logits = dims.n_vocab * 4 * 4
    total = audio + conv + encoder + scores + cross + self_cache + logits
    return int(total * SAFETY)


def choose_batch_size(free_bytes: int, per_window: int, *, fraction: float, limit: int) -> int:
    """The most windows (1 to ``limit``) whose estimate fits in ``fraction`` of ``free_bytes``."""
    if per_window <= 0:
        return limit
    fits = int(free_bytes * fraction) // per_window
    return max(1, min(limit, fits))


def gpu_batch_size(
    dims: ModelDimensions, device: str, *, fp16: bool, fraction: float, limit: int
) -> int:
    """``choose_batch_size`` from the free memory of CUDA ``device`` (after the model loaded)."""
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return choose_batch_size(free, window_bytes(dims, fp16=fp16), fraction=fraction, limit=limit)
