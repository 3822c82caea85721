"""A scriptable stand-in for an AutoGPT server (FastAPI), for testing the remote client.

It serves the real routes of AutoGPT v0.6.44:
- internal API (`Authorization: Bearer`): POST /api/graphs/{id}/execute/{version} with the
  body validated against openapi.json's `Body_postV1Execute_graph_agent`, and
  GET /api/graphs/{id}/executions/{exec_id};
- external API (`X-API-Key`): POST /external-api/v1/graphs/{id}/execute/{version} with
  `{"node_input": {...}}`, and GET .../executions/{exec_id}/results.

Scripting: `submit_status` (200/400/401/402/404/500...), `queued_polls` and
`running_polls` (how many polls report QUEUED/RUNNING before the final status),
`final_status`, `outputs`; it counts `submissions` and `polls`.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "autogpt"
OPENAPI_PATH = SHARED / "openapi.json"
EXTERNAL_EXECUTE_BODY = {
    "type": "object",
    "properties": {"node_input": {"type": "object", "additionalProperties": True}},
    "required": ["node_input"],
    "additionalProperties": False,
}


def openapi_validator(schema_name: str) -> Any:
    """A JSON-schema validator for one of openapi.json's component schemas."""
    document = json.loads(OPENAPI_PATH.read_text())
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return jsonschema_rs.validator_for(schema)


@dataclass
class FakeExecution:
    """One submitted execution."""

    id: str
    graph_id: str
    graph_version: int
    inputs: dict[str, Any]
    polls: int = 0
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass
class FakeAutoGPT:
    """The stand-in's script and its counters."""

    api_key: str = "agpt_test_key"
    bearer_token: str = "test-jwt"
    submit_status: int = 200
    submit_detail: Any = None
    poll_status: int = 200
    queued_polls: int = 0
    running_polls: int = 0
    final_status: str = "COMPLETED"
    outputs: dict[str, list[Any]] = field(default_factory=lambda: {"answer": ["42"]})
    error: str | None = None
    graphs: set[tuple[str, int]] | None = None  # when set, other graphs are 404
    submissions: int = 0
    polls: int = 0
    bodies: list[Any] = field(default_factory=list)
    executions: dict[str, FakeExecution] = field(default_factory=dict)

    def status_of(self, execution: FakeExecution) -> str:
        """Status after the execution's polls so far."""
        if execution.polls <= self.queued_polls:
            return "QUEUED"
        if execution.polls <= self.queued_polls + self.running_polls:
            return "RUNNING"
        return self.final_status


