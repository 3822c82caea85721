"""Convert a CTranslate2 (faster-whisper) Whisper folder into an openai-whisper checkpoint.

The folder holds ``model.bin`` (CTranslate2 binary version 6) and ``config.json``; the result is
``torch.save({"dims": ..., "model_state_dict": ...})``, which ``whisper.load_model(path)`` loads.
float16 weights stay float16 (as in the official checkpoints); int8/int16 weights are
dequantized with their ``weight_scale``. torch and whisper are imported only when converting.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

BINARY_VERSION = 6
SPEC_NAME = "WhisperSpec"

# CTranslate2 dtype codes -> numpy dtypes (5, bfloat16, is read as raw uint16 and widened).
DTYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),
}
BFLOAT16 = 5

# Per-layer names, CTranslate2 suffix -> openai-whisper suffix (weight and bias both mapped).
_LINEARS = {
    "self_attention/linear_1": "attn.out",
    "ffn/linear_0": "mlp.0",
    "ffn/linear_1": "mlp.2",
}
_NORMS = {
    "self_attention/layer_norm": "attn_ln",
    "ffn/layer_norm": "mlp_ln",
}
_CROSS_LINEARS = {"attention/linear_0": "cross_attn.query", "attention/linear_2": "cross_attn.out"}
_CROSS_NORMS = {"attention/layer_norm": "cross_attn_ln"}
_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/")


class ConversionError(ValueError):
    """A CTranslate2 folder cannot be converted; the message names the file and the variable."""


@dataclass
class Ct2Model:
    """The parsed contents of a CTranslate2 ``model.bin``."""

    path: Path
    spec: str
    revision: int
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray | None:
        """The variable ``name`` (following an alias), or None when absent."""
        return self.variables.get(self.aliases.get(name, name))

    def require(self, name: str) -> np.ndarray:
        """The variable ``name``; ``ConversionError`` when the file lacks it."""
        value = self.get(name)
        if value is None:
            raise ConversionError(f"{self.path}: variable '{name}' is missing")
        return value


class _Reader:
    """Little-endian cursor over the bytes of a model.bin, with truncation checks."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.offset = 0

    def take(self, size: int, what: str) -> int:
        """Advance by ``size`` bytes and return the old offset."""
        start = self.offset
        if start + size > len(self.data):
            raise ConversionError(f"{self.path}: file is truncated while reading {what}")
        self.offset += size
        return start

    def scalar(self, fmt: str, what: str) -> int:
        """One unsigned integer of struct format ``fmt``."""
        start = self.take(struct.calcsize(fmt), what)
        return int(struct.unpack_from("<" + fmt, self.data, start)[0])

    def string(self, what: str) -> str:
        """A u16-length string whose last byte is NUL."""
        size = self.scalar("H", what)
        start = self.take(size, what)
        raw = self.data[start : start + size]
        try:
            return raw.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConversionError(f"{self.path}: {what} is not valid UTF-8") from exc


