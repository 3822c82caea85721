"""CTranslate2 → openai-whisper conversion: round trips through a test-side model.bin writer."""

from __future__ import annotations

import json
import struct
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from company.models.ct2_whisper import ConversionError, convert_ct2_whisper, read_ct2_model

if TYPE_CHECKING:
    import torch
    from whisper.model import Whisper

DIMS = dict(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
)  # fmt: skip
CODES = {np.dtype("<f4"): 0, np.dtype("i1"): 1, np.dtype("<i2"): 2, np.dtype("<i4"): 3}
CODES[np.dtype("<f2")] = 4
ALIGNMENT_HEADS = [[1, 0], [1, 1]]


# ---- a test-side writer of CTranslate2's model.bin (binary version 6) ------------------------


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_model_bin(
    path: Path,
    variables: dict[str, np.ndarray],
    *,
    aliases: dict[str, str] | None = None,
    version: int = 6,
    spec: str = "WhisperSpec",
) -> Path:
    """Write ``variables`` in CTranslate2's layout (u32 version, spec, revision, variables, ...)."""
    parts = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3)]
    parts.append(struct.pack("<I", len(variables)))
    for name, value in variables.items():
        value = np.array(value, order="C")  # (ascontiguousarray would make scalars 1-d)
        parts += [_string(name), struct.pack("<B", value.ndim)]
        parts += [struct.pack("<I", size) for size in value.shape]
        parts += [struct.pack("<BI", CODES[value.dtype], value.nbytes), value.tobytes()]
    parts.append(struct.pack("<I", len(aliases or {})))
    for alias, target in (aliases or {}).items():
        parts += [_string(alias), _string(target)]
    path.write_bytes(b"".join(parts))
    return path


def ct2_variables(state: dict[str, torch.Tensor], dims: dict[str, int]) -> dict[str, np.ndarray]:
    """openai-whisper's state dict in CTranslate2's names (fused QKV, zero key biases), float32."""
    s = {key: value.float().numpy() for key, value in state.items()}
    out: dict[str, np.ndarray] = {}

    def linear(ct2: str, key: str) -> None:
        out[f"{ct2}/weight"], out[f"{ct2}/bias"] = s[f"{key}.weight"], s[f"{key}.bias"]

    def norm(ct2: str, key: str) -> None:
        out[f"{ct2}/gamma"], out[f"{ct2}/beta"] = s[f"{key}.weight"], s[f"{key}.bias"]

    def fused(ct2: str, keys: list[str]) -> None:
        out[f"{ct2}/weight"] = np.concatenate([s[f"{key}.weight"] for key in keys])
        zeros = np.zeros(s[f"{keys[-1]}.bias"].shape, np.float32)
        out[f"{ct2}/bias"] = np.concatenate([s.get(f"{key}.bias", zeros) for key in keys])

    def layer(ct2: str, key: str) -> None:
        fused(
            f"{ct2}/self_attention/linear_0", [f"{key}.attn.{p}" for p in ("query", "key", "value")]
        )
        linear(f"{ct2}/self_attention/linear_1", f"{key}.attn.out")
        norm(f"{ct2}/self_attention/layer_norm", f"{key}.attn_ln")
        linear(f"{ct2}/ffn/linear_0", f"{key}.mlp.0")
        linear(f"{ct2}/ffn/linear_1", f"{key}.mlp.2")
        norm(f"{ct2}/ffn/layer_norm", f"{key}.mlp_ln")

    out["decoder/num_heads"] = np.array(dims["n_text_head"], dtype=np.int16)
    out["decoder/embeddings/weight"] = s["decoder.token_embedding.weight"]
    out["decoder/position_encodings/encodings"] = s["decoder.positional_embedding"]
    norm("decoder/layer_norm", "decoder.ln")
    for i in range(dims["n_text_layer"]):
        layer(f"decoder/layer_{i}", f"decoder.blocks.{i}")
        cross = f"decoder.blocks.{i}.cross_attn"
        linear(f"decoder/layer_{i}/attention/linear_0", f"{cross}.query")
        fused(f"decoder/layer_{i}/attention/linear_1", [f"{cross}.key", f"{cross}.value"])
        linear(f"decoder/layer_{i}/attention/linear_2", f"{cross}.out")
        norm(f"decoder/layer_{i}/attention/layer_norm", f"decoder.blocks.{i}.cross_attn_ln")
    out["decoder/pre_norm"] = np.array(1, dtype=np.int8)
    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    out["encoder/num_heads"] = np.array(dims["n_audio_head"], dtype=np.int16)
    out["encoder/position_encodings/encodings"] = s["encoder.positional_embedding"]
    norm("encoder/layer_norm", "encoder.ln_post")
    for i in range(dims["n_audio_layer"]):
        layer(f"encoder/layer_{i}", f"encoder.blocks.{i}")
    return out