_DEFAULT_DETAILS = {
    400: {
        "type": "validation_error",
        "message": "Graph validation failed",
        "node_errors": {"node-1": {"a": "This field is required"}},
    },
    401: "Invalid API key",
    402: "Insufficient balance: your credit balance is 0, top up to run agents",
    404: "Graph #unknown not found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _meta(server: FakeAutoGPT, execution: FakeExecution, status: str) -> dict[str, Any]:
    final = status in ("COMPLETED", "FAILED", "TERMINATED")
    return {
        "id": execution.id,
        "user_id": "user-1",
        "graph_id": execution.graph_id,
        "graph_version": execution.graph_version,
        "inputs": execution.inputs,
        "credential_inputs": {},
        "nodes_input_masks": None,
        "preset_id": None,
        "status": status,
        "started_at": None if status == "QUEUED" else execution.created,
        "ended_at": execution.created if final else None,
        "is_shared": False,
        "share_token": None,
        "stats": {"node_exec_count": 2 if final else 0, "error": server.error if final else None},
    }


def _node_executions(server: FakeAutoGPT, execution: FakeExecution, status: str) -> list[dict]:
    if status not in ("COMPLETED", "FAILED", "TERMINATED"):
        return []
    return [
        {
            "user_id": "user-1",
            "graph_id": execution.graph_id,
            "graph_version": execution.graph_version,
            "graph_exec_id": execution.id,
            "node_exec_id": f"{execution.id}-n{i}",
            "node_id": f"node-{i}",
            "block_id": "363ae599-353e-4804-937e-b2ee3cef3da4",
            "status": "COMPLETED",
            "input_data": {"name": name, "value": values[0] if values else None},
            "output_data": {"output": values, "name": [name]},
            "add_time": execution.created,
            "queue_time": execution.created,
            "start_time": execution.created,
            "end_time": execution.created,
        }
        for i, (name, values) in enumerate(server.outputs.items())
    ]


def create_app(server: FakeAutoGPT) -> FastAPI:
    """The FastAPI app serving `server`'s script."""
    app = FastAPI()
    internal_body = openapi_validator("Body_postV1Execute_graph_agent")
    external_body = jsonschema_rs.validator_for(EXTERNAL_EXECUTE_BODY)

    def refuse(code: int) -> JSONResponse:
        """The scripted error answer for a submission."""
        detail = (
            server.submit_detail
            if server.submit_detail is not None
            else _DEFAULT_DETAILS.get(code, "error")
        )
        return JSONResponse({"detail": detail}, status_code=code)

    async def submit(request: Request, graph_id: str, version: int, validator: Any, key: str):
        """Validate and record a submission; an execution or an error response."""
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status_code=422)
        errors = [e.message for e in validator.iter_errors(body)]
        if errors:
            return JSONResponse({"detail": [{"loc": ["body"], "msg": m} for m in errors]}, 422)
        server.bodies.append(body)
        if server.submit_status != 200:
            return refuse(server.submit_status)
        if server.graphs is not None and (graph_id, version) not in server.graphs:
            return JSONResponse({"detail": f"Graph #{graph_id} not found"}, status_code=404)
        server.submissions += 1
        execution = FakeExecution(str(uuid.uuid4()), graph_id, version, body.get(key) or {})
        server.executions[execution.id] = execution
        return execution

    def poll(graph_id: str, exec_id: str) -> FakeExecution | JSONResponse:
        """Count a poll and find the execution."""
        server.polls += 1
        if server.poll_status != 200:
            return JSONResponse({"detail": "poll failed"}, status_code=server.poll_status)
        execution = server.executions.get(exec_id)
        if execution is None or execution.graph_id != graph_id:
            return JSONResponse({"detail": f"Graph execution #{exec_id} not found"}, 404)
        execution.polls += 1
        return execution

    @app.post("/api/graphs/{graph_id}/execute/{graph_version}")
    async def internal_execute(graph_id: str, graph_version: int, request: Request):
        """POST /api/graphs/{id}/execute/{version} (JWT)."""
        if request.headers.get("authorization") != f"Bearer {server.bearer_token}":
            return JSONResponse({"detail": "Authorization header is missing"}, 401)
        result = await submit(request, graph_id, graph_version, internal_body, "inputs")
        if isinstance(result, JSONResponse):
            return result
        return _meta(server, result, "QUEUED")

    @app.get("/api/graphs/{graph_id}/executions/{graph_exec_id}")
    async def internal_results(graph_id: str, graph_exec_id: str, request: Request):
        """GET /api/graphs/{id}/executions/{exec_id} (JWT)."""
        if request.headers.get("authorization") != f"Bearer {server.bearer_token}":
            return JSONResponse({"detail": "Authorization header is missing"}, 401)
        execution = poll(graph_id, graph_exec_id)
        if isinstance(execution, JSONResponse):
            return execution
        status = server.status_of(execution)
        final = status in ("COMPLETED", "FAILED", "TERMINATED")
        return {
            **_meta(server, execution, status),
            "outputs": server.outputs if status == "COMPLETED" else {},
            "node_executions": _node_executions(server, execution, status) if final else [],
        }

    @app.post("/external-api/v1/graphs/{graph_id}/execute/{graph_version}")
    async def external_execute(graph_id: str, graph_version: int, request: Request):
        """POST /external-api/v1/graphs/{id}/execute/{version} (API key)."""
        if request.headers.get("x-api-key") != server.api_key:
            return JSONResponse({"detail": "Invalid API key"}, 401)
        result = await submit(request, graph_id, graph_version, external_body, "node_input")
        if isinstance(result, JSONResponse):
            return result
        return {"id": result.id}

    @app.get("/external-api/v1/graphs/{graph_id}/executions/{graph_exec_id}/results")
    async def external_results(graph_id: str, graph_exec_id: str, request: Request):
        """GET /external-api/v1/graphs/{id}/executions/{exec_id}/results."""
        if request.headers.get("x-api-key") != server.api_key:
            return JSONResponse({"detail": "Invalid API key"}, 401)
        execution = poll(graph_id, graph_exec_id)
        if isinstance(execution, JSONResponse):
            return execution
        status = server.status_of(execution)
        nodes = [
            {"node_id": n["node_id"], "input": n["input_data"], "output": n["output_data"]}
            for n in _node_executions(server, execution, status)
        ]
        output = (
            [{name: value} for name, values in server.outputs.items() for value in values]
            if status == "COMPLETED"
            else None
        )
        return {"execution_id": execution.id, "status": status, "nodes": nodes, "output": output}

    return app


class StandIn:
    """The AutoGPT stand-in app served by uvicorn on loopback (the client uses real HTTP)."""

    def __init__(self, app):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(5)
