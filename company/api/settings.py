"""ApiSettings: the ``api`` section of the config (host, port, limits, key)."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_KEY_ENV = "COMPANY_API_KEY"


class ApiSettings(BaseModel):
    """How the HTTP shim listens, whom it lets in and how much work it accepts."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    api_key: str | None = Field(default=None, description=f"None: ${API_KEY_ENV}, else no auth")
    max_concurrent_runs: int = Field(default=4, ge=1, le=1024)
    max_queue: int = Field(default=100, ge=0, le=1_000_000)
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_audio_seconds: float = Field(default=600.0, gt=0)
    max_field_bytes: int = Field(default=256 * 1024, ge=1024, description="non-file form fields")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="JSON request bodies")
    max_form_parts: int = Field(default=16, ge=2, le=1000, description="parts of one upload form")
    max_field_name_bytes: int = Field(default=100, ge=8, le=4096,
                                      description="one form field's name")
    body_idle_timeout_s: float = Field(default=30.0, gt=0, description="408 when a request body "
                                       "sends nothing for this long")
    body_timeout_s: float = Field(default=300.0, gt=0, description="408 when a request body "
                                  "takes longer than this in all")
    max_concurrent_decodes: int = Field(default=2, ge=1)
    shutdown_grace_s: float = Field(default=10.0, ge=0, description="let running rounds finish")
    keepalive_s: float = Field(default=15.0, gt=0, description="SSE comment ping interval")
    poll_s: float = Field(default=0.25, gt=0, description="SSE polling of runs in other workers")

    # what the API returns and replays: previews cut with a marker; the full values stay one
    # explicit request away (GET /v1/tasks/{id}/messages/{seq}, GET /v1/tasks/{id}/report)
    max_view_chars: int = Field(default=16 * 1024, ge=256, description="longest string shown "
                                "(message content, a payload value, report, error, SSE values)")
    max_view_message_bytes: int = Field(default=64 * 1024, ge=4096, description="one message "
                                        "in GET /v1/tasks/{id}, or one SSE event's data")
    max_view_task_bytes: int = Field(default=1024 * 1024, ge=65536, description="the messages "
                                     "of GET /v1/tasks/{id} together; older ones become markers")

    @field_validator("host")
    @classmethod
    def _unbracket(cls, value: str) -> str:
        """``[::1]`` (URL form) -> ``::1``, what a socket binds to."""
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        return value

    @classmethod
    def from_config(cls, api: dict[str, Any] | None) -> ApiSettings:
        """Validate ``config.api``; the key falls back to $COMPANY_API_KEY."""
        settings = cls.model_validate(api or {})
        if not settings.api_key:
            key = os.environ.get(API_KEY_ENV, "").strip()
            settings = settings.model_copy(update={"api_key": key or None})
        return settings


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
