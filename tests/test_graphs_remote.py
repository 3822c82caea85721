"""The AutoGPT remote client against the stand-in server (ASGI transport, no network)."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

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
from company.graphs.remote import AutoGPTClient
from company.graphs.results import ExecutionStatus
from tests.fakes.autogpt_server import FakeAutoGPT, create_app, openapi_validator

FAST = {"poll_initial_s": 0.001, "poll_max_s": 0.005, "timeout_s": 2.0}


def client_for(server: FakeAutoGPT, api: str = "external", **overrides: Any) -> AutoGPTClient:
    values: dict[str, Any] = {
        "base_url": "http://autogpt.test",
        "api": api,
        "api_key": server.api_key,
        "bearer_token": server.bearer_token,
        **FAST,
    }
    settings = RemoteSettings(**{**values, **overrides})
    return AutoGPTClient(settings, transport=httpx.ASGITransport(app=create_app(server)))


@pytest.mark.parametrize("api", ["external", "internal"])
async def test_execute_records_id_before_polling_and_returns_outputs(api: str) -> None:
    server = FakeAutoGPT(queued_polls=2, running_polls=2, outputs={"answer": ["42", "43"]})
    recorded: list[tuple[str, int]] = []

    async def record(execution_id: str) -> None:
        recorded.append((execution_id, server.polls))

    async with client_for(server, api) as client:
        run = await client.execute("g1", 3, {"question": "life?"}, record_execution=record)
    assert run.status == ExecutionStatus.COMPLETED
    assert run.outputs == {"answer": ["42", "43"]}
    assert recorded == [(run.execution_id, 0)]  # recorded before the first poll
    assert server.submissions == 1 and server.polls == 5
    assert [n.output["output"] for n in run.nodes] == [["42", "43"]]
    body = server.bodies[0]
    if api == "external":
        assert body == {"node_input": {"question": "life?"}}
    else:
        assert body == {"inputs": {"question": "life?"}, "credentials_inputs": {}}
        assert run.nodes[0].block_name == "AgentOutputBlock"


async def test_stand_in_answers_follow_the_openapi_schemas() -> None:
    server = FakeAutoGPT(outputs={"a": [1]})
    transport = httpx.ASGITransport(app=create_app(server))
    auth = {"Authorization": f"Bearer {server.bearer_token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as http:
        meta = (await http.post("/api/graphs/g/execute/1", json={"inputs": {}})).json()
        assert openapi_validator("GraphExecutionMeta").is_valid(meta)
        full = (await http.get(f"/api/graphs/g/executions/{meta['id']}")).json()
        assert openapi_validator("GraphExecutionWithNodes").is_valid(full)
        bad = await http.post("/api/graphs/g/execute/1", json={"inputs": []})
        assert bad.status_code == 422


@pytest.mark.parametrize(
    ("status", "error", "fragment"),
    [
        (
            400,
            RemoteValidationError,
            "Graph validation failed; node node-1: a: This field is required",
        ),
        (401, RemoteAuthError, "rejected the API key"),
        (402, RemoteCreditsError, "out of credits"),
        (404, RemoteNotFoundError, "HTTP 404"),
        (500, RemoteServerError, "server failed while starting graph g1 v1 (HTTP 500)"),
    ],
)
async def test_error_statuses_map_to_clear_exceptions(
    status: int, error: type[RemoteError], fragment: str
) -> None:
    server = FakeAutoGPT(submit_status=status)

    async def record(execution_id: str) -> None:
        raise AssertionError("must not record a failed submission")

    async with client_for(server) as client:
        with pytest.raises(error) as info:
            await client.execute("g1", 1, {}, record_execution=record)
    assert fragment in str(info.value)
    assert info.value.status_code == status
    if status == 400:
        assert info.value.node_errors == {"node-1": {"a": "This field is required"}}
    assert server.polls == 0


async def test_wrong_api_key_and_unknown_graph() -> None:
    server = FakeAutoGPT(graphs={("known", 1)})
    async with client_for(server, api_key="agpt_wrong") as client:
        with pytest.raises(RemoteAuthError, match="HTTP 401"):
            await client.submit("known", 1, {})
    async with client_for(server) as client:
        with pytest.raises(RemoteNotFoundError, match="Graph #other not found"):
            await client.submit("other", 1, {})
    with pytest.raises(RemoteAuthError, match="no AutoGPT API key configured"):
        AutoGPTClient(RemoteSettings(api="external"))


async def test_connection_refused_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = RemoteSettings(base_url=f"http://127.0.0.1:{port}", api_key="k", **FAST)
    async with AutoGPTClient(settings) as client:
        with pytest.raises(RemoteConnectionError, match="cannot reach the AutoGPT server"):
            await client.submit("g", 1, {})


async def test_stuck_in_queued_times_out_naming_the_status() -> None:
    server = FakeAutoGPT(queued_polls=10_000)
    async with client_for(server, timeout_s=0.05) as client:
        with pytest.raises(RemoteTimeoutError) as info:
            await client.execute("g1", 1, {}, record_execution=_noop)
    assert info.value.last_status == "QUEUED"
    assert "did not finish within 0.05s; it was still QUEUED (stuck in QUEUED" in str(info.value)
    assert info.value.execution_id in server.executions


async def test_resume_polls_without_submitting_again() -> None:
    server = FakeAutoGPT(queued_polls=1)
    async with client_for(server) as client:
        execution_id = await client.submit("g1", 1, {"x": 1})
    server.queued_polls = 3  # the "restart": a new client resumes the recorded id
    async with client_for(server, "external") as client:
        run = await client.resume("g1", execution_id)
    assert run.status == ExecutionStatus.COMPLETED
    assert run.execution_id == execution_id
    assert server.submissions == 1


async def test_failed_remote_run_is_returned_not_raised() -> None:
    server = FakeAutoGPT(final_status="FAILED", error="node exploded")
    async with client_for(server, "internal") as client:
        run = await client.execute("g1", 1, {}, record_execution=_noop)
    assert run.status == ExecutionStatus.FAILED
    assert run.error == "node exploded"
    assert run.outputs == {}


async def test_transient_poll_errors_are_retried_until_timeout() -> None:
    server = FakeAutoGPT(poll_status=503)
    async with client_for(server, timeout_s=0.05) as client:
        execution_id = await client.submit("g1", 1, {})
        with pytest.raises(RemoteTimeoutError, match="no poll succeeded .*HTTP 503"):
            await client.wait("g1", execution_id)
    assert server.polls > 1


async def test_record_failure_keeps_the_execution_id() -> None:
    server = FakeAutoGPT()

    async def broken(execution_id: str) -> None:
        raise OSError("disk full")

    async with client_for(server) as client:
        with pytest.raises(RemoteError, match="was started but recording it failed: disk full"):
            await client.execute("g1", 1, {}, record_execution=broken)
    assert server.polls == 0


async def _noop(execution_id: str) -> None:
    return None