def read_ct2_model(path: Path) -> Ct2Model:
    """Parse a CTranslate2 ``model.bin`` (binary version 6); arrays are read-only views."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    reader = _Reader(data, path)
    version = reader.scalar("I", "the binary version")
    if version != BINARY_VERSION:
        raise ConversionError(
            f"{path}: CTranslate2 binary version {version} is not supported (only "
            f"{BINARY_VERSION}); re-export the model with a CTranslate2 4.x converter"
        )
    model = Ct2Model(
        path=path,
        spec=reader.string("the spec name"),
        revision=reader.scalar("I", "the spec revision"),
    )
    count = reader.scalar("I", "the variable count")
    for index in range(count):
        name = reader.string(f"the name of variable #{index}")
        rank = reader.scalar("B", f"the rank of '{name}'")
        shape = tuple(reader.scalar("I", f"the shape of '{name}'") for _ in range(rank))
        code = reader.scalar("B", f"the dtype of '{name}'")
        if code not in DTYPES:
            raise ConversionError(f"{path}: variable '{name}' has unknown dtype code {code}")
        dtype = DTYPES[code]
        size = reader.scalar("I", f"the byte count of '{name}'")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size != expected:
            raise ConversionError(
                f"{path}: variable '{name}' has {size} bytes, but shape {list(shape)} of "
                f"dtype code {code} needs {expected}"
            )
        start = reader.take(size, f"the data of '{name}'")
        array = np.frombuffer(data, dtype=dtype, count=size // dtype.itemsize, offset=start)
        if code == BFLOAT16:  # the high half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        model.variables[name] = array.reshape(shape)
    if reader.offset < len(data):
        alias_count = reader.scalar("I", "the alias count")
        for index in range(alias_count):
            alias = reader.string(f"alias #{index}")
            model.aliases[alias] = reader.string(f"the target of alias '{alias}'")
    return model


def convert_ct2_whisper(src_dir: Path, dest: Path) -> dict[str, int]:
    """Convert the CTranslate2 Whisper folder ``src_dir`` into the checkpoint ``dest``.

    Writes ``<dest>.part``, checks that ``whisper.load_model`` loads it to the same tensors, then
    renames it to ``dest``. Returns the ``ModelDimensions`` as a dict.
    """
    import torch

    src_dir = Path(src_dir)
    dest = Path(dest)
    model_file, config_file = src_dir / "model.bin", src_dir / "config.json"
    for required in (model_file, config_file):
        if not required.is_file():
            raise ConversionError(
                f"{src_dir}: not a CTranslate2 model folder ({required.name} is missing)"
            )
    config = _read_config(config_file)
    model = read_ct2_model(model_file)
    if model.spec != SPEC_NAME:
        raise ConversionError(
            f"{model_file}: spec '{model.spec}' is not '{SPEC_NAME}'; only Whisper models convert"
        )
    dims = whisper_dims(model)
    state = whisper_state_dict(model, dims)
    checkpoint: dict[str, Any] = {"dims": dims, "model_state_dict": state}
    if "alignment_heads" in config:  # kept for reference; load_model does not read it
        checkpoint["alignment_heads"] = _alignment_heads(config["alignment_heads"], config_file)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")  # never dest itself, even if dest ends in .part
    try:
        torch.save(checkpoint, part)
        _verify_loads(part, state)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dims


def whisper_dims(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's ``ModelDimensions`` (as a dict) derived from the variables' shapes."""
    conv1 = _ranked(model, "encoder/conv1/weight", 3)
    embeddings = _ranked(model, "decoder/embeddings/weight", 2)
    audio_positions = _ranked(model, "encoder/position_encodings/encodings", 2)
    text_positions = _ranked(model, "decoder/position_encodings/encodings", 2)
    layers = {"encoder": set(), "decoder": set()}
    for name in model.variables:
        match = _LAYER.match(name)
        if match:
            layers[match.group(1)].add(int(match.group(2)))
    for side, indices in layers.items():
        if not indices:
            raise ConversionError(f"{model.path}: no '{side}/layer_N/...' variables")
        missing = sorted(set(range(max(indices) + 1)) - indices)
        if missing:
            raise ConversionError(f"{model.path}: variables of '{side}/layer_{missing[0]}' missing")
    audio_state, text_state = int(conv1.shape[0]), int(embeddings.shape[1])
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_positions.shape[0]),
        "n_audio_state": audio_state,
        "n_audio_head": _heads(model, "encoder", audio_state),
        "n_audio_layer": len(layers["encoder"]),
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(text_positions.shape[0]),
        "n_text_state": text_state,
        "n_text_head": _heads(model, "decoder", text_state),
        "n_text_layer": len(layers["decoder"]),
    }


