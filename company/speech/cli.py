"""``transcribe FILE...``: transcribe audio files with the shared Whisper service."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from company.speech.errors import AudioError, ModelLoadError, ModelUnavailable, SpeechError
from company.speech.results import Transcription
from company.speech.service import WhisperService, get_service
from company.speech.settings import WhisperSettings

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
) -> int:
    """Transcribe ``paths`` (concurrently, so their windows share batches) and print the results.

    Prints the text of each file (with a ``# path`` header when there are several), or one JSON
    object per line with ``as_json``. Errors are one line each on stderr (a missing model once).
    Returns 0 when every file was transcribed, 1 when some audio was bad, 2 when the model is
    unavailable.
    """
    return asyncio.run(
        transcribe_files(paths, service=get_service(settings), as_json=as_json, out=out, err=err)
    )


async def transcribe_files(
    paths: list[str],
    *,
    service: WhisperService,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The async body of ``transcribe_command``, for callers already inside an event loop."""
    out = out or sys.stdout
    err = err or sys.stderr
    console = Console(file=err, stderr=err is sys.stderr)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    limit = asyncio.Semaphore(max(2, service.settings.batch_size * 2))

    async def one(path: str) -> Transcription:
        task_id = None

        def on_progress(done: int, total: int) -> None:
            nonlocal task_id
            if total <= 1:  # short files finish in one batch: no bar
                return
            if task_id is None:
                task_id = progress.add_task(path, total=total)
            progress.update(task_id, completed=done)

        async with limit:
            try:
                return await service.transcribe(path, name=path, progress=on_progress)
            finally:
                if task_id is not None:
                    progress.remove_task(task_id)

    with progress:
        outcomes = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)

    code = EXIT_OK
    model_error_shown = False
    for path, outcome in zip(paths, outcomes, strict=True):
        if isinstance(outcome, Transcription):
            _print_result(outcome, path, as_json=as_json, several=len(paths) > 1, out=out)
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
