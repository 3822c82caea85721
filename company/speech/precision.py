"""Model precision: int8 linears for the CPU, fp16 weights for CUDA.

int8 (``Int8Linear``): weights int8 per output channel, activations int8 per row, multiplied
exactly in int32 (``torch._int_mm``, VNNI on x86) and scaled back to fp32. Each row's result
depends on that row alone, so batched decoding still gives the tokens of one-by-one decoding
(PyTorch's dynamic quantization scales activations per tensor, i.e. per batch, and does not).
Convolutions, layer norms, attention and the logits projection stay fp32 -- an int8 or bf16
logits projection was 3x faster per token but cost about a point of WER on the benchmark clips.
fp16: Whisper keeps fp32 weights and casts them to fp16 in every call; casting them once saves
that work on each decoding step. Whisper's own code keeps working on either model.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from whisper.model import Whisper

log = logging.getLogger(__name__)

INT8_MIN_WIDTH = 512
"""``auto`` quantizes models at least this wide (base and larger): on the benchmark clips base
stays within half a WER point, while tiny.en (384 wide) lost 6 points."""


def quantization_available() -> bool:
    """Whether this PyTorch can multiply int8 matrices on the CPU (``torch._int_mm``)."""
    try:
        import torch

        a = torch.ones(2, 16, dtype=torch.int8)
        return bool(torch._int_mm(a, a.t().contiguous()).dtype == torch.int32)
    except (ImportError, AttributeError, RuntimeError, NotImplementedError):
        return False


def worth_quantizing(model: Whisper) -> bool:
    """Whether ``auto`` quantizes ``model`` (wide enough that int8 keeps its accuracy)."""
    return model.dims.n_text_state >= INT8_MIN_WIDTH


def _int8_linear_class() -> type:
    """``Int8Linear``, defined on first use so that importing this module stays torch-free."""
    global _INT8_LINEAR
    if _INT8_LINEAR is None:
        import torch
        from torch import nn

        class Int8Linear(nn.Module):
            """A Linear with int8 weights (per output channel) and int8 activations (per row)."""

            def __init__(self, linear: nn.Linear) -> None:
                """Quantize ``linear``'s weights (its bias stays fp32)."""
                super().__init__()
                weight = linear.weight.detach().float()
                scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0
                quantized = torch.round(weight / scale[:, None]).to(torch.int8)
                self.in_features, self.out_features = linear.in_features, linear.out_features
                self.register_buffer("weight_t", quantized.t().contiguous())
                self.register_buffer("weight_scale", scale)
                bias = linear.bias
                self.register_buffer("bias", None if bias is None else bias.detach().float())

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                """``x @ W.T + b`` in int8 with per-row activation scales."""
                shape = x.shape
                rows = x.reshape(-1, shape[-1]).float()
                scale = rows.abs().amax(dim=1, keepdim=True).clamp_min_(1e-12).div_(127.0)
                quantized = torch.round(rows / scale).to(torch.int8)
                out = torch._int_mm(quantized, self.weight_t).float().mul_(scale)
                if self.bias is not None:
                    out = torch.addcmul(self.bias, out, self.weight_scale, out=out)
                else:
                    out.mul_(self.weight_scale)
                return out.view(*shape[:-1], self.out_features).to(x.dtype)

            def extra_repr(self) -> str:
                """Sizes, as ``nn.Linear`` shows them."""
                return f"in_features={self.in_features}, out_features={self.out_features}, int8"

        _INT8_LINEAR = Int8Linear
    return _INT8_LINEAR


_INT8_LINEAR: type | None = None


def quantize_int8(model: Whisper) -> int:
    """Replace ``model``'s linears by ``Int8Linear`` in place (CPU only); return how many.

    Raises ``RuntimeError`` when the model is not on the CPU or PyTorch cannot multiply int8.
    """
    from torch import nn

    if model.device.type != "cpu":
        raise RuntimeError("int8 linears run on the CPU only")
    if not quantization_available():
        raise RuntimeError("this PyTorch has no CPU int8 matrix multiply (torch._int_mm)")
    int8_linear = _int8_linear_class()
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, int8_linear(child))
                replaced += 1
    log.debug("quantized %d linear layers of Whisper to int8", replaced)
    return replaced


def half_weights(model: Whisper) -> None:
    """Store ``model``'s weights in fp16, except the layer norms (Whisper runs those in fp32)."""
    import torch
    from whisper.model import LayerNorm

    for module in model.modules():
        if isinstance(module, LayerNorm):
            continue
        for param in module.parameters(recurse=False):
            if param.dtype == torch.float32:
                param.data = param.data.half()
