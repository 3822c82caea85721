"""Request sets: JSONL files of requests with the expectations a run must meet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from company.research.errors import ResearchInputError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Expect(BaseModel):
    """Checks a run must pass to count as a success (no LLM judge needed)."""

    model_config = ConfigDict(extra="forbid")

    graphs: list[str] = Field(default_factory=list, description="each ran and succeeded")
    failed_graphs: list[str] = Field(default_factory=list,
                                     description="each ran and did not succeed")
    graphs_none: bool = Field(default=False, description="no graph may run at all")
    report_contains: list[str] = Field(default_factory=list, description="every one appears")
    report_contains_any: list[str] = Field(default_factory=list,
                                           description="at least one appears")
    outputs_contain: list[Any] = Field(default_factory=list)
    max_rounds: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        if self.graphs_none and (self.graphs or self.failed_graphs or self.outputs_contain):
            raise ValueError("graphs_none: true cannot be met together with graphs, "
                             "failed_graphs or outputs_contain")
        return self


class ResearchRequest(BaseModel):
    """One line of a request set."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    request: str = ""
    audio: str | None = None
    speak: str | None = Field(default=None, description="words of a voice note made at run "
                              "time with espeak-ng (instead of an 'audio' file)")
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _something_to_do(self) -> ResearchRequest:
        if self.speak is not None and not self.speak.strip():
            raise ValueError("'speak' is empty: give the words the voice note says")
        if self.speak and self.audio:
            raise ValueError("give 'speak' (words to synthesize) or 'audio' (a file), not both")
        if not self.request.strip() and not self.audio and not self.speak:
            raise ValueError("give a non-empty 'request', an 'audio' file or 'speak' words")
        return self

    def as_text(self) -> str:
        """The request as a reader sees it: the voice note's words (if known), then typed text."""
        parts = [f"(voice note) {self.speak.strip()}" if self.speak else
                 "(voice note)" if self.audio else "", self.request.strip()]
        return "\n".join(p for p in parts if p)


class RequestSet(BaseModel):
    """A validated request file."""

    path: str
    digest: str
    requests: list[ResearchRequest]
    lines: dict[str, int] = Field(default_factory=dict)

    def audio_path(self, request: ResearchRequest) -> Path | None:
        """The request's audio file, resolved beside the request file."""
        if not request.audio:
            return None
        path = Path(request.audio)
        return path if path.is_absolute() else Path(self.path).parent / path


def load_requests(path: str | Path) -> RequestSet:
    """Read and validate a JSONL request file; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ResearchInputError(f"{path}: no such request file")
    text = path.read_text(encoding="utf-8")
    found: list[ResearchRequest] = []
    first_line: dict[str, int] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{number}: not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        try:
            request = ResearchRequest.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(line)"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown field {err['loc'][-1]!r}"
                problems.append(f"{path}:{number}: {loc}: {msg}")
            continue
        if request.id in first_line:
            problems.append(f"{path}:{number}: id {request.id!r} is already used on line "
                            f"{first_line[request.id]}")
            continue
        first_line[request.id] = number
        found.append(request)
    result = RequestSet(path=str(path.resolve()), digest="", requests=found, lines=first_line)
    digest = hashlib.sha256(text.encode())
    for request in found:
        audio = result.audio_path(request)
        if audio is None:
            continue
        if not audio.is_file():
            problems.append(f"{path}:{first_line[request.id]}: audio: no such file {audio}")
            continue
        # the audio is part of the set: a changed recording is a changed set
        digest.update(f"\0{request.id}\0".encode() + hashlib.sha256(audio.read_bytes()).digest())
    result.digest = digest.hexdigest()[:16]
    if not problems and not found:
        problems.append(f"{path}: no requests (one JSON object per line)")
    if problems:
        raise ResearchInputError("\n".join(problems))
    return result


def check_graph_names(requests: RequestSet, known: set[str]) -> None:
    """Every graph an expectation names must be in the catalogue (else it can never pass)."""
    problems = [
        f"{requests.path}:{requests.lines.get(r.id, 0)}: expect.{field}: unknown graph {g!r}"
        f" (catalogue: {', '.join(sorted(known))})"
        for r in requests.requests
        for field, names in (("graphs", r.expect.graphs), ("failed_graphs", r.expect.failed_graphs))
        for g in names if g not in known
    ]
    if problems:
        raise ResearchInputError("\n".join(problems))
