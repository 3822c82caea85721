"""``transcribe FILE...``: transcribe audio files with the shared Whisper service."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from company.speech.errors import AudioError, ModelLoadError, ModelUnavailable, SpeechError
from company.speech.formats import SubtitleOptions
from company.speech.results import Transcription
from company.speech.service import WhisperService, get_service
from company.speech.settings import WhisperSettings
from company.speech.streaming import AudioProgress

EXIT_OK = 0
EXIT_BAD_AUDIO = 1
EXIT_NO_MODEL = 2


def transcribe_command(
    paths: list[str],
    *,
    settings: WhisperSettings,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    show_progress: bool | None = None,
    formats: Sequence[str] = (),
    output_dir: str | Path | None = None,
    word_timestamps: bool | None = None,
    subtitles: SubtitleOptions | None = None,
) -> int:
    """Transcribe ``paths`` (concurrently, so their windows share batches) and print the results.

    With ``formats`` (txt, json, srt, vtt, tsv) each file is also written as
    ``<output_dir>/<stem>.<format>``, as Whisper's CLI writes them (``output_dir`` default ".").

    Prints the text of each file (with a ``# path`` header when there are several), or one JSON
    object per line with ``as_json``. Errors are one line each on stderr (a missing model once).
    ``word_timestamps`` times every word (None: the settings'), laid out in subtitles as
    ``subtitles`` says. A progress bar per file longer than one window (audio seconds done /
    total, x realtime) goes to stderr when it is a terminal, or always with ``show_progress=True``.
    Returns 0 when every file was transcribed, 1 when some audio was bad, 2 when the model is
    unavailable.
    """
    return asyncio.run(
        transcribe_files(
            paths,
            service=get_service(settings),
            as_json=as_json,
            out=out,
            err=err,
            show_progress=show_progress,
            formats=formats,
            output_dir=output_dir,
            word_timestamps=word_timestamps,
            subtitles=subtitles,
        )
    )


async def transcribe_files(
    paths: list[str],
    *,
    service: WhisperService,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    show_progress: bool | None = None,
    formats: Sequence[str] = (),
    output_dir: str | Path | None = None,
    word_timestamps: bool | None = None,
    subtitles: SubtitleOptions | None = None,
) -> int:
    """The async body of ``transcribe_command``, for callers already inside an event loop."""
    from company.speech.formats import TRANSCRIPT_FORMATS

    if unknown := [f for f in formats if f not in TRANSCRIPT_FORMATS]:
        raise ValueError(f"unknown transcript format {', '.join(unknown)}; use "
                         f"{', '.join(TRANSCRIPT_FORMATS)}")
    out = out or sys.stdout
    err = err or sys.stderr
    progress = audio_progress_bar(err, show=show_progress)
    limit = asyncio.Semaphore(max(2, service.settings.batch_size * 2))

    async def one(path: str) -> Transcription:
        async with limit:
            # Added hidden now so that elapsed time and speed count from the start; shown when
            # the file turns out longer than one window.
            task_id = progress.add_task(Path(path).name, total=None, visible=False)

            def on_progress(state: AudioProgress) -> None:
                if state.finished and state.windows_done <= 1:  # one window, one batch: no bar
                    return
                total = state.seconds_total
                if total is not None:
                    total = max(total, state.seconds_done)  # an mp3's declared length is a guess
                progress.update(task_id, completed=state.seconds_done, total=total, visible=True)
                progress.refresh()  # windows come seconds apart: draw each at once

            try:
                return await service.transcribe(path, name=path, audio_progress=on_progress,
                                                word_timestamps=word_timestamps)
            finally:
                progress.remove_task(task_id)

    with progress:
        outcomes = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)

    code = EXIT_OK
    model_error_shown = False
    for path, outcome in zip(paths, outcomes, strict=True):
        if isinstance(outcome, Transcription):
            _print_result(outcome, path, as_json=as_json, several=len(paths) > 1, out=out)
            for written in write_formats(outcome, path, formats, Path(output_dir or "."),
                                         subtitles):
                print(f"wrote {written}", file=err)
        elif isinstance(outcome, ModelUnavailable | ModelLoadError):
            if not model_error_shown:  # every file fails the same way: say it once
                print(f"error: {outcome}", file=err)
                model_error_shown = True
            code = EXIT_NO_MODEL
        elif isinstance(outcome, AudioError):
            print(f"error: {outcome}", file=err)
            code = max(code, EXIT_BAD_AUDIO)
        elif isinstance(outcome, SpeechError | OSError | ValueError):
            print(f"error: {path}: {outcome}", file=err)
            code = max(code, EXIT_BAD_AUDIO)
        else:
            assert isinstance(outcome, BaseException)
            raise outcome
    return code


def audio_progress_bar(err: TextIO, *, show: bool | None = None) -> Progress:
    """A transient rich progress display on ``err`` for tasks counted in audio seconds.

    ``show``: None shows it only when ``err`` is a terminal; True always; False never.
    """
    # Shown on request: drawn as on a terminal even when ``err`` is not one (a pipe, a log).
    console = Console(file=err, stderr=err is sys.stderr, force_terminal=True if show else None)
    visible = console.is_terminal if show is None else show
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _AudioSecondsColumn(),
        _RealtimeColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not visible,
    )


class _AudioSecondsColumn(ProgressColumn):
    """Audio done / total, as m:ss (total "?" while the file has not declared one)."""

    def render(self, task: Task) -> Text:
        """The column's text for ``task``."""
        total = "?" if task.total is None else _clock(task.total)
        return Text(f"{_clock(task.completed)}/{total}", style="progress.download")


class _RealtimeColumn(ProgressColumn):
    """Audio seconds per wall second since the task started."""

    def render(self, task: Task) -> Text:
        """The column's text for ``task``."""
        elapsed = task.elapsed
        if not elapsed or not task.completed:
            return Text("?x realtime", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.1f}x realtime", style="progress.data.speed")


def _clock(seconds: float) -> str:
    """Seconds as h:mm:ss or m:ss."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def write_formats(result: Transcription, path: str, formats: Sequence[str],
                  output_dir: Path, subtitles: SubtitleOptions | None = None) -> list[Path]:
    """Write the transcription of ``path`` in each format to ``output_dir/<stem>.<format>``
    (subtitles laid out as ``subtitles`` says when the segments have word timings)."""
    from company.speech.formats import render_transcription

    written = []
    if formats:
        output_dir.mkdir(parents=True, exist_ok=True)
    for fmt in dict.fromkeys(formats):
        target = output_dir / f"{Path(path).stem}.{fmt}"
        text = render_transcription(fmt, result, options=subtitles)  # type: ignore[arg-type]
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _print_result(
    result: Transcription, path: str, *, as_json: bool, several: bool, out: TextIO
) -> None:
    """Print one transcription as text or as a JSON line."""
    if as_json:
        out.write(json.dumps(result.model_dump(mode="json", exclude={"windows"})) + "\n")
        return
    if several:
        out.write(f"# {path}\n")
    out.write(result.text + "\n")
    out.flush()