def quantize_int8(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2-style int8: per-row scale 127 / max|row| on linear weights and embeddings."""
    out = dict(variables)
    for name, value in variables.items():
        if name.endswith("/weight") and value.ndim == 2:
            scale = (127.0 / np.abs(value).max(axis=1)).astype(np.float32)
            out[name] = np.round(value * scale[:, None]).astype(np.int8)
            out[f"{name}_scale"] = scale
    return out


def cast(variables: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """Float variables (not scales) cast to ``dtype``."""
    return {
        name: value.astype(dtype) if value.dtype.kind == "f" and "_scale" not in name else value
        for name, value in variables.items()
    }


def write_folder(folder: Path, variables: dict[str, np.ndarray], **kwargs: object) -> Path:
    """A CTranslate2 model folder: model.bin (tied projection alias) and config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("aliases", {"decoder/projection/weight": "decoder/embeddings/weight"})
    write_model_bin(folder / "model.bin", variables, **kwargs)  # type: ignore[arg-type]
    config = {"alignment_heads": ALIGNMENT_HEADS, "suppress_ids_begin": [220, 50257]}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_model() -> Whisper:
    """A random, audio-sensitive openai-whisper model with two layers on each side."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    from company.speech.testing import _make_audio_sensitive

    state = torch.random.get_rng_state()
    torch.manual_seed(7)
    try:
        model = Whisper(ModelDimensions(**DIMS))
        with torch.no_grad():
            model.decoder.positional_embedding.normal_(0.0, 0.02)
            _make_audio_sensitive(model)
    finally:
        torch.random.set_rng_state(state)
    return model.eval()


@pytest.fixture(scope="module")
def variables(source_model: Whisper) -> dict[str, np.ndarray]:
    """The source model's variables in CTranslate2 names, float32."""
    return ct2_variables(source_model.state_dict(), DIMS)


def _greedy_tokens(model: Whisper, seeds: tuple[int, ...] = (1, 2)) -> list[list[int]]:
    """Greedy tokens (8 per clip) of synthetic clips, decoded as one batch."""
    import torch
    import whisper

    from company.speech.testing import synthetic_clip

    mels = [
        whisper.log_mel_spectrogram(
            whisper.pad_or_trim(torch.from_numpy(synthetic_clip(6, seed=s)))
        )
        for s in seeds
    ]
    options = whisper.DecodingOptions(sample_len=8, fp16=False, temperature=0.0)
    return [list(r.tokens) for r in whisper.decode(model, torch.stack(mels), options)]


# ---- round trips -------------------------------------------------------------------------------


def test_float32_round_trip_is_exact(
    tmp_path: Path, source_model: Whisper, variables: dict[str, np.ndarray]
) -> None:
    import torch
    import whisper

    folder = write_folder(tmp_path / "ct2", variables)
    dest = tmp_path / "cache" / "whisper" / "random.pt"
    dims = convert_ct2_whisper(folder, dest)
    assert dims == DIMS
    assert dest.is_file() and not dest.with_name(dest.name + ".part").exists()
    checkpoint = torch.load(dest, weights_only=True)
    assert checkpoint["dims"] == DIMS
    assert checkpoint["alignment_heads"] == ALIGNMENT_HEADS
    expected = source_model.state_dict()
    state = checkpoint["model_state_dict"]
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert state[key].dtype == torch.float32, key
        assert torch.equal(state[key], value), key
    converted = whisper.load_model(str(dest), device="cpu")
    assert asdict(converted.dims) == DIMS
    tokens = _greedy_tokens(converted)
    assert tokens == _greedy_tokens(source_model)
    assert tokens[0] != tokens[1]  # the audio matters, so equal tokens mean something


def test_float16_stays_float16_and_decodes_like_the_rounded_model(
    tmp_path: Path, source_model: Whisper, variables: dict[str, np.ndarray]
) -> None:
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    folder = write_folder(tmp_path / "ct2", cast(variables, "float16"))
    dest = tmp_path / "random16.pt"
    convert_ct2_whisper(folder, dest)
    state = torch.load(dest, weights_only=True)["model_state_dict"]
    rounded = {key: value.half() for key, value in source_model.state_dict().items()}
    for key, value in rounded.items():
        assert state[key].dtype == torch.float16, key
        assert torch.equal(state[key], value), key
    reference = Whisper(ModelDimensions(**DIMS))
    reference.load_state_dict(rounded)
    converted = whisper.load_model(str(dest), device="cpu")
    assert _greedy_tokens(converted) == _greedy_tokens(reference.eval())


def test_int8_weights_are_dequantized_with_their_scales(
    tmp_path: Path, source_model: Whisper, variables: dict[str, np.ndarray]
) -> None:
    import torch

    quantized = quantize_int8(variables)
    folder = write_folder(tmp_path / "ct2", quantized)
    dest = tmp_path / "random8.pt.part"  # the model cache converts to its own temporary name
    convert_ct2_whisper(folder, dest)
    assert dest.is_file()
    state = torch.load(dest, weights_only=True)["model_state_dict"]
    original = source_model.state_dict()
    for key in ("decoder.token_embedding.weight", "encoder.blocks.1.mlp.0.weight"):
        step = original[key].abs().amax(dim=1, keepdim=True) / 127
        assert state[key].dtype == torch.float32
        assert torch.all((state[key] - original[key]).abs() <= step * 0.5 + 1e-6), key
    assert torch.equal(state["encoder.conv1.weight"], original["encoder.conv1.weight"])


def test_reader_parses_scalars_and_aliases(
    tmp_path: Path, variables: dict[str, np.ndarray]
) -> None:
    folder = write_folder(tmp_path / "ct2", variables)
    model = read_ct2_model(folder / "model.bin")
    assert (model.spec, model.revision) == ("WhisperSpec", 3)
    assert int(model.require("encoder/num_heads")) == 2
    assert model.require("decoder/projection/weight").shape == (51865, 64)


# ---- errors --------------------------------------------------------------------------------------


def _convert_error(folder: Path, tmp_path: Path) -> str:
    dest = tmp_path / "out" / "model.pt"
    with pytest.raises(ConversionError) as info:
        convert_ct2_whisper(folder, dest)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    return str(info.value)


def test_conversion_error_is_a_value_error() -> None:
    assert issubclass(ConversionError, ValueError)


@pytest.mark.parametrize("missing", ["model.bin", "config.json"])
def test_folder_without_required_file(
    tmp_path: Path, variables: dict[str, np.ndarray], missing: str
) -> None:
    folder = write_folder(tmp_path / "ct2", variables)
    (folder / missing).unlink()
    message = _convert_error(folder, tmp_path)
    assert str(folder) in message and missing in message


def test_wrong_binary_version(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    folder = write_folder(tmp_path / "ct2", variables, version=5)
    message = _convert_error(folder, tmp_path)
    assert "model.bin" in message and "binary version 5" in message


def test_unknown_spec(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    folder = write_folder(tmp_path / "ct2", variables, spec="TransformerSpec")
    message = _convert_error(folder, tmp_path)
    assert "TransformerSpec" in message and "model.bin" in message


def test_missing_variable(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    broken = {k: v for k, v in variables.items() if k != "decoder/layer_1/ffn/linear_0/bias"}
    message = _convert_error(write_folder(tmp_path / "ct2", broken), tmp_path)
    assert "'decoder/layer_1/ffn/linear_0/bias' is missing" in message


def test_shape_mismatch_names_the_variable(
    tmp_path: Path, variables: dict[str, np.ndarray]
) -> None:
    broken = dict(variables)
    broken["encoder/layer_1/ffn/linear_1/weight"] = np.zeros((64, 100), np.float32)
    message = _convert_error(write_folder(tmp_path / "ct2", broken), tmp_path)
    assert "encoder/layer_1/ffn/linear_1/weight" in message and "[64, 100]" in message


def test_bad_fused_attention_shape(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    broken = dict(variables)
    broken["decoder/layer_0/attention/linear_1/weight"] = np.zeros((64, 64), np.float32)
    message = _convert_error(write_folder(tmp_path / "ct2", broken), tmp_path)
    assert "decoder/layer_0/attention/linear_1" in message


def test_int8_without_scale(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    quantized = quantize_int8(variables)
    del quantized["encoder/layer_0/ffn/linear_0/weight_scale"]
    message = _convert_error(write_folder(tmp_path / "ct2", quantized), tmp_path)
    assert "encoder/layer_0/ffn/linear_0/weight_scale" in message


def test_unknown_variable(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    extra = dict(variables)
    extra["encoder/layer_0/adapter/weight"] = np.zeros((4, 4), np.float32)
    message = _convert_error(write_folder(tmp_path / "ct2", extra), tmp_path)
    assert "encoder/layer_0/adapter/weight" in message


def test_truncated_file(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    folder = write_folder(tmp_path / "ct2", variables)
    data = (folder / "model.bin").read_bytes()
    (folder / "model.bin").write_bytes(data[: len(data) // 2])
    message = _convert_error(folder, tmp_path)
    assert "model.bin" in message and "truncated" in message


def test_bad_alignment_heads_in_config(tmp_path: Path, variables: dict[str, np.ndarray]) -> None:
    folder = write_folder(tmp_path / "ct2", variables)
    (folder / "config.json").write_text(json.dumps({"alignment_heads": [[1]]}))
    message = _convert_error(folder, tmp_path)
    assert "config.json" in message and "alignment_heads" in message
