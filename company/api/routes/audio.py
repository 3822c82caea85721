"""OpenAI-compatible speech recognition: ``POST /v1/audio/transcriptions`` and
``POST /v1/audio/translations``, answered by this process's batched Whisper service.

Decisions (also in the OpenAPI docs):

- ``model``: required, as OpenAI's API has it. "whisper-1" and the name of the configured
  model (its file stem for a checkpoint path) are accepted, and all of them are served by the
  configured Whisper service; any other name is a 400 naming the accepted ones (this server
  never loads a second model per request).
- ``prompt`` and ``temperature``: accepted and validated, then ignored: the service takes no
  initial prompt and decodes at its configured temperature (``speech.temperature``).
- ``language``: an ISO-639-1 code (or Whisper's English name of a language); detected when
  absent. The translations route takes it too, as the spoken language.
- translations run the same model with Whisper's ``translate`` task; ``WhisperService`` has no
  per-request task, so they go to a second service of the same settings with
  ``task="translate"`` (a second copy of the model, loaded on the first translation).
- ``timestamp_granularities[]=word`` (with ``verbose_json``) decodes word timings for that
  request (Whisper's cross-attention alignment, as ``transcribe(word_timestamps=True)``).
- Uploads stream to a temporary folder with the limits of ``POST /v1/tasks/voice`` and are
  decoded once, with the API's audio limits (``api.max_upload_bytes``, ``max_audio_seconds``).
- Every error answers in OpenAI's shape (``company.api.openai_errors``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import ValidationError

from company.api.auth import require_key
from company.api.openai_errors import OpenAIError, OpenAIRoute
from company.api.routes.tasks import multipart_body
from company.api.schemas import (
    AUDIO_RESPONSE_FORMATS,
    TEXT_EXAMPLE,
    VERBOSE_EXAMPLE,
    AudioOptions,
    AudioUsage,
    OpenAIErrorBody,
    TranscriptionForm,
    TranscriptionOptions,
    TranscriptionText,
    TranslationForm,
    VerboseTranscriptionOut,
)
from company.api.settings import ApiSettings
from company.api.state import ApiState, api_state
from company.api.uploads import SavedFile, UploadLimits, receive_form
from company.api.voice import audio_error_status

if TYPE_CHECKING:
    import numpy as np

    from company.speech import Transcription, WhisperService

router = APIRouter(prefix="/v1/audio", tags=["audio"], route_class=OpenAIRoute,
                   dependencies=[Depends(require_key)])

State = Annotated[ApiState, Depends(api_state)]
Task = Literal["transcribe", "translate"]
OPENAI_MODEL = "whisper-1"
FILE_FIELD = "file"

_SRT_EXAMPLE = "1\n00:00:00,000 --> 00:00:02,400\nBook a meeting room for Thursday.\n\n"
_VTT_EXAMPLE = "WEBVTT\n\n00:00.000 --> 00:02.400\nBook a meeting room for Thursday.\n\n"


def _responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI answers: the five response formats, and the errors in OpenAI's shape."""
    ok = {"description": "the transcript in ``response_format``: json and verbose_json as "
          "JSON, text as plain text, srt and vtt as subtitles", "content": {
              "application/json": {"examples": {"json": {"value": TEXT_EXAMPLE},
                                                "verbose_json": {"value": VERBOSE_EXAMPLE}}},
              "text/plain": {"schema": {"type": "string"},
                             "example": "Book a meeting room for Thursday.\n"},
              "application/x-subrip": {"schema": {"type": "string"}, "example": _SRT_EXAMPLE},
              "text/vtt": {"schema": {"type": "string"}, "example": _VTT_EXAMPLE}}}
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": OpenAIErrorBody, "description": why} for code, why in (
            (400, "a bad field, a corrupt, empty or silent recording, or a malformed form"),
            (401, "a missing or wrong API key"),
            (408, "the upload stalled"),
            (413, "the upload or the audio is over the server's limits"),
            (415, "not multipart/form-data, or the file is not audio"),
            (422, "two files, or a field that is not UTF-8"),
            (503, "the Whisper model is unavailable, or the server is shutting down"))}
    return {200: ok, **errors}


