"""Benchmark: long recordings (5 min to an hour) through the streaming Whisper service.

Builds each recording from real speech: espeak-ng sentences (two voices, two speeds), in a
seeded random order with pauses of 0.3-1.2 s, written frame by frame to a 16 kHz FLAC file
(the known text alongside). Each recording is then transcribed in a fresh Python process by
``WhisperService.transcribe(path)``, after a warm-up clip (model load not counted), and the
table shows: audio minutes, wall seconds, x realtime, the process's RSS (after the warm-up,
steady during the run, peak), windows, WER. A second process per recording runs the same under
tracemalloc (whose bookkeeping inflates RSS, hence apart) for the peak of numpy buffers and
Python objects, and, for contrast, what decoding the file whole (``decode_audio``, the old
path) allocates. Asserts nothing.

Model: the model cache's ``base`` when present, else ``tiny.en`` (the table says which).

    python benchmarks/bench_long_audio.py [--minutes 5 20 60] [--threads N] [--model NAME|PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from company.speech import AudioLimits, WhisperService, WhisperSettings, decode_audio  # noqa: E402
from company.speech.audio import SAMPLE_RATE  # noqa: E402
from company.speech.streaming import AudioProgress  # noqa: E402
from company.speech.synth import speak_to_wav  # noqa: E402
from company.speech.wer import normalize_words  # noqa: E402

SENTENCES = [
    "Good morning everyone, let us start with the budget for the spring campaign.",
    "Marketing asked for more money this year because the new product needs videos.",
    "Finance wants the final numbers by the end of the month.",
    "Please book a meeting room for Thursday afternoon.",
    "We need a projector, a whiteboard and enough chairs for eight people.",
    "If no room is free, move the meeting to Friday morning.",
    "Do not forget to order coffee and sandwiches for lunch.",
    "The customer reported that the mobile app crashes when she uploads a photo.",
    "Engineering should reproduce the problem and fix it this week.",
    "Support should apologize and offer a free month of service.",
    "Our warehouse in Denver will close for inventory next month.",
    "Orders placed during those days will ship from Dallas instead.",
    "Update the website banner and warn the largest customers by email.",
    "I would like a short summary of the survey results.",
    "How many people answered, and what did they like most about the service?",
    "Please include a chart of the scores by region.",
    "Send it to me before the board meeting, and keep it to one page.",
    "The new intern starts on Monday and needs a laptop and an email account.",
    "Ask Peter to show her the build system during the first week.",
    "Compare the prices of the three cloud providers for storing our backups.",
    "Tell me which provider you would choose and why.",
    "Check whether the data can stay in Europe.",
    "The office will be closed on the public holiday next Wednesday.",
    "Anyone who is on call should check the monitoring dashboard every morning.",
    "Call the manager if the error rate rises above the usual level.",
    "The team in Dallas will need four temporary workers to handle the extra packages.",
    "Our sales grew in the north but fell slightly in the south.",
    "The contract with the printing company ends in September.",
    "Let us review the action items from last week before we finish.",
    "Thank you all for coming, and see you at the next meeting.",
]
VOICES = [("en-us", 150), ("en-us", 175), ("en-gb", 150), ("en-gb", 175)]


class Row(BaseModel):
    """One recording's measurements (written by the child process as JSON)."""

    minutes: float
    model: str
    wall_s: float
    audio_s: float
    windows: int
    rss_loaded_mb: float
    rss_steady_mb: float
    rss_peak_mb: float
    traced_peak_mb: float
    whole_decode_mb: float
    traced_wall_s: float = 0.0
    file_mb: float
    wer: float
    ref_words: int
    max_window_tokens: int

    @property
    def realtime(self) -> float:
        """Audio seconds per wall second."""
        return self.audio_s / self.wall_s


# ---- the recording ---------------------------------------------------------------------------


