"""Voice activity: Silero VAD (the ONNX model the ``silero-vad`` package ships, run with
onnxruntime) or a plain energy threshold; a speech probability per 32 ms frame."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

FRAME = 512
"""Samples per VAD frame at 16 kHz (32 ms), what Silero VAD takes."""
_CONTEXT = 64


class VadUnavailable(RuntimeError):
    """The ``silero-vad`` package (or onnxruntime) is not installed."""


class VadStream(Protocol):
    """One session's detector: samples in, a speech probability per whole frame out."""

    def feed(self, samples: np.ndarray) -> list[float]:
        """Probabilities of the frames completed by ``samples`` (float32, 16 kHz)."""
        ...


def silero_model_path() -> Path:
    """The ONNX model inside the installed ``silero-vad`` package (found without importing it:
    its ``__init__`` imports torch and sets torch's thread count for the whole process)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadUnavailable("the silero-vad package is not installed (pip install silero-vad), "
                             "or set realtime.vad: energy")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise VadUnavailable(f"silero-vad has no model at {path}")
    return path


class SileroModel:
    """The shared ONNX session (one per process; ``run`` is thread-safe)."""

    _lock = threading.Lock()
    _shared: SileroModel | None = None

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise VadUnavailable("Silero VAD needs onnxruntime (pip install onnxruntime)") from exc
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"])

    @classmethod
    def shared(cls) -> SileroModel:
        """The process-wide model, loaded on first use."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(silero_model_path())
            return cls._shared

    def run(self, frame: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """Speech probability of one frame (with its 64 samples of context) and the new state."""
        out, new_state = self.session.run(None, {
            "input": frame[None, :].astype(np.float32), "state": state,
            "sr": np.array(16_000, dtype=np.int64)})
        return float(np.asarray(out).reshape(-1)[0]), new_state


class SileroStream:
    """Silero VAD over one session's audio."""

    def __init__(self, model: SileroModel) -> None:
        self.model = model
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, samples: np.ndarray) -> list[float]:
        """Probabilities of the whole frames now available."""
        data = np.concatenate([self._pending, samples.astype(np.float32)])
        whole = data.size // FRAME * FRAME
        probs: list[float] = []
        for start in range(0, whole, FRAME):
            frame = data[start:start + FRAME]
            prob, self._state = self.model.run(np.concatenate([self._context, frame]),
                                               self._state)
            self._context = frame[-_CONTEXT:]
            probs.append(prob)
        self._pending = data[whole:]
        return probs


class EnergyStream:
    """RMS per frame mapped to 0/1 against a threshold (no model; for machines without one)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, samples: np.ndarray) -> list[float]:
        """1.0 for frames louder than the threshold, else 0.0."""
        data = np.concatenate([self._pending, samples.astype(np.float32)])
        whole = data.size // FRAME * FRAME
        frames = data[:whole].reshape(-1, FRAME)
        self._pending = data[whole:]
        rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) if whole else []
        return [1.0 if value >= self.threshold else 0.0 for value in rms]


def make_vad(kind: str, *, energy_threshold: float = 0.02) -> VadStream:
    """A detector for one session (``silero`` loads the shared model on first use)."""
    if kind == "energy":
        return EnergyStream(energy_threshold)
    return SileroStream(SileroModel.shared())


def warm(kind: str) -> Any:
    """Load the shared model now (e.g. at the first session) so errors show early."""
    return SileroModel.shared() if kind == "silero" else None