@router.post("/transcriptions", response_model=TranscriptionText | VerboseTranscriptionOut,
             responses=_responses(), openapi_extra=multipart_body(TranscriptionForm),
             summary="Transcribe audio (OpenAI-compatible)")
async def create_transcription(request: Request, api: State) -> Response:
    """Transcribe a recording in its own language, like OpenAI's ``/v1/audio/transcriptions``
    (the ``openai`` client works with ``base_url=<this server>/v1``). ``response_format``:
    json (default), text, srt, vtt or verbose_json."""
    return await _answer_upload(request, api, "transcribe")


@router.post("/translations", response_model=TranscriptionText | VerboseTranscriptionOut,
             responses=_responses(), openapi_extra=multipart_body(TranslationForm),
             summary="Translate audio into English (OpenAI-compatible)")
async def create_translation(request: Request, api: State) -> Response:
    """Transcribe a recording into English text (Whisper's translate task), like OpenAI's
    ``/v1/audio/translations``; same fields and formats as transcriptions."""
    return await _answer_upload(request, api, "translate")


async def _answer_upload(request: Request, api: ApiState, task: Task) -> Response:
    """Receive the form, check it, transcribe the file, answer in the asked format."""
    if api.pool.stopping:
        raise OpenAIError(503, "the server is shutting down; try again shortly",
                          headers={"Retry-After": "5"})
    directory = Path(tempfile.mkdtemp(prefix="company-audio-"))
    try:
        form = await receive_form(request, directory=directory, stem="audio",
                                  limits=UploadLimits.from_settings(api.settings),
                                  file_field=FILE_FIELD)
        options = parse_options(form.fields, form.values, task)
        if form.audio is None:
            raise OpenAIError(400, "the form needs a 'file' field with the recording",
                              param=FILE_FIELD, code="missing_file")
        service = _service(api, task)
        check_model(options.model, service)
        language = check_language(options.language)
        granularities = getattr(options, "timestamp_granularities", ["segment"])
        words = options.response_format == "verbose_json" and "word" in granularities
        samples = await decode_upload(form.audio, api.settings, api.decodes)
        result = await _transcribe(service, samples, language, form.audio.filename, words)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return answer(result, options.response_format, task=task,
                  temperature=service.settings.temperature, granularities=granularities)


def parse_options(fields: dict[str, str], values: dict[str, list[str]], task: Task
                  ) -> AudioOptions:
    """The text fields as options (400 naming the field at fault)."""
    model = TranscriptionOptions if task == "transcribe" else AudioOptions
    data: dict[str, Any] = {k: v for k, v in fields.items() if k != "model" or v.strip()}
    if "timestamp_granularities[]" in values:
        data["timestamp_granularities[]"] = values["timestamp_granularities[]"]
    try:
        options = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "missing" and param == "model":
            raise OpenAIError(400, "you must provide a model parameter ('whisper-1')",
                              param="model", code="missing_required_parameter") from exc
        message = str(first["msg"]).removeprefix("Value error, ")
        if param and param not in message:
            message = f"{param}: {message}"
        raise OpenAIError(400, message, param=param, code="invalid_value") from exc
    return options


def _service(api: ApiState, task: Task) -> WhisperService:
    """The process's Whisper service for ``task`` (the configured one, or its translate twin)."""
    from company.speech import get_service

    base: WhisperService = api.company.services.speech()
    if base.settings.task == task:
        return base
    return get_service(base.settings.model_copy(update={"task": task}))


def served_names(service: WhisperService) -> list[str]:
    """The model names a request may give: OpenAI's, and the configured model's short name."""
    from company.speech.model_loader import known_models

    name = service.settings.resolved_model()
    short = name if name in known_models() else Path(name).name.removesuffix(".pt")
    return [OPENAI_MODEL, short]