def phrase_pool(folder: Path) -> list[tuple[str, np.ndarray]]:
    """Every sentence in every voice, as (text, 16 kHz samples); cached as WAVs in ``folder``."""
    pool = []
    for text in SENTENCES:
        for voice, speed in VOICES:
            key = hashlib.sha256(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
            path = folder / f"{key}.wav"
            if not path.is_file():
                speak_to_wav(text, path, voice=voice, words_per_minute=speed)
            pool.append((text, decode_audio(path)))
    return pool


def build_recording(
    minutes: float, pool: list[tuple[str, np.ndarray]], target: Path, seed: int = 0
) -> str:
    """Write ``minutes`` of speech (phrases and pauses) to the FLAC ``target``; return the text.

    The file is encoded phrase by phrase: the recording is never whole in memory.
    """
    import av

    rng = random.Random(seed)
    limit = int(minutes * 60 * SAMPLE_RATE)
    written = 0
    words: list[str] = []
    with av.open(str(target), mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

        def put(samples: np.ndarray) -> None:
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            for converted in resampler.resample(frame):
                container.mux(stream.encode(converted))

        while True:
            text, speech = rng.choice(pool)
            pause = np.zeros(int(rng.uniform(0.3, 1.2) * SAMPLE_RATE), dtype=np.float32)
            if written + speech.size + pause.size > limit:
                break
            put(np.concatenate([speech, pause]))
            written += speech.size + pause.size
            words.append(text)
        put(np.zeros(limit - written, dtype=np.float32))  # silence to the exact length
        for converted in resampler.resample(None):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    return " ".join(words)


# ---- the measurement (child process) ------------------------------------------------------


def word_error_rate(reference: str, hypothesis: str) -> tuple[float, int]:
    """(WER, reference words) after Whisper's normalisation; Levenshtein vectorised by rows."""
    vocabulary: dict[str, int] = {}
    ref = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in normalize_words(reference)])
    hyp = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in normalize_words(hypothesis)])
    columns = np.arange(hyp.size + 1)
    previous = columns.copy()
    for i, word in enumerate(ref, start=1):
        best = np.empty_like(previous)
        best[0] = i
        # Substitution or match, and deletion; then insertions as a running minimum.
        best[1:] = np.minimum(previous[:-1] + (hyp != word), previous[1:] + 1)
        previous = np.minimum.accumulate(best - columns) + columns
    return float(previous[-1]) / max(1, ref.size), int(ref.size)


