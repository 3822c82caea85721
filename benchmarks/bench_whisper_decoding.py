"""Benchmark: Whisper base on CPU, greedy against beam search (and temperature fallback), on short
spoken requests synthesized with espeak-ng exactly as the model evaluation makes its voice notes
(company/research/voice.py: voice en-us, 150 words per minute).

Rows (one model, loaded once by a ``WhisperService`` with its default settings, so every row
but the -fp32 ones runs the same weights, int8 on the CPU as the service runs them):
  a        our service as configured (fast greedy loop, language detected per window);
  a-en     the same with language "en";
  b        openai-whisper ``model.transcribe(beam_size=5, best_of=5, temperature=(0, .2, ... 1),
           condition_on_previous_text=False, language="en")``;
  c        as b, greedy at temperature 0 (best_of=5 sampling on fallback);
  d        beam_size=5 at temperature 0 only, no fallback;
  e        greedy at temperature 0 only, no fallback (a's decoder in transcribe()'s loop);
  a-zpad   a with this file's own copy of transcribe()'s mel padding swapped in for the
           service's ``window_mels``: the log-mel of the chunk followed by silence, content
           frames kept, the rest of the 3000 frames zero (normalised log-mel). It isolates the
           padding: on base, our 48 phrases went 0.277 mean WER, 11/48 exact (a) to 0.238,
           14/48 at the same speed, but tiny.en went 0.295 to 0.331 and base on the 5 phrases
           of tests/test_speech_real.py 0.051 to 0.137, so the service keeps padding the audio;
  a-fp32, e-fp32, d-fp32 (only when named in --rows): a, e and d on fp32 weights (no int8).
Columns: mean of per-phrase WER (company/speech/wer.py), phrases exactly right, total decode
seconds, that over row a's, and windows whose kept result came from a fallback temperature.
The phrases below are our own; the evaluation's phrases (config/eval/*.jsonl "speak") are
transcribed as a second table for information only: never tune on them.
Every row runs for a phrase before the next phrase (rows rotate, so CPU noise spreads evenly).
Asserts nothing. Needs espeak-ng and the model cache's ``base``.

    python benchmarks/bench_whisper_decoding.py [--threads 1] [--rows a,b] [--no-eval] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from company.research.voice import VOICE, WORDS_PER_MINUTE  # noqa: E402
from company.speech import WhisperService, WhisperSettings, decode_audio  # noqa: E402
from company.speech.synth import speak_to_wav  # noqa: E402
from company.speech.wer import normalize_words, word_error_rate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

PHRASES = [
    "What is seven times eight?",
    "Add three hundred and fifty to nine hundred.",
    "What's fifteen percent of two hundred?",
    "Divide seventy two by nine.",
    "What is the square root of one hundred and forty four?",
    "Subtract eighteen from the number I typed.",
    "What's three to the power of five?",
    "Multiply forty by twenty five, please.",
    "Round three point seven five to one decimal place.",
    "Average the three numbers I typed.",
    "Convert fifty miles to kilometers.",
    "What is the sum of the numbers I typed?",
    "Count the words in the paragraph I typed.",
    "How many sentences are in my text?",
    "Count how many times the word report appears.",
    "In my text, replace every dash with a space.",
    "Replace the word Monday with Tuesday in what I typed.",
    "Remove all the periods from the text I typed.",
    "Turn the text I typed into capital letters.",
    "Reverse the order of the words I typed.",
    "Sort the names I typed in alphabetical order.",
    "Translate the sentence I typed into French.",
    "What is the capital of Canada?",
    "Who wrote the play Hamlet?",
    "How many days are there in a leap year?",
    "What's the boiling point of water in Fahrenheit?",
    "Order ten boxes of printer paper for the office.",
    "Please buy a new stapler and two packs of staples.",
    "Book a meeting room for Friday at ten.",
    "Send the weekly report to the sales team.",
    "Schedule a call with the supplier next Tuesday.",
    "Cancel my dentist appointment on Thursday morning.",
    "Email Priya Natarajan and ask for the invoice from March.",
    "Remind me to call Doctor O'Brien at four thirty.",
    "What's the phone number for Henrik Johansson?",
    "Write a note that says, the server is down until noon.",
    "Search my messages for the words quarterly budget.",
    "Set a timer for twenty five minutes.",
    "How far is it from Lisbon to Madrid?",
    "Is it going to rain in Seattle tomorrow?",
    "Give me a synonym for the word happy.",
    "Change the title to Annual Review, twenty twenty six.",
    "Wrap the phrase hello world in quotation marks.",
    "Which is larger, eleven thousand or ten thousand nine hundred?",
    "Forward the contract to Marguerite and copy Dmitri.",
    "Turn off the lights in the conference room.",
    "Spell the word necessary for me.",
    "Add milk, eggs and bread to my shopping list.",
]
"""Our own short office/assistant requests (none is an evaluation phrase)."""

FALLBACK = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""openai-whisper's default temperature schedule."""


