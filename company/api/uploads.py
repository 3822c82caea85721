"""Streaming multipart uploads: the audio part goes to disk chunk by chunk (aiofiles), checked
against the size limit while it arrives; small text fields are collected in memory."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from company.api.errors import ApiError

AUDIO_FIELD = "audio"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
_TYPE_SUFFIX = {
    "audio/webm": ".webm", "video/webm": ".webm", "audio/ogg": ".ogg", "audio/opus": ".ogg",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac", "audio/flac": ".flac",
}


@dataclass
class SavedFile:
    """An uploaded file, on disk."""

    path: Path
    filename: str
    content_type: str
    size: int


@dataclass
class UploadForm:
    """A parsed multipart form: text fields and the audio file (if any)."""

    fields: dict[str, str] = field(default_factory=dict)
    audio: SavedFile | None = None


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


def multipart_boundary(request: Request) -> bytes:
    """The boundary of a multipart/form-data request, or a 415."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise ApiError(415, "send multipart/form-data with an 'audio' file field")
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
        self.size = 0


async def receive_form(
    request: Request, *, directory: Path, stem: str, max_file_bytes: int, max_field_bytes: int
) -> UploadForm:
    """Stream a multipart body: the ``audio`` part to ``directory/stem.<ext>``, fields to memory.

    Raises 413 as soon as the file passes ``max_file_bytes`` (or the fields ``max_field_bytes``),
    400 for a malformed or interrupted body, 415 when it is not multipart, 422 for two files.
    The partly written file is removed on every error.
    """
    boundary = multipart_boundary(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_file_bytes + max_field_bytes + 65536:
        raise ApiError(413, f"the upload is {int(declared)} bytes; the limit is "
                       f"{max_file_bytes} bytes of audio")
    form = UploadForm()
    collector = _Collector()
    parser = MultipartParser(boundary, collector.callbacks())
    state: dict[str, Any] = {"part": None, "fields": 0, "ended": False}
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError(400, f"malformed multipart body: {exc}") from exc
            await _drain(collector, state, form, directory, stem, max_file_bytes,
                         max_field_bytes)
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(400, f"malformed multipart body: {exc}") from exc
        await _drain(collector, state, form, directory, stem, max_file_bytes, max_field_bytes)
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
    max_file_bytes: int, max_field_bytes: int,
) -> None:
    events, collector.events = collector.events, []
    for kind, value in events:
        part: _Part | None = state["part"]
        if kind == "begin":
            state["part"] = _Part()
        elif kind == "header" and part is not None:
            part.headers[value[0]] = value[1]
        elif kind == "headers" and part is not None:
            await _open_part(part, form, directory, stem)
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


async def _open_part(part: _Part, form: UploadForm, directory: Path, stem: str) -> None:
    disposition, params = parse_options_header(part.headers.get(b"content-disposition", b""))
    if disposition != b"form-data" or b"name" not in params:
        raise ApiError(400, "malformed multipart body: a part has no form-data name")
    part.name = params[b"name"].decode("utf-8", "replace")
    raw_filename = params.get(b"filename")
    part.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
    part.content_type = part.headers.get(b"content-type", b"").decode("latin-1")
    if part.name != AUDIO_FIELD:
        return
    if form.audio is not None:
        raise ApiError(422, "send one 'audio' file, not several")
    filename = safe_filename(part.filename or "")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}{audio_suffix(filename, part.content_type)}"
    part.filename = filename
    part.path = path
    part.file = await aiofiles.open(path, "wb")


async def _close_part(part: _Part, form: UploadForm) -> None:
    if part.file is not None:
        await part.file.close()
        assert part.path is not None
        form.audio = SavedFile(path=part.path, filename=part.filename or "audio",
                               content_type=part.content_type, size=part.size)
        part.file = None
        return
    if part.filename is not None:
        return
    try:
        form.fields[part.name] = bytes(part.buffer).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"the field {part.name!r} is not UTF-8 text") from exc
