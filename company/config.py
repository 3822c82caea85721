"""Configuration: config/config.yaml, then environment variables, then flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from company.db.target import DatabaseTarget, resolve_target
from company.llm.bounds import DEFAULT_CALL_DEADLINE_S, CallBounds, merge_answer_tokens
from company.llm.embedded import EmbeddedSettings
from company.llm.providers import check_provider
from company.llm.usage import Price

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
DEFAULT_CONFIG = CONFIG_DIR / "config.yaml"


class LLMSettings(BaseModel):
    """Which model server and model, and how to call it."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(default="auto", description="auto, or a row of the provider table "
                          "(company/llm/providers.py)")
    model: str = "qwen2.5"
    host: str | None = None
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    probe_timeout_s: float = Field(default=1.5, gt=0, description="auto: wait this long for "
                                   "an Ollama server before choosing the embedded model")
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(default=120.0, gt=0, description="HTTP limit of a model server "
                             "(ollama, openai): a call ends at this or call_deadline_s, "
                             "whichever comes first")
    max_retries: int = 2
    max_answer_tokens: dict[str, int] = Field(
        default_factory=lambda: merge_answer_tokens(None),
        description="answer-token bound per action name, else 'default'; entries given "
                    "replace the shipped ones (company/llm/bounds.py)")
    context_tokens: int | None = Field(default=None, ge=512, description="the context one "
                                       "request gets; None: the provider's own "
                                       "(company/llm/tokens.py)")
    call_deadline_s: float = Field(default=DEFAULT_CALL_DEADLINE_S, gt=0, description="the "
                                   "most one model call (one attempt) may take, any provider")
    cache: Literal["off", "record", "replay", "auto"] = "off"
    pull_missing: bool = True
    options: dict[str, Any] = Field(default_factory=lambda: {"temperature": 0})
    prices: dict[str, Price] = Field(default_factory=dict)
    force_model: bool = False  # set by --llm / COMPANY_LLM: the model beats an SOP's own choice

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        """``auto`` or a provider of the table; the error names the known ones."""
        return check_provider(value)

    @field_validator("max_answer_tokens", mode="before")
    @classmethod
    def _bounds_over_defaults(cls, value: Any) -> Any:
        """Entries given replace the shipped bounds; the others (and ``default``) stay."""
        return merge_answer_tokens(value)

    def bounds(self) -> CallBounds:
        """The answer-token bounds and call deadline the LLM facade applies."""
        return CallBounds(max_answer_tokens=self.max_answer_tokens,
                          call_deadline_s=self.call_deadline_s)

    def resolved_host(self) -> str:
        """The server address: configured, else OLLAMA_HOST, else the local default."""
        if self.host:
            return self.host
        if self.provider in ("ollama", "auto"):
            env = os.environ.get("OLLAMA_HOST", "").strip()
            if env:
                return env if "://" in env else f"http://{env}"
            return "http://127.0.0.1:11434"
        return "http://127.0.0.1:8000/v1"


class Limits(BaseModel):
    """How long and how expensive a run may be."""

    model_config = ConfigDict(extra="forbid")

    n_round: int = Field(default=8, ge=1)
    investment: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, gt=0)
    max_llm_calls: int | None = Field(default=40, gt=0)
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="one "
                                   "message's content plus payload; a larger one fails its role")


class AppConfig(BaseModel):
    """Everything configurable, one section per part."""

    model_config = ConfigDict(extra="forbid")

    workspace: Path = Path("workspace")
    sop: str = "default"
    llm: LLMSettings = Field(default_factory=LLMSettings)
    limits: Limits = Field(default_factory=Limits)
    graphs: dict[str, Any] = Field(default_factory=dict)
    speech: dict[str, Any] = Field(default_factory=dict)
    api: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    realtime: dict[str, Any] = Field(default_factory=dict, description="the /v1/realtime voice "
                                     "sessions (company/realtime/settings.py)")
    store: str | None = Field(default=None, description="null: SQLite at "
                              "<workspace>/company.db; else a path, sqlite:///PATH or "
                              "postgresql://USER:PW@HOST:5432/DB ($COMPANY_DATABASE_URL wins)")
    queue: dict[str, Any] = Field(default_factory=dict, description="the database work queue "
                                  "(company/db/settings.py QueueSettings): leases, polling, "
                                  "audio retention")

    @property
    def database(self) -> DatabaseTarget:
        """Where the store lives: $COMPANY_DATABASE_URL, else ``store``, else the workspace's
        SQLite file."""
        return resolve_target(self.store, self.workspace)

    @property
    def store_location(self) -> Path | str:
        """What ``Store`` opens: the SQLite file's path, or the PostgreSQL URL."""
        target = self.database
        return target.path if target.path is not None else str(target.url)

    @property
    def store_path(self) -> Path:
        """The SQLite database file (``<workspace>/company.db`` unless ``store`` names
        another; with PostgreSQL, where a SQLite store would be)."""
        target = self.database
        return target.path if target.path is not None else self.workspace / "company.db"


def load_config(path: str | Path | None = None) -> AppConfig:
    """Read the YAML config (default config/config.yaml) and apply environment overrides."""
    config_path = Path(path) if path else DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if config_path.exists():
        data = yaml.safe_load(config_path.read_text()) or {}
    config = AppConfig.model_validate(data)
    if not config.workspace.is_absolute() and path is None:
        config.workspace = Path(os.environ.get("COMPANY_WORKSPACE", "") or config.workspace)
    if os.environ.get("COMPANY_LLM"):
        from company.llm.spec import parse_llm_spec

        apply_llm_spec(config, parse_llm_spec(os.environ["COMPANY_LLM"]))
    return config


def apply_llm_spec(config: AppConfig, spec: Any) -> None:
    """Point the config at the provider, model and host of an ``--llm`` spec."""
    if spec.provider != config.llm.provider:
        config.llm.host = None
    config.llm.provider = spec.provider
    config.llm.model = spec.model
    config.llm.force_model = True
    if spec.host:
        config.llm.host = spec.host