def check_model(model: str, service: WhisperService) -> None:
    """Accept 'whisper-1' and the configured model's name (400 naming them otherwise)."""
    names = served_names(service)
    if model not in names and model != service.settings.resolved_model():
        raise OpenAIError(400, f"model {model!r} is not served here; use one of "
                          f"{', '.join(names)} (all run this server's Whisper model)",
                          param="model", code="model_not_found")


def check_language(language: str | None) -> str | None:
    """Whisper's code for ``language`` (a code or an English name), or 400."""
    if language is None:
        return None
    from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE

    key = language.lower()
    if key in LANGUAGES:
        return key
    if key in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[key]
    raise OpenAIError(400, f"language {language!r} is not one Whisper knows; give an ISO-639-1 "
                      "code such as 'en' or 'de', or leave it out to detect it",
                      param="language", code="invalid_value")


async def decode_upload(saved: SavedFile, settings: ApiSettings, slots: asyncio.Semaphore
                        ) -> np.ndarray:
    """Decode the upload off the event loop with the API's audio limits (as the voice route
    checks its uploads); 400, 413 or 415 in OpenAI's shape for bad audio."""
    from company.speech.audio import AudioLimits, decode_audio
    from company.speech.errors import AudioError

    limits = AudioLimits(max_bytes=settings.max_upload_bytes,
                         max_seconds=settings.max_audio_seconds)
    async with slots:
        try:
            return await asyncio.to_thread(decode_audio, saved.path, limits=limits,
                                           name=saved.filename)
        except AudioError as exc:
            raise _audio_error(exc) from exc


async def _transcribe(service: WhisperService, samples: np.ndarray, language: str | None,
                      name: str, words: bool = False) -> Transcription:
    """The service's transcription of decoded samples (with word timings when ``words``);
    speech errors in OpenAI's shape."""
    from company.speech.errors import AudioError, ModelLoadError, ModelUnavailable, ServiceClosed

    try:
        return await service.transcribe(samples, language=language, name=name,
                                        word_timestamps=words or None)
    except AudioError as exc:
        raise _audio_error(exc) from exc
    except (ModelUnavailable, ModelLoadError, ServiceClosed) as exc:
        raise OpenAIError(503, f"the Whisper model is unavailable: {exc}",
                          code="model_unavailable") from exc


def _audio_error(exc: Exception) -> OpenAIError:
    """An ``AudioError`` as a 400/413/415 naming the file field, coded by its class."""
    code = "".join(f"_{c.lower()}" if c.isupper() else c for c in type(exc).__name__)
    return OpenAIError(audio_error_status(exc), str(exc), param=FILE_FIELD, code=code[1:])


def answer(result: Transcription, response_format: str, *, task: Task, temperature: float,
           granularities: list[str]) -> Response:
    """The transcription in ``response_format`` (one of ``AUDIO_RESPONSE_FORMATS``)."""
    from company.speech.formats import (
        MEDIA_TYPES,
        WordsUnavailable,
        render,
        timed_segments,
        verbose_json,
    )

    assert response_format in AUDIO_RESPONSE_FORMATS
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    if response_format in ("srt", "vtt"):
        text = render(response_format, timed_segments(result))  # type: ignore[arg-type]
        return Response(text, media_type=MEDIA_TYPES[response_format])
    if response_format == "json":
        body = TranscriptionText(text=result.text,
                                 usage=AudioUsage(seconds=round(result.duration_s, 3)))
        return JSONResponse(body.model_dump(exclude_none=True))
    try:
        verbose = verbose_json(result, task=task, temperature=temperature,
                               granularities=granularities)
    except WordsUnavailable as exc:
        raise OpenAIError(400, str(exc), param="timestamp_granularities",
                          code="unsupported_value") from exc
    return JSONResponse(verbose.model_dump(exclude_none=True))
