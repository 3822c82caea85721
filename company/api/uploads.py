"""Streaming multipart uploads: the audio part goes to disk chunk by chunk (aiofiles), checked
against the size limit while it arrives; small text fields are collected in memory.

The audio is written under a temporary name (``.voice.wav.<pid>.part``) and renamed to its
final name by ``SavedFile.commit`` once the task row that points at it exists; a killed server
leaves only temporary names, which ``company.api.orphans`` sweeps on the next start.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from company.api.errors import ApiError
from company.api.settings import ApiSettings

AUDIO_FIELD = "audio"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
TEMP_NAME = re.compile(r"^\.(?P<final>[^/]+)\.(?P<pid>\d{1,10})\.part$")
"""A file being received: ``.<final name>.<pid of the writing process>.part``."""
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for boundaries and part headers on top of the audio and text-field limits."""
_TYPE_SUFFIX = {
    "audio/webm": ".webm", "video/webm": ".webm", "audio/ogg": ".ogg", "audio/opus": ".ogg",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac", "audio/flac": ".flac",
}


class UploadLimits(BaseModel):
    """What one multipart upload may carry."""

    model_config = ConfigDict(frozen=True)

    max_file_bytes: int = Field(gt=0, description="the audio file")
    max_field_bytes: int = Field(gt=0, description="the text fields together")
    max_parts: int = Field(default=16, ge=1, description="parts (fields and files)")
    max_name_bytes: int = Field(default=100, ge=1, description="one field name")

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> UploadLimits:
        """The limits the API settings give."""
        return cls(max_file_bytes=settings.max_upload_bytes,
                   max_field_bytes=settings.max_field_bytes,
                   max_parts=settings.max_form_parts,
                   max_name_bytes=settings.max_field_name_bytes)

    @property
    def max_body_bytes(self) -> int:
        """The whole body: audio, text fields, and room for boundaries and headers."""
        return self.max_file_bytes + self.max_field_bytes + FORM_OVERHEAD_BYTES

    def too_large(self) -> ApiError:
        """The 413 for a body over ``max_body_bytes``."""
        return ApiError(413, f"the upload is larger than the limit of {self.max_body_bytes} bytes "
                        f"(audio up to {self.max_file_bytes} bytes, text fields up to "
                        f"{self.max_field_bytes} bytes)")


def temp_name(final_name: str, pid: int | None = None) -> str:
    """The name a file has while it is received by process ``pid`` (default: this one)."""
    return f".{final_name}.{os.getpid() if pid is None else pid}.part"


@dataclass
class SavedFile:
    """An uploaded file, on disk under ``path``; ``final`` is where ``commit`` moves it."""

    path: Path
    filename: str
    content_type: str
    size: int
    final: Path | None = None

    @property
    def final_path(self) -> Path:
        """Where the file will be once committed (what the task row should name)."""
        return self.final or self.path

    def commit(self) -> Path:
        """Give the file its final name (call once the task row that names it exists)."""
        if self.final is not None and self.path != self.final:
            os.replace(self.path, self.final)
            self.path = self.final
        return self.path


@dataclass
class UploadForm:
    """A parsed multipart form: text fields and the audio file (if any)."""

    fields: dict[str, str] = field(default_factory=dict)
    audio: SavedFile | None = None
    values: dict[str, list[str]] = field(default_factory=dict)
    """Every value of each text field, in order (``fields`` keeps the last; ``name[]`` lists)."""


def safe_filename(name: str) -> str:
    """The client's file name without directories or odd characters (for messages only)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _SAFE_NAME.sub("_", base).strip(" .")[:100] or "audio"


def audio_suffix(filename: str, content_type: str) -> str:
    """A short lowercase extension for the stored file, from the name or the content type."""
    suffix = Path(filename).suffix.lower()
    if _SUFFIX.match(suffix):
        return suffix
    return _TYPE_SUFFIX.get(content_type.split(";")[0].strip().lower(), ".audio")


def multipart_boundary(request: Request, file_field: str = AUDIO_FIELD) -> bytes:
    """The boundary of a multipart/form-data request, or a 415."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise ApiError(415, f"send multipart/form-data with the {file_field!r} file field")
    return boundary


class _Collector:
    """Turns the parser's callbacks into a list of events, drained after each chunk."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._name = b""
        self._value = b""

    def callbacks(self) -> dict[str, Any]:
        """The callbacks for python_multipart's MultipartParser."""
        return {
            "on_part_begin": lambda: self.events.append(("begin", None)),
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.events.append(("headers", None)),
            "on_part_data": lambda data, start, end: self.events.append(
                ("data", bytes(data[start:end]))),
            "on_part_end": lambda: self.events.append(("end", None)),
            "on_end": lambda: self.events.append(("finished", None)),
        }

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self.events.append(("header", (self._name.strip().lower(), self._value.strip())))
        self._name = self._value = b""


class _Part:
    """The part being received."""

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.filename: str | None = None
        self.content_type = ""
        self.buffer = bytearray()
        self.file: Any = None
        self.path: Path | None = None
        self.final: Path | None = None
        self.size = 0


