"""Run result models shared by the local runner and the remote AutoGPT client."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum, StrEnum
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field


class ExecutionStatus(StrEnum):
    """Node and graph execution statuses, named as AutoGPT names them."""

    INCOMPLETE = "INCOMPLETE"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"
    FAILED = "FAILED"
    REVIEW = "REVIEW"  # AutoGPT server only: waiting for a human review


FINAL_STATUSES = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.TERMINATED, ExecutionStatus.FAILED}
)


def json_default(value: Any) -> Any:
    """`json.dumps` fallback for pin values that are not plain JSON."""
    if isinstance(value, SimpleNamespace):
        return vars(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class NodeExecution(BaseModel):
    """One execution of one node: its input, output pins and outcome."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    node_exec_id: str = ""
    node_id: str
    block_id: str = ""
    block_name: str = ""
    status: ExecutionStatus
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, list[Any]] = Field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_s(self) -> float | None:
        """Seconds between start and end, when both are known."""
        if self.started_at and self.ended_at:
            return round((self.ended_at - self.started_at).total_seconds(), 6)
        return None


class GraphRun(BaseModel):
    """The result of running a graph, locally or on an AutoGPT server."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    graph_id: str = ""
    graph_version: int | None = None
    graph_name: str = ""
    execution_id: str | None = None
    status: ExecutionStatus
    outputs: dict[str, list[Any]] = Field(default_factory=dict)
    nodes: list[NodeExecution] = Field(default_factory=list)
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def __repr__(self) -> str:
        # Short on purpose: asyncio and loggers repr results, and a full repr of a
        # 10,000-node run takes a noticeable fraction of a second.
        return (
            f"GraphRun(graph={self.graph_name or self.graph_id!r}, status={self.status.value}, "
            f"nodes={len(self.nodes)}, outputs={list(self.outputs)}, error={self.error!r})"
        )

    __str__ = __repr__

    @property
    def failed_nodes(self) -> list[NodeExecution]:
        """Node executions that ended FAILED."""
        return [n for n in self.nodes if n.status == ExecutionStatus.FAILED]

    def to_jsonable(self) -> dict[str, Any]:
        """A plain-JSON dict of the whole result (odd pin values become strings or dicts)."""
        raw = self.model_dump(mode="python")
        return json.loads(json.dumps(raw, default=json_default))