def measure(args: argparse.Namespace) -> Row:
    """Transcribe the recording ``args.child`` in this process; its measurements."""
    path = Path(args.child)
    reference = Path(args.reference).read_text()
    minutes = args.minutes[0]
    settings = WhisperSettings(
        model=args.model,
        device="cpu",
        language=args.language,
        threads=args.threads,
        batch_size=args.batch_size,
        audio_limits=AudioLimits(
            max_seconds=max(3600.0, minutes * 60 + 60),
            max_bytes=max(AudioLimits().max_bytes, path.stat().st_size + 1),
        ),
    )
    service = WhisperService(settings, max_windows_in_flight=args.in_flight)
    last_report = [0.0]
    rss_samples: list[float] = []

    def report(state: AudioProgress) -> None:
        rss_samples.append(_current_rss_mb())
        if state.seconds_done - last_report[0] >= 300 or state.finished:
            last_report[0] = state.seconds_done
            total = f"{state.seconds_total:.0f}" if state.seconds_total else "?"
            print(f"  {state.seconds_done:.0f}/{total} s", file=sys.stderr, flush=True)

    async def run() -> tuple[float, float, float, str, float, int, int]:
        warm = path.with_name("warm.wav")
        speak_to_wav(SENTENCES[0], warm)
        await service.transcribe(warm)  # load the model, first-use costs
        rss_loaded = _current_rss_mb()
        if args.traced:
            tracemalloc.start()
        started = time.perf_counter()
        result = await service.transcribe(path, audio_progress=report)
        wall = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] / 1e6 if tracemalloc.is_tracing() else 0.0
        most_tokens = max(len(window.tokens) for window in result.windows)
        windows = len(result.windows)
        return wall, rss_loaded, traced, result.text, result.duration_s, windows, most_tokens

    try:
        wall, rss_loaded, traced, text, audio_s, windows, most_tokens = asyncio.run(run())
    finally:
        service.close()
    rss_peak = _rss_mb()  # the high-water mark, before the contrast below
    whole_mb = 0.0
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        whole = decode_audio(path, limits=settings.audio_limits)
        whole_mb = tracemalloc.get_traced_memory()[1] / 1e6
        del whole
        tracemalloc.stop()
    wer, ref_words = word_error_rate(reference, text)
    return Row(
        minutes=minutes,
        model=Path(args.model).name,
        wall_s=wall,
        audio_s=audio_s,
        windows=windows,
        rss_loaded_mb=rss_loaded,
        rss_steady_mb=float(np.median(rss_samples[len(rss_samples) // 2 :])),
        rss_peak_mb=rss_peak,
        traced_peak_mb=traced,
        whole_decode_mb=whole_mb,
        file_mb=path.stat().st_size / 1e6,
        wer=wer,
        ref_words=ref_words,
        max_window_tokens=most_tokens,
    )


def _rss_mb() -> float:
    """This process's peak resident set size so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _current_rss_mb() -> float:
    """This process's resident set size now, MB (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


# ---- the driver ----------------------------------------------------------------------------


def pick_model(explicit: str | None) -> str:
    """The checkpoint: explicit, else the cached base, else the cached tiny.en."""
    if explicit:
        return explicit
    from company.models import cached_model_file

    for name in ("base", "tiny.en"):
        path = cached_model_file(name)
        if path is not None:
            return str(path)
    sys.exit("no Whisper model cached: run `python startup.py models pull base` (or tiny.en)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 20.0, 60.0])
    parser.add_argument("--model", help="checkpoint path or name (default: cached base/tiny.en)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--language", default="en", help="a code, or auto to detect")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--in-flight", type=int, help="windows in flight (default: 2 batches)")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the second, traced run per length"
    )
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help="keep phrases and recordings here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.language == "auto":
        args.language = None
    return args


def run_child(
    args: argparse.Namespace, model: str, minutes: float, recording: Path, *, traced: bool
) -> Row:
    """Measure one recording in a fresh process (its own RSS high-water mark)."""
    command = [
        sys.executable, __file__, "--child", str(recording),
        "--reference", str(recording.with_suffix(".txt")), "--model", model,
        "--minutes", str(minutes), "--batch-size", str(args.batch_size),
        "--language", args.language or "auto",
    ]  # fmt: skip
    for flag, value in (("--threads", args.threads), ("--in-flight", args.in_flight)):
        if value:
            command += [flag, str(value)]
    if traced:
        command.append("--traced")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return Row.model_validate_json(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    """The results as a Markdown table."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    threads = args.threads or "torch default"
    print(f"\nWhisper {rows[0].model}, CPU, threads: {threads}, batch {args.batch_size}, "
          f"language {args.language or 'auto'}; load average at the end: {load}")
    print("RSS MB (a run without tracemalloc): the process's resident set after the warm-up "
          "(model loaded), its median over the second half of the run (sampled per window), "
          "and its peak; traced (a second run, under tracemalloc): its peak during the run "
          "(numpy buffers, Python objects); whole: what decode_audio allocates for the same "
          "file, the old path; tokens: most in one window\n")
    print("| audio min | file MB | wall s | x realtime | windows | RSS loaded / steady / peak | "
          "traced peak MB | whole decode MB | tokens | WER (words) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.audio_s / 60:.1f} | {r.file_mb:.1f} | {r.wall_s:.0f} | {r.realtime:.1f} | "
            f"{r.windows} | {r.rss_loaded_mb:.0f} / {r.rss_steady_mb:.0f} / "
            f"{r.rss_peak_mb:.0f} | {r.traced_peak_mb:.1f} | {r.whole_decode_mb:.0f} | "
            f"{r.max_window_tokens} | {r.wer:.1%} ({r.ref_words}) |"
        )


def main(argv: list[str] | None = None) -> int:
    """Build the recordings, measure each in a child process, print the table."""
    args = parse_args(argv)
    if args.child:
        print(measure(args).model_dump_json())
        return 0
    model = pick_model(args.model)
    print(f"model: {model}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.work_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        pool = phrase_pool(folder / "phrases")
        rows = []
        for minutes in args.minutes:
            recording = folder / f"recording-{minutes:g}min.flac"
            text = build_recording(minutes, pool, recording)
            recording.with_suffix(".txt").write_text(text)
            print(f"{minutes:g} min: {recording.stat().st_size / 1e6:.1f} MB, transcribing ...",
                  flush=True)
            row = run_child(args, model, minutes, recording, traced=False)
            if not args.no_tracemalloc:
                # tracemalloc's own bookkeeping inflates RSS: its peak comes from a second run.
                traced = run_child(args, model, minutes, recording, traced=True)
                row = row.model_copy(
                    update={
                        "traced_peak_mb": traced.traced_peak_mb,
                        "whole_decode_mb": traced.whole_decode_mb,
                        "traced_wall_s": traced.wall_s,
                    }
                )
            rows.append(row)
            print(json.dumps(rows[-1].model_dump()), flush=True)
    print_table(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