class Clip(BaseModel):
    """One synthesized phrase."""

    model_config = {"arbitrary_types_allowed": True}

    text: str
    samples: Any = Field(description="16 kHz mono float32 numpy array")


class Row(BaseModel):
    """One setting's results over a phrase list."""

    name: str
    label: str
    texts: list[str] = Field(default_factory=list)
    wers: list[float] = Field(default_factory=list)
    seconds: float = 0.0
    fallbacks: int = 0

    @property
    def mean_wer(self) -> float:
        """Mean of the per-phrase word error rates."""
        return statistics.fmean(self.wers) if self.wers else float("nan")

    @property
    def exact(self) -> int:
        """Phrases whose normalised words match the reference exactly."""
        return sum(1 for w in self.wers if w == 0)


Transcriber = Callable[[np.ndarray], Awaitable[tuple[str, int]]]
"""Samples -> (text, windows decoded above temperature 0)."""


def eval_phrases() -> list[str]:
    """The evaluation's spoken phrases (for the information-only table)."""
    phrases: list[str] = []
    for path in sorted((ROOT / "config" / "eval").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip().startswith("{"):  # skips comments
                speak = json.loads(line).get("speak")
                if speak:
                    phrases.append(str(speak))
    return phrases


def synthesize(phrases: list[str], folder: Path) -> list[Clip]:
    """Speak every phrase as the evaluation does and decode it to samples."""
    clips = []
    for i, text in enumerate(phrases):
        wav = speak_to_wav(text, folder / f"{i:03d}.wav", voice=VOICE,
                           words_per_minute=WORDS_PER_MINUTE)
        clips.append(Clip(text=text, samples=decode_audio(wav)))
    return clips


def openai_row(service: WhisperService, **options: Any) -> Transcriber:
    """``model.transcribe(**options)`` on the service's model (its worker thread)."""

    async def run(samples: np.ndarray) -> tuple[str, int]:
        import torch

        def call(model: Any) -> dict[str, Any]:
            torch.manual_seed(0)  # the sampled fallback temperatures are reproducible
            return model.transcribe(samples, verbose=None, fp16=False,
                                    condition_on_previous_text=False, language="en", **options)

        result = await service._call(call)
        hot = sum(1 for s in result["segments"] if s.get("temperature", 0.0) > 0)
        return str(result["text"]).strip(), hot

    return run


HOT_WINDOWS = [0]
"""Windows of the service whose kept result was decoded above temperature 0 (all services)."""


def count_service_fallbacks() -> None:
    """Count the service's windows kept from a fallback temperature (when it has fallback)."""
    from company.speech import decoding

    original = getattr(decoding, "with_fallback", None)
    if original is None:
        return

    def counting(*args: Any, **kwargs: Any) -> Any:
        results = original(*args, **kwargs)
        HOT_WINDOWS[0] += sum(1 for r in results if r.temperature > 0)
        return results

    decoding.with_fallback = counting  # type: ignore[attr-defined]


def service_row(service: WhisperService, language: str | None = None) -> Transcriber:
    """Our service's ``transcribe`` (as the evaluation calls it: language None detects)."""

    async def run(samples: np.ndarray) -> tuple[str, int]:
        import torch

        torch.manual_seed(0)
        before = HOT_WINDOWS[0]
        result = await service.transcribe(samples, language=language)
        return result.text.strip(), HOT_WINDOWS[0] - before

    return run


def transcribe_padded_mels(chunks: Sequence[np.ndarray], n_mels: int, device: Any) -> Any:
    """Mels as ``transcribe()`` pads them: ``log_mel_spectrogram(chunk, padding=N_SAMPLES)``,
    the chunk's content frames, ``pad_or_trim`` with zeros to 3000 (30 s chunks as the service)."""
    import torch
    import whisper

    mels = []
    for chunk in chunks:
        audio = torch.from_numpy(np.ascontiguousarray(chunk, np.float32))
        if audio.shape[-1] >= whisper.audio.N_SAMPLES:
            mels.append(ORIGINAL_WINDOW_MELS[0]([chunk], n_mels, device)[0])
            continue
        mel = whisper.log_mel_spectrogram(audio, n_mels, padding=whisper.audio.N_SAMPLES,
                                          device=device)
        content = audio.shape[-1] // whisper.audio.HOP_LENGTH
        mels.append(whisper.pad_or_trim(mel[:, :content], whisper.audio.N_FRAMES))
    return torch.stack(mels)


ORIGINAL_WINDOW_MELS: list[Any] = []
"""The service's own ``window_mels`` (set when the a-zpad row is built)."""


def zero_padded_row(service: WhisperService) -> Transcriber:
    """Row a with ``decoding.window_mels`` swapped for transcribe()'s padding during the call."""
    from company.speech import decoding

    if not ORIGINAL_WINDOW_MELS:
        ORIGINAL_WINDOW_MELS.append(decoding.window_mels)
    inner = service_row(service)

    async def run(samples: np.ndarray) -> tuple[str, int]:
        decoding.window_mels = transcribe_padded_mels  # type: ignore[assignment]
        try:
            return await inner(samples)
        finally:
            decoding.window_mels = ORIGINAL_WINDOW_MELS[0]

    return run


DEFAULT_ROWS = "a,a-en,b,c,d,e"
ALL_ROWS = DEFAULT_ROWS + ",a-zpad,a-fp32,e-fp32,d-fp32"


def rows_for(names: list[str], threads: int) -> tuple[dict[str, tuple[str, Any]],
                                                     list[WhisperService]]:
    """The chosen rows (name -> (label, transcriber)) and the services they use."""
    service = WhisperService(WhisperSettings(threads=threads))
    services = [service]
    fp32: WhisperService | None = None
    if any(name.endswith("-fp32") for name in names):
        fp32 = WhisperService(WhisperSettings(threads=threads, cpu_quantize="off"))
        services.append(fp32)
    rows: dict[str, tuple[str, Any]] = {
        "a": ("service now: fast greedy, language detected", service_row(service)),
        "a-en": ("service now, language en", service_row(service, "en")),
        "b": ("transcribe beam 5 + fallback", openai_row(service, beam_size=5, best_of=5,
                                                          temperature=FALLBACK)),
        "c": ("transcribe greedy + fallback", openai_row(service, best_of=5,
                                                          temperature=FALLBACK)),
        "d": ("transcribe beam 5, no fallback", openai_row(service, beam_size=5,
                                                            temperature=0.0)),
        "e": ("transcribe greedy, no fallback", openai_row(service, temperature=0.0)),
        "a-zpad": ("a, transcribe()'s zero mel padding", zero_padded_row(service)),
    }
    if fp32 is not None:
        rows["a-fp32"] = ("a, fp32 weights (no int8)", service_row(fp32))
        rows["e-fp32"] = ("e, fp32 weights", openai_row(fp32, temperature=0.0))
        rows["d-fp32"] = ("d, fp32 weights", openai_row(fp32, beam_size=5, temperature=0.0))
    return {name: rows[name] for name in names if name in rows}, services


async def measure(clips: list[Clip], chosen: dict[str, tuple[str, Any]]) -> list[Row]:
    """Run every row on every clip (rows rotate from clip to clip)."""
    rows = [Row(name=name, label=label) for name, (label, _) in chosen.items()]
    runners = [run for _, run in chosen.values()]
    for i, clip in enumerate(clips):
        order = [(k + i) % len(rows) for k in range(len(rows))]
        texts: dict[int, str] = {}
        for k in order:
            started = time.perf_counter()
            text, hot = await runners[k](clip.samples)
            rows[k].seconds += time.perf_counter() - started
            rows[k].fallbacks += hot
            texts[k] = text
        for k, row in enumerate(rows):
            row.texts.append(texts[k])
            row.wers.append(word_error_rate(clip.text, texts[k]))
    return rows


def table(title: str, clips: list[Clip], rows: list[Row], verbose: bool) -> str:
    """The result table (and, verbose, every phrase where the rows disagree)."""
    base = rows[0].seconds or 1.0
    lines = [f"\n{title} ({len(clips)} phrases)",
             f"{'setting':8} {'':42} {'mean WER':>8} {'exact':>6} {'decode s':>9} "
             f"{'x (a)':>6} {'fallback':>8}"]
    for row in rows:
        lines.append(f"{row.name:8} {row.label:42} {row.mean_wer:8.3f} "
                     f"{row.exact:3d}/{len(clips):<2d} {row.seconds:9.1f} "
                     f"{row.seconds / base:6.2f} {row.fallbacks:8d}")
    if verbose:
        for i, clip in enumerate(clips):
            said = {" ".join(normalize_words(row.texts[i])) for row in rows}
            if len(said) == 1 and all(row.wers[i] == 0 for row in rows):
                continue
            lines.append(f"\n  {clip.text}")
            for row in rows:
                lines.append(f"    {row.name:8} {row.wers[i]:.2f}  {row.texts[i]}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 during an eval)")
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma-separated, of {ALL_ROWS}")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation phrases")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the transcripts")
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    """Synthesize, transcribe under every row, print the tables."""
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    count_service_fallbacks()
    chosen, services = rows_for(args.rows.split(","), args.threads)
    try:
        started = time.perf_counter()
        for service in services:
            await service.load()
        print(f"models loaded in {time.perf_counter() - started:.1f}s, "
              f"{args.threads} thread(s), rows {','.join(chosen)}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            ours = synthesize(PHRASES, Path(tmp) / "ours")
            held = [] if args.no_eval else synthesize(eval_phrases(), Path(tmp) / "eval")
        warm = ours[0].samples
        for _, run in chosen.values():  # first calls pay one-time setup; not counted
            await run(warm)
        print(table("Our phrases", ours, await measure(ours, chosen), args.verbose), flush=True)
        if held:
            print(table("Evaluation phrases (information only, never tuned on)", held,
                        await measure(held, chosen), args.verbose), flush=True)
    finally:
        for service in services:
            service.close()


if __name__ == "__main__":
    asyncio.run(main())
