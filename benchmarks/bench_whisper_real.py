"""Benchmark: real Whisper base on CPU, on 8 espeak-ng paragraphs (15-30 s each).

Methods, all on the same weights, after one warm-up clip each (load time not counted):
  (a) openai-whisper ``model.transcribe()``, one clip after another (the baseline);
  (b) our batched ``WhisperService`` (company/speech), all 8 clips submitted at once;
  (c) faster-whisper (CTranslate2) on the original CTranslate2 folder, compute types int8 and
      float32, one clip after another (greedy, beam_size=1, like (a) and (b)).
Prints a table (audio seconds, wall seconds, x realtime, WER, speed relative to (a)); asserts
nothing. Needs espeak-ng, the model cache's ``base`` (``python startup.py models pull base``) and
``pip install faster-whisper`` (the ``bench`` extra) for (c).

    python benchmarks/bench_whisper_real.py [--threads 2] [--ct2-dir DIR] [--skip-faster-whisper]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

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


class Row(BaseModel):
    """One method's measurements over all clips."""

    method: str
    audio_s: float
    wall_s: float
    edits: int
    ref_words: int

    @property
    def realtime(self) -> float:
        """Audio seconds per wall second."""
        return self.audio_s / self.wall_s

    @property
    def wer(self) -> float:
        """Corpus word error rate: all edits over all reference words."""
        return self.edits / max(1, self.ref_words)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every method")
    parser.add_argument("--language", default="auto", help="auto (detect) or a code such as en")
    parser.add_argument("--checkpoint", help="openai-whisper checkpoint (default: cached base)")
    parser.add_argument("--ct2-dir", type=Path, help="CTranslate2 base folder (default: built)")
    parser.add_argument("--skip-faster-whisper", action="store_true")
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


def score(method: str, clips: list[np.ndarray], texts: list[str], wall_s: float) -> Row:
    """A row from the transcripts of all clips."""
    edits = words = 0
    for reference, hypothesis in zip(PARAGRAPHS, texts, strict=True):
        ref = normalize_words(reference)
        edits += edit_distance(ref, normalize_words(hypothesis))
        words += len(ref)
    audio = sum(clip.size for clip in clips) / SAMPLE_RATE
    return Row(method=method, audio_s=audio, wall_s=wall_s, edits=edits, ref_words=words)


def timed(fn: Callable[[], list[str]]) -> tuple[list[str], float]:
    """Run ``fn`` and return its result and wall seconds."""
    started = time.perf_counter()
    texts = fn()
    return texts, time.perf_counter() - started


def run_openai(checkpoint: Path, clips: list[np.ndarray], language: str | None) -> Row:
    """(a) openai-whisper's own transcribe(), one clip after another."""
    import whisper

    model = whisper.load_model(str(checkpoint), device="cpu")

    def one(clip: np.ndarray) -> str:
        return model.transcribe(clip, fp16=False, temperature=0.0, language=language)["text"]

    one(clips[0][: 5 * SAMPLE_RATE])  # warm-up
    texts, wall = timed(lambda: [one(clip) for clip in clips])
    return score("(a) openai-whisper transcribe(), one by one", clips, texts, wall)


def run_service(checkpoint: Path, clips: list[np.ndarray], language: str | None) -> Row:
    """(b) our batched service, all clips at once."""
    settings = WhisperSettings(
        model=str(checkpoint), device="cpu", language=language, batch_size=8, batch_wait_ms=50
    )
    service = WhisperService(settings)

    async def all_at_once() -> list[str]:
        await service.transcribe(clips[0][: 5 * SAMPLE_RATE])  # load and warm up
        started = time.perf_counter()
        results = await asyncio.gather(*(service.transcribe(clip) for clip in clips))
        timings.append(time.perf_counter() - started)
        return [result.text for result in results]

    timings: list[float] = []
    try:
        texts = asyncio.run(all_at_once())
    finally:
        service.close()
    return score("(b) WhisperService, batched (8 at once)", clips, texts, timings[0])


def run_faster_whisper(
    folder: Path, clips: list[np.ndarray], language: str | None, compute_type: str, threads: int
) -> Row:
    """(c) faster-whisper on the CTranslate2 folder, greedy, one clip after another."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads)

    def one(clip: np.ndarray) -> str:
        segments, _ = model.transcribe(clip, beam_size=1, temperature=0.0, language=language)
        return " ".join(segment.text.strip() for segment in segments)

    one(clips[0][: 5 * SAMPLE_RATE])
    texts, wall = timed(lambda: [one(clip) for clip in clips])
    return score(f"(c) faster-whisper {compute_type}, one by one", clips, texts, wall)


def print_table(rows: list[Row], threads: int) -> None:
    """The results as a Markdown table."""
    baseline = rows[0].wall_s
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nWhisper base, CPU, {threads} threads, {len(PARAGRAPHS)} espeak-ng paragraphs")
    print(f"(load average at the end: {load}; other processes on the CPUs skew wall times)\n")
    print("| method | audio s | wall s | x realtime | WER | speed vs (a) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.method} | {row.audio_s:.1f} | {row.wall_s:.1f} | {row.realtime:.2f} | "
            f"{row.wer:.1%} | {baseline / row.wall_s:.2f}x |"
        )


def main(argv: list[str] | None = None) -> int:
    """Run every method and print the table."""
    import torch

    args = parse_args(argv)
    language = None if args.language == "auto" else args.language
    torch.set_num_threads(args.threads)
    checkpoint = base_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp))
    lengths = ", ".join(f"{clip.size / SAMPLE_RATE:.0f}" for clip in clips)
    print(f"clips (s): {lengths}", flush=True)
    rows = [run_openai(checkpoint, clips, language)]
    print(f"done: {rows[-1].method}", flush=True)
    rows.append(run_service(checkpoint, clips, language))
    print(f"done: {rows[-1].method}", flush=True)
    if not args.skip_faster_whisper:
        folder = ct2_folder(args.ct2_dir)
        for compute_type in ("int8", "float32"):
            rows.append(run_faster_whisper(folder, clips, language, compute_type, args.threads))
            print(f"done: {rows[-1].method}", flush=True)
    print_table(rows, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