async def receive_form(
    request: Request, *, directory: Path, stem: str, limits: UploadLimits,
    file_field: str = AUDIO_FIELD,
) -> UploadForm:
    """Stream a multipart body: the ``file_field`` part (``audio``) to ``directory`` under a
    temporary name (its final name ``stem.<ext>`` once committed), text fields to memory.

    Raises 413 as soon as the file, the text fields, the part count or the whole body passes
    its limit (chunked bodies included), 400 for a malformed or interrupted body or an
    over-long field name, 415 when it is not multipart, 422 for two files.
    The partly written file is removed on every error.
    """
    boundary = multipart_boundary(request, file_field)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise limits.too_large()
    form = UploadForm()
    collector = _Collector()
    parser = MultipartParser(boundary, collector.callbacks())
    state: dict[str, Any] = {"part": None, "fields": 0, "parts": 0, "ended": False,
                             "file_field": file_field}
    received = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError(400, f"malformed multipart body: {exc}") from exc
            await _drain(collector, state, form, directory, stem, limits)  # the precise 413s
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise limits.too_large()
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(400, f"malformed multipart body: {exc}") from exc
        await _drain(collector, state, form, directory, stem, limits)
        if state["part"] is not None or not state["ended"]:
            raise ApiError(400, "the multipart body is truncated (no closing boundary)")
    except ClientDisconnect as exc:
        await _abort(state, form)
        raise ApiError(400, "the upload was interrupted") from exc
    except BaseException:
        await _abort(state, form)
        raise
    return form


async def _abort(state: dict[str, Any], form: UploadForm) -> None:
    part: _Part | None = state.get("part")
    if part is not None and part.file is not None:
        with contextlib.suppress(OSError):
            await part.file.close()
    if form.audio is not None:
        form.audio.path.unlink(missing_ok=True)
    if part is not None and part.path is not None:
        part.path.unlink(missing_ok=True)


async def _drain(
    collector: _Collector, state: dict[str, Any], form: UploadForm, directory: Path, stem: str,
    limits: UploadLimits,
) -> None:
    max_file_bytes, max_field_bytes = limits.max_file_bytes, limits.max_field_bytes
    events, collector.events = collector.events, []
    for kind, value in events:
        part: _Part | None = state["part"]
        if kind == "begin":
            state["parts"] += 1
            if state["parts"] > limits.max_parts:
                raise ApiError(413, f"the form has more than {limits.max_parts} parts")
            state["part"] = _Part()
        elif kind == "header" and part is not None:
            part.headers[value[0]] = value[1]
        elif kind == "headers" and part is not None:
            await _open_part(part, form, directory, stem, limits, state["file_field"])
        elif kind == "data" and part is not None:
            part.size += len(value)
            if part.file is not None:
                if part.size > max_file_bytes:
                    raise ApiError(413, f"the audio is larger than the limit of "
                                   f"{max_file_bytes} bytes")
                await part.file.write(value)
            elif part.filename is None:
                state["fields"] += len(value)
                if state["fields"] > max_field_bytes:
                    raise ApiError(413, f"the form's text fields exceed {max_field_bytes} bytes")
                part.buffer += value
            elif part.size > max_file_bytes:  # another file: discarded, but bounded
                raise ApiError(413, f"the part {part.name!r} is larger than {max_file_bytes} bytes")
        elif kind == "end" and part is not None:
            await _close_part(part, form)
            state["part"] = None
        elif kind == "finished":
            state["ended"] = True


async def _open_part(
    part: _Part, form: UploadForm, directory: Path, stem: str, limits: UploadLimits,
    file_field: str = AUDIO_FIELD,
) -> None:
    disposition, params = parse_options_header(part.headers.get(b"content-disposition", b""))
    if disposition != b"form-data" or b"name" not in params:
        raise ApiError(400, "malformed multipart body: a part has no form-data name")
    if len(params[b"name"]) > limits.max_name_bytes:
        raise ApiError(400, f"a form field name is longer than {limits.max_name_bytes} bytes "
                       f"({params[b'name'][:40].decode('utf-8', 'replace')!r}...)")
    part.name = params[b"name"].decode("utf-8", "replace")
    raw_filename = params.get(b"filename")
    part.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
    part.content_type = part.headers.get(b"content-type", b"").decode("latin-1")
    if part.name != file_field:
        return
    if form.audio is not None:
        raise ApiError(422, f"send one {file_field!r} file, not several")
    filename = safe_filename(part.filename or "")
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{stem}{audio_suffix(filename, part.content_type)}"
    part.filename = filename
    part.final = final
    part.path = directory / temp_name(final.name)
    part.file = await aiofiles.open(part.path, "wb")


async def _close_part(part: _Part, form: UploadForm) -> None:
    if part.file is not None:
        await part.file.close()
        assert part.path is not None
        form.audio = SavedFile(path=part.path, filename=part.filename or "audio",
                               content_type=part.content_type, size=part.size, final=part.final)
        part.file = None
        return
    if part.filename is not None:
        return
    try:
        value = bytes(part.buffer).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"the field {part.name!r} is not UTF-8 text") from exc
    form.fields[part.name] = value
    form.values.setdefault(part.name, []).append(value)
