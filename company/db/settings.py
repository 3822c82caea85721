"""QueueSettings: the ``queue`` section of the config (the database work queue)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QueueSettings(BaseModel):
    """How workers claim, hold and hand back work in the database queue."""

    model_config = ConfigDict(extra="forbid")

    lease_s: float = Field(default=30.0, gt=0.5, le=3600, description="a claim lasts this long "
                           "unless renewed; a dead worker's tasks are claimable after it")
    renew_every_s: float | None = Field(default=None, gt=0, description="None: lease_s / 3")
    poll_s: float = Field(default=1.0, gt=0, description="look for work at least this often "
                          "(PostgreSQL NOTIFY wakes a worker sooner)")
    grace_s: float = Field(default=10.0, ge=0, description="on SIGTERM, let runs finish this "
                           "long before handing their tasks back")
    audio_retention_s: float = Field(default=86400.0, ge=0, description="keep an uploaded "
                                     "voice note this long after its transcript is stored")
    max_attempts: int = Field(default=5, ge=1, description="a task whose worker died this "
                              "many times (each attempt a claim) fails instead of being "
                              "claimed again")
    transcribe_batch: int = Field(default=8, ge=1, le=256, description="voice notes one "
                                  "transcribe worker takes at once (their windows batch)")

    @property
    def renew_s(self) -> float:
        """How often a worker renews its leases."""
        return self.renew_every_s or self.lease_s / 3

    @classmethod
    def from_config(cls, queue: dict[str, Any] | None) -> QueueSettings:
        """Validate ``config.queue``."""
        return cls.model_validate(queue or {})
