"""Client for a real AutoGPT server: submit a graph execution, record its id, poll to the end.

AutoGPT has no completion webhook and no idempotency key, so the caller's
`record_execution(execution_id)` is awaited right after submission and before polling;
after a crash, `resume(graph_id, execution_id)` polls the recorded execution instead of
submitting again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from company.graphs.config import RemoteSettings
from company.graphs.errors import (
    RemoteAuthError,
    RemoteConnectionError,
    RemoteCreditsError,
    RemoteError,
    RemoteNotFoundError,
    RemoteServerError,
    RemoteTimeoutError,
    RemoteValidationError,
)
from company.graphs.results import FINAL_STATUSES, ExecutionStatus, GraphRun, NodeExecution

log = logging.getLogger(__name__)

RecordExecution = Callable[[str], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
_STUCK_HINTS = {
    "QUEUED": " (stuck in QUEUED: the server accepted the run but no executor picked it up, a "
    "known AutoGPT problem; check its executor and RabbitMQ services)",
    "REVIEW": " (waiting in REVIEW: a human must approve a step in the AutoGPT UI)",
    "INCOMPLETE": " (stuck in INCOMPLETE: some node inputs were never filled)",
}


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    return body.get("detail", body) if isinstance(body, dict) else body


def _format_node_errors(node_errors: dict[str, Any]) -> str:
    parts = []
    for node_id, fields in node_errors.items():
        if isinstance(fields, dict):
            text = ", ".join(f"{field}: {msg}" for field, msg in fields.items())
        else:
            text = str(fields)
        parts.append(f"node {node_id}: {text}")
    return "; ".join(parts)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _status(value: Any) -> ExecutionStatus:
    try:
        return ExecutionStatus(value)
    except ValueError:
        raise RemoteServerError(
            f"AutoGPT returned an unknown execution status: {value!r}"
        ) from None


class AutoGPTClient:
    """Runs graphs on an AutoGPT server through its external (API key) or internal (JWT) API."""

    def __init__(
        self,
        settings: RemoteSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ):
        self.settings = settings
        self._sleep = sleep
        if settings.api == "external":
            if not settings.api_key:
                raise RemoteAuthError("no AutoGPT API key configured (remote.api_key)")
            headers = {"X-API-Key": settings.api_key.get_secret_value()}
        else:
            if not settings.bearer_token:
                raise RemoteAuthError("no AutoGPT bearer token configured (remote.bearer_token)")
            headers = {"Authorization": f"Bearer {settings.bearer_token.get_secret_value()}"}
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.request_timeout_s),
            transport=transport,
            trust_env=False,
        )
        self._block_names: dict[str, str] | None = None

    async def __aenter__(self) -> AutoGPTClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    # ----- HTTP plumbing -----

    async def _call(self, method: str, path: str, action: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.ConnectError as err:
            raise RemoteConnectionError(
                f"cannot reach the AutoGPT server at {self.settings.base_url} while {action}: "
                f"connection refused or host unreachable ({err})"
            ) from None
        except httpx.TimeoutException:
            raise RemoteConnectionError(
                f"the AutoGPT server at {self.settings.base_url} did not answer within "
                f"{self.settings.request_timeout_s:g}s while {action}"
            ) from None
        except httpx.HTTPError as err:
            raise RemoteConnectionError(f"HTTP error while {action}: {err}") from None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise RemoteServerError(
                    f"AutoGPT answered {action} with something that is not JSON", status_code=200
                ) from None
        self._raise_for(response, action)

    def _raise_for(self, response: httpx.Response, action: str) -> None:
        code = response.status_code
        detail = _detail(response)
        if code in (400, 422):
            node_errors: dict[str, Any] = {}
            message = detail
            if isinstance(detail, dict):
                node_errors = detail.get("node_errors") or {}
                message = detail.get("message") or detail.get("type") or detail
            elif isinstance(detail, list):
                message = "; ".join(
                    f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                    if isinstance(d, dict)
                    else str(d)
                    for d in detail
                )
            text = f"AutoGPT refused {action} (HTTP {code}): {message}"
            if node_errors:
                text += f"; {_format_node_errors(node_errors)}"
            raise RemoteValidationError(text, status_code=code, node_errors=node_errors)
        if code in (401, 403):
            what = "API key" if self.settings.api == "external" else "bearer token"
            raise RemoteAuthError(
                f"AutoGPT rejected the {what} while {action} (HTTP {code}): {detail}",
                status_code=code,
            )
        if code == 402:
            raise RemoteCreditsError(
                f"the AutoGPT account is out of credits (HTTP 402) while {action}: {detail}",
                status_code=code,
            )
        if code == 404:
            raise RemoteNotFoundError(
                f"not found on the AutoGPT server while {action} (HTTP 404): {detail}",
                status_code=code,
            )
        raise RemoteServerError(
            f"the AutoGPT server failed while {action} (HTTP {code}): {detail}", status_code=code
        )

    # ----- API -----

    async def submit(
        self,
        graph_id: str,
        version: int,
        inputs: dict[str, Any],
        *,
        credentials_inputs: dict[str, Any] | None = None,
    ) -> str:
        """Start an execution and return its id (never retried: AutoGPT has no idempotency)."""
        action = f"starting graph {graph_id} v{version}"
        if self.settings.api == "external":
            body = await self._call(
                "POST",
                f"/external-api/v1/graphs/{graph_id}/execute/{version}",
                action,
                json={"node_input": inputs},
            )
        else:
            body = await self._call(
                "POST",
                f"/api/graphs/{graph_id}/execute/{version}",
                action,
                json={"inputs": inputs, "credentials_inputs": credentials_inputs or {}},
            )
        execution_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(execution_id, str) or not execution_id:
            raise RemoteServerError(f"AutoGPT did not return an execution id while {action}")
        return execution_id

    async def fetch(self, graph_id: str, execution_id: str) -> GraphRun:
        """One poll: the execution's current status, outputs and node results."""
        action = f"reading execution {execution_id} of graph {graph_id}"
        if self.settings.api == "external":
            body = await self._call(
                "GET",
                f"/external-api/v1/graphs/{graph_id}/executions/{execution_id}/results",
                action,
            )
            return self._from_external(graph_id, execution_id, body)
        body = await self._call("GET", f"/api/graphs/{graph_id}/executions/{execution_id}", action)
        return await self._from_internal(graph_id, execution_id, body)

    async def wait(self, graph_id: str, execution_id: str) -> GraphRun:
        """Poll with exponential backoff until a final status or `timeout_s`."""
        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.timeout_s
        delay = s.poll_initial_s
        last_status: str | None = None
        last_error: RemoteError | None = None
        while True:
            try:
                run = await self.fetch(graph_id, execution_id)
            except (RemoteServerError, RemoteConnectionError) as err:
                last_error = err
                log.warning("transient error polling AutoGPT execution %s: %s", execution_id, err)
            else:
                last_status = run.status.value
                if run.status in FINAL_STATUSES:
                    return run
            remaining = deadline - loop.time()
            if remaining <= 0:
                if last_status is None:
                    why = f"no poll succeeded (last error: {last_error})"
                else:
                    why = f"it was still {last_status}{_STUCK_HINTS.get(last_status, '')}"
                raise RemoteTimeoutError(
                    f"AutoGPT execution {execution_id} of graph {graph_id} did not finish "
                    f"within {s.timeout_s:g}s; {why}",
                    execution_id=execution_id,
                    last_status=last_status,
                )
            await self._sleep(min(delay, remaining))
            delay = min(delay * s.poll_backoff, s.poll_max_s)

    async def execute(
        self,
        graph_id: str,
        version: int,
        inputs: dict[str, Any],
        *,
        record_execution: RecordExecution,
        credentials_inputs: dict[str, Any] | None = None,
    ) -> GraphRun:
        """Submit, await `record_execution(id)`, then poll until the execution ends."""
        execution_id = await self.submit(
            graph_id, version, inputs, credentials_inputs=credentials_inputs
        )
        try:
            await record_execution(execution_id)
        except Exception as err:
            raise RemoteError(
                f"AutoGPT execution {execution_id} was started but recording it failed: {err}; "
                "resume it with this id instead of submitting again"
            ) from err
        return await self.wait(graph_id, execution_id)

    async def resume(self, graph_id: str, execution_id: str) -> GraphRun:
        """Poll an execution recorded earlier (after a restart) without submitting again."""
        return await self.wait(graph_id, execution_id)

    # ----- response parsing -----

    def _from_external(self, graph_id: str, execution_id: str, body: Any) -> GraphRun:
        if not isinstance(body, dict):
            raise RemoteServerError("AutoGPT returned results that are not an object")
        outputs: dict[str, list[Any]] = {}
        for entry in body.get("output") or []:
            if isinstance(entry, dict):
                for name, value in entry.items():
                    outputs.setdefault(name, []).append(value)
        nodes = []
        for item in body.get("nodes") or []:
            output = item.get("output") or {}
            errors = output.get("error") or []
            nodes.append(
                NodeExecution(
                    node_id=str(item.get("node_id", "")),
                    status=ExecutionStatus.FAILED if errors else ExecutionStatus.COMPLETED,
                    input=item.get("input") or {},
                    output=output,
                    error=str(errors[0]) if errors else None,
                )
            )
        return GraphRun(
            graph_id=graph_id,
            execution_id=str(body.get("execution_id") or execution_id),
            status=_status(body.get("status")),
            outputs=outputs,
            nodes=nodes,
        )

    async def _names(self) -> dict[str, str]:
        if self._block_names is None:
            from company.graphs.blocks.names import all_blocks
            from company.graphs.blocks.registry import default_registry

            names = {b.id: b.name for b in default_registry().blocks()}
            self._block_names = {**{i: b.name for i, b in all_blocks().items()}, **names}
        return self._block_names

    async def _from_internal(self, graph_id: str, execution_id: str, body: Any) -> GraphRun:
        if not isinstance(body, dict):
            raise RemoteServerError("AutoGPT returned an execution that is not an object")
        names = await self._names()
        nodes = []
        for item in body.get("node_executions") or []:
            output = item.get("output_data") or {}
            errors = output.get("error") or []
            block_id = str(item.get("block_id", ""))
            nodes.append(
                NodeExecution(
                    node_exec_id=str(item.get("node_exec_id", "")),
                    node_id=str(item.get("node_id", "")),
                    block_id=block_id,
                    block_name=names.get(block_id, ""),
                    status=_status(item.get("status")),
                    input=item.get("input_data") or {},
                    output=output,
                    error=str(errors[0]) if errors else None,
                    started_at=_parse_time(item.get("start_time")),
                    ended_at=_parse_time(item.get("end_time")),
                )
            )
        stats = body.get("stats") or {}
        return GraphRun(
            graph_id=str(body.get("graph_id") or graph_id),
            graph_version=body.get("graph_version"),
            execution_id=str(body.get("id") or execution_id),
            status=_status(body.get("status")),
            outputs=body.get("outputs") or {},
            nodes=nodes,
            error=stats.get("error") if isinstance(stats, dict) else None,
            started_at=_parse_time(body.get("started_at")),
            ended_at=_parse_time(body.get("ended_at")),
        )