def whisper_state_dict(model: Ct2Model, dims: dict[str, int]) -> dict[str, torch.Tensor]:
    """Map the CTranslate2 variables onto openai-whisper's state-dict names (fused QKV split).

    Every non-scalar variable must be used; the fused key biases are dropped (a key bias adds
    the same amount to every attention logit of a query, so softmax ignores it).
    """
    out = _StateBuilder(model)
    out.tensor("encoder.positional_embedding", "encoder/position_encodings/encodings")
    for conv in ("conv1", "conv2"):
        out.linear(f"encoder.{conv}", f"encoder/{conv}")
    out.norm("encoder.ln_post", "encoder/layer_norm")
    for i in range(dims["n_audio_layer"]):
        _layer(out, f"encoder/layer_{i}", f"encoder.blocks.{i}", dims["n_audio_state"])
    out.tensor("decoder.token_embedding.weight", "decoder/embeddings/weight")
    out.tensor("decoder.positional_embedding", "decoder/position_encodings/encodings")
    out.norm("decoder.ln", "decoder/layer_norm")
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _layer(out, src, dst, dims["n_text_state"])
        for ct2, name in _CROSS_LINEARS.items():
            out.linear(f"{dst}.{name}", f"{src}/{ct2}")
        for ct2, name in _CROSS_NORMS.items():
            out.norm(f"{dst}.{name}", f"{src}/{ct2}")
        out.fused(
            f"{src}/attention/linear_1",
            [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"],
            dims["n_text_state"],
            biased=[False, True],
        )
    projection = model.get("decoder/projection/weight")
    if projection is not None and "decoder/projection/weight" not in model.aliases:
        out.used.add("decoder/projection/weight")
        if not np.array_equal(projection, model.require("decoder/embeddings/weight")):
            raise ConversionError(
                f"{model.path}: 'decoder/projection/weight' differs from the token embeddings; "
                "openai-whisper ties them, so this model cannot be converted"
            )
    unused = sorted(
        name for name, value in model.variables.items() if value.ndim > 0 and name not in out.used
    )
    if unused:
        raise ConversionError(
            f"{model.path}: variable '{unused[0]}' has no openai-whisper counterpart "
            f"({len(unused)} unmapped); not a Whisper layout this converter knows"
        )
    state = out.finish()
    _check_against_whisper(state, dims, model.path, out.origin)
    return state


def _layer(out: _StateBuilder, src: str, dst: str, state: int) -> None:
    """The self-attention and feed-forward parts shared by encoder and decoder layers."""
    out.fused(
        f"{src}/self_attention/linear_0",
        [f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"],
        state,
        biased=[True, False, True],
    )
    for ct2, name in _LINEARS.items():
        out.linear(f"{dst}.{name}", f"{src}/{ct2}")
    for ct2, name in _NORMS.items():
        out.norm(f"{dst}.{name}", f"{src}/{ct2}")


class _StateBuilder:
    """Collects numpy arrays under openai-whisper names and remembers their CTranslate2 origin."""

    def __init__(self, model: Ct2Model) -> None:
        self.model = model
        self.arrays: dict[str, np.ndarray] = {}
        self.origin: dict[str, str] = {}
        self.used: set[str] = set()

    def weight(self, name: str) -> np.ndarray:
        """A float array of ``name``, dequantized with ``name_scale`` when it is an integer."""
        value = self.model.require(name)
        self.used.add(self.model.aliases.get(name, name))
        if value.dtype.kind == "f":
            return value
        scale_name = f"{name}_scale"
        scale = self.model.get(scale_name)
        if scale is None:
            raise ConversionError(
                f"{self.model.path}: variable '{name}' is {value.dtype} but '{scale_name}' is "
                "missing; only float16/float32 or int8/int16 models with scales convert"
            )
        self.used.add(scale_name)
        scale = scale.astype(np.float32)
        if scale.size not in (1, value.shape[0]):
            raise ConversionError(
                f"{self.model.path}: '{scale_name}' has shape {list(scale.shape)}, which does "
                f"not fit '{name}' of shape {list(value.shape)}"
            )
        scale = scale.reshape((-1,) + (1,) * (value.ndim - 1)) if scale.size > 1 else scale
        return value.astype(np.float32) / scale

    def tensor(self, key: str, name: str) -> None:
        """Store variable ``name`` as ``key``."""
        self.arrays[key] = self.weight(name)
        self.origin[key] = name

    def linear(self, key: str, name: str) -> None:
        """A weight and its bias."""
        self.tensor(f"{key}.weight", f"{name}/weight")
        self.tensor(f"{key}.bias", f"{name}/bias")

    def norm(self, key: str, name: str) -> None:
        """A layer norm: gamma is the weight, beta the bias."""
        self.tensor(f"{key}.weight", f"{name}/gamma")
        self.tensor(f"{key}.bias", f"{name}/beta")

    def fused(self, name: str, keys: list[str], state: int, *, biased: list[bool]) -> None:
        """Split a projection fused along the output axis into ``len(keys)`` linears."""
        weight, bias = self.weight(f"{name}/weight"), self.weight(f"{name}/bias")
        rows = state * len(keys)
        if weight.shape != (rows, state) or bias.shape != (rows,):
            raise ConversionError(
                f"{self.model.path}: '{name}' has weight {list(weight.shape)} and bias "
                f"{list(bias.shape)}; expected [{rows}, {state}] and [{rows}] "
                f"({len(keys)} fused projections of width {state})"
            )
        for part, (key, has_bias) in enumerate(zip(keys, biased, strict=True)):
            rows_of_part = slice(part * state, (part + 1) * state)
            self.arrays[f"{key}.weight"] = weight[rows_of_part]
            self.origin[f"{key}.weight"] = f"{name}/weight"
            if has_bias:
                self.arrays[f"{key}.bias"] = bias[rows_of_part]
                self.origin[f"{key}.bias"] = f"{name}/bias"

    def finish(self) -> dict[str, torch.Tensor]:
        """Torch tensors, each with its own storage: float16 if all floats were, else float32."""
        import torch

        half = all(
            value.dtype == np.float16
            for name, value in self.model.variables.items()
            if value.dtype.kind == "f" and value.ndim > 0 and not name.endswith("_scale")
        )
        dtype = np.float16 if half else np.float32
        return {
            key: torch.from_numpy(np.array(value, dtype=dtype, order="C"))
            for key, value in self.arrays.items()
        }


def _check_against_whisper(
    state: dict[str, torch.Tensor], dims: dict[str, int], model_file: Path, origin: dict[str, str]
) -> None:
    """Compare keys and shapes with those of an openai-whisper model of ``dims``."""
    from whisper.model import ModelDimensions, Whisper

    reference = Whisper(ModelDimensions(**dims)).state_dict()
    expected = {key: tuple(value.shape) for key, value in reference.items()}
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ConversionError(f"{model_file}: nothing maps to openai-whisper's '{missing[0]}'")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ConversionError(f"{model_file}: '{unexpected[0]}' is not an openai-whisper name")
    for key, shape in expected.items():
        got = tuple(state[key].shape)
        if got != shape:
            raise ConversionError(
                f"{model_file}: variable '{origin.get(key, key)}' gives '{key}' the shape "
                f"{list(got)}, but openai-whisper expects {list(shape)}"
            )


def _verify_loads(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Load ``path`` with ``whisper.load_model`` on CPU; its state dict must equal ``state``."""
    import torch
    import whisper

    try:
        loaded = whisper.load_model(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure means the file is unusable
        raise ConversionError(f"{path}: whisper.load_model cannot load the result: {exc}") from exc
    loaded_state = loaded.state_dict()
    if set(loaded_state) != set(state):
        raise ConversionError(f"{path}: the loaded model's state-dict keys differ")
    for key, value in state.items():
        if not torch.equal(loaded_state[key], value.to(loaded_state[key].dtype)):
            raise ConversionError(f"{path}: '{key}' changed when loaded")


def _read_config(path: Path) -> dict[str, Any]:
    """config.json as a dict."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ConversionError(f"{path}: expected a JSON object")
    return config


def _alignment_heads(value: Any, path: Path) -> list[list[int]]:
    """config.json's ``alignment_heads``: a list of [layer, head] pairs."""
    try:
        return [[int(layer), int(head)] for layer, head in value]
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{path}: 'alignment_heads' is not a list of [layer, head]") from exc


def _ranked(model: Ct2Model, name: str, rank: int) -> np.ndarray:
    """Variable ``name``, which must have ``rank`` dimensions."""
    value = model.require(name)
    if value.ndim != rank:
        raise ConversionError(
            f"{model.path}: variable '{name}' has shape {list(value.shape)}, expected rank {rank}"
        )
    return value


def _heads(model: Ct2Model, side: str, state: int) -> int:
    """Attention heads of ``side``: ``side/num_heads`` when present, else state / 64."""
    value = model.get(f"{side}/num_heads")
    heads = int(value.reshape(-1)[0]) if value is not None and value.size == 1 else state // 64
    if heads <= 0 or state % heads:
        raise ConversionError(
            f"{model.path}: '{side}/num_heads' is {heads}, which does not divide the width {state}"
        )
    return heads
