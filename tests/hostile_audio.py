"""Hand-made audio files whose headers lie (absurd sample rates, huge blocks), for the decoder's
hardening tests and the HTTP upload tests."""

from __future__ import annotations

import struct


def raw_wav(
    rate: int,
    n_bytes: int,
    *,
    bits: int = 8,
    channels: int = 1,
    block_align: int | None = None,
    fill: int = 37,
    tag: int = 1,
) -> bytes:
    """A PCM WAV with ``n_bytes`` of (non-silent) data and whatever header fields are asked.

    ``block_align`` is what the demuxer uses as its packet size: a large one makes each packet
    (and so each decoded frame) hold that many bytes of samples. ``tag`` is the format code
    (1 PCM, 3 IEEE float, 6 A-law, 7 mu-law, 0x11 IMA ADPCM ...).
    """
    align = (block_align if block_align is not None else channels * bits // 8) & 0xFFFF
    data = bytes((i * fill) % 256 for i in range(n_bytes))
    byte_rate = (rate * align) & 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", tag & 0xFFFF, channels, rate, byte_rate, align, bits)
    return (
        b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", len(data)) + data
    )


def one_hertz_wav() -> bytes:
    """The 32 KB file of the report: 1 Hz, 8-bit mono, 16,384 samples per packet (each packet
    lasts 4.5 hours, 262 M samples once resampled to 16 kHz)."""
    return raw_wav(1, 32_768, block_align=16_384)
