"""Benchmark: Whisper's sequential ``model.transcribe()`` versus the batched speech service.

For N concurrent clips of D seconds, the sequential baseline transcribes them one after another
(``transcribe()`` is not thread-safe, so concurrent callers queue on the model); the service
decodes the 30 s windows of all waiting clips together. Both run on the same worker and model.

Reports throughput (audio seconds per wall second, "x realtime"), decoded tokens per second,
wall time per token, and peak memory (tracemalloc for Python; torch.cuda.max_memory_allocated on
CUDA). Prints a table; asserts nothing. Without ``--checkpoint`` a random-weights checkpoint
(``--dims``) is built, so no download is needed; random weights never emit end-of-text, so every
window decodes exactly ``--sample-len`` tokens.

    python benchmarks/bench_speech.py --dims tiny --clips 4 8 --durations 10 60
    python benchmarks/bench_speech.py --device cuda --dims turbo-like --sample-len 64
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from company.speech import Transcription, WhisperService, WhisperSettings  # noqa: E402
from company.speech.testing import DIMS, build_random_checkpoint, synthetic_clip  # noqa: E402


class Row(BaseModel):
    """One measured configuration."""

    clip_s: float
    n: int
    mode: str
    wall_s: float
    audio_s: float
    tokens: int
    windows: int
    batches: int | str
    py_peak_mib: float | None
    cuda_peak_mib: float | None

    @property
    def realtime(self) -> float:
        """Audio seconds per wall second."""
        return self.audio_s / self.wall_s

    @property
    def tokens_per_s(self) -> float:
        """Decoded tokens per wall second."""
        return self.tokens / self.wall_s

    @property
    def ms_per_token(self) -> float:
        """Wall milliseconds per decoded token."""
        return 1000 * self.wall_s / max(1, self.tokens)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--fp16", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--checkpoint", help="a Whisper .pt file or model name (else random)")
    parser.add_argument("--dims", choices=sorted(DIMS), default="tiny")
    parser.add_argument("--sample-len", type=int, default=32, help="max tokens per window")
    parser.add_argument("--clips", type=int, nargs="+", default=[4, 8], help="N values")
    parser.add_argument("--durations", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batch-wait-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip Python memory")
    return parser.parse_args(argv)


async def measure(
    label: str,
    run: Callable[[], Awaitable[list[Transcription]]],
    service: WhisperService,
    *,
    clip_s: float,
    n: int,
    device: str,
    trace: bool,
) -> Row:
    """Run one configuration and collect wall time, tokens and peak memory."""
    import torch

    cuda = device.startswith("cuda")
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if trace:
        tracemalloc.start()
    stats_before = service.stats.model_copy(deep=True)
    started = time.perf_counter()
    results = await run()
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    py_peak = None
    if trace:
        py_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    stats = service.stats
    batched = label == "batched"
    return Row(
        clip_s=clip_s,
        n=n,
        mode=label,
        wall_s=wall,
        audio_s=sum(r.duration_s for r in results),
        tokens=sum(r.token_count for r in results),
        windows=stats.windows - stats_before.windows
        if batched
        else stats.sequential_decodes - stats_before.sequential_decodes,
        batches=stats.batches - stats_before.batches if batched else "-",
        py_peak_mib=py_peak,
        cuda_peak_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    )


def print_table(rows: list[Row], header: str) -> None:
    """Print the rows as an aligned text table, with the batched speed-up per configuration."""
    print(header)
    cols = (
        f"{'clip':>6} {'N':>3} {'mode':>10} {'wall s':>8} {'x realtime':>10} {'tokens':>7} "
        f"{'tok/s':>8} {'ms/tok':>7} {'windows':>7} {'batches':>7} {'py MiB':>7} "
        f"{'cuda MiB':>8} {'speed-up':>8}"
    )
    print(cols)
    print("-" * len(cols))
    baseline: dict[tuple[float, int], float] = {}
    for row in rows:
        key = (row.clip_s, row.n)
        if row.mode == "sequential":
            baseline[key] = row.wall_s
        speedup = baseline[key] / row.wall_s if key in baseline else float("nan")
        py = f"{row.py_peak_mib:.1f}" if row.py_peak_mib is not None else "-"
        gpu = f"{row.cuda_peak_mib:.0f}" if row.cuda_peak_mib is not None else "-"
        print(
            f"{row.clip_s:>5.0f}s {row.n:>3} {row.mode:>10} {row.wall_s:>8.2f} "
            f"{row.realtime:>10.1f} {row.tokens:>7} {row.tokens_per_s:>8.1f} "
            f"{row.ms_per_token:>7.2f} {row.windows!s:>7} {row.batches!s:>7} {py:>7} "
            f"{gpu:>8} {speedup:>7.2f}x"
        )


async def main(args: argparse.Namespace) -> None:
    """Build or load the model, warm it up, and measure every configuration."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            started = time.perf_counter()
            checkpoint = str(build_random_checkpoint(Path(tmp) / f"{args.dims}.pt", args.dims))
            print(f"built random {args.dims} checkpoint in {time.perf_counter() - started:.1f}s")
        settings = WhisperSettings(
            model=checkpoint,
            device=args.device,
            fp16={"auto": None, "on": True, "off": False}[args.fp16],
            sample_len=args.sample_len,
            batch_size=args.batch_size,
            batch_wait_ms=args.batch_wait_ms,
            threads=args.threads,
        )
        device = settings.resolved_device()
        service = WhisperService(settings)
        started = time.perf_counter()
        await service.load()
        load_s = time.perf_counter() - started
        # Warm-up (allocator, kernels, tokenizer) for both paths; not measured.
        await service.transcribe(synthetic_clip(5.0, seed=999))
        await service.transcribe_sequential(synthetic_clip(5.0, seed=998))

        rows: list[Row] = []
        trace = not args.no_tracemalloc
        for clip_s in args.durations:
            for n in args.clips:
                clips = [synthetic_clip(clip_s, seed=i) for i in range(n)]

                async def sequential(clips: list = clips) -> list[Transcription]:
                    return [await service.transcribe_sequential(c) for c in clips]

                async def batched(clips: list = clips) -> list[Transcription]:
                    return list(await asyncio.gather(*(service.transcribe(c) for c in clips)))

                for label, run in (("sequential", sequential), ("batched", batched)):
                    row = await measure(
                        label, run, service, clip_s=clip_s, n=n, device=device, trace=trace
                    )
                    rows.append(row)
                    print(f"  measured {clip_s:g}s x{n} {label}: {row.wall_s:.2f}s", flush=True)
        service.close()

    fp16 = settings.resolved_fp16(device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else ""
    header = (
        f"\nmodel={Path(checkpoint).name if args.checkpoint is None else checkpoint} "
        f"dims={args.dims if args.checkpoint is None else 'checkpoint'} device={device}{gpu} "
        f"fp16={fp16} torch_threads={torch.get_num_threads()} sample_len={args.sample_len} "
        f"batch_size={args.batch_size} load={load_s:.1f}s tracemalloc={'on' if trace else 'off'}"
    )
    print_table(rows, header)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
