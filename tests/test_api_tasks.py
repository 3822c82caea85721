"""The task routes through a real uvicorn server: submit, read, list, cancel, follow up, queue
limits, auth, health, resume and graceful shutdown, with the fake Ollama server behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from company.company import Company
from company.config import AppConfig
from company.run_options import RunOptions
from company.sop import load_sop
from company.store import Store
from tests.api_support import api_config, live_server, script, wait_for, wait_status
from tests.conftest import REPORT
from tests.fakes.ollama_server import FakeOllama


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    """A fake Ollama scripted for the analyst-only SOP, answering at once."""
    server = script(FakeOllama().start())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slow_fake() -> Iterator[FakeOllama]:
    """The same, answering each call after 0.6 s (so runs are in flight)."""
    server = script(FakeOllama().start(), delay_s=0.6)
    yield server
    server.stop()


def causes(body: dict) -> list[str]:
    """The cause_by of each message of a task body."""
    return [m["cause_by"] for m in body["messages"]]


def test_submit_runs_to_a_report(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        resp = client.post("/v1/tasks", json={"request": "multiply 6 by 7",
                                              "options": {"n_round": 2}})
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        task_id = accepted["task_id"]
        assert accepted["status_url"] == f"/v1/tasks/{task_id}"
        assert accepted["events_url"] == f"/v1/tasks/{task_id}/events"
        body = wait_status(client, task_id)
    assert body["status"] == "done", body
    assert body["report"].startswith(REPORT)
    assert body["error"] is None
    assert causes(body) == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"]
    assert body["messages"][0]["content"] == "multiply 6 by 7"
    usage = body["usage"]
    assert [(r["role"], r["calls"]) for r in usage["by_role"]] == [("Analyst", 2)]
    assert usage["total"]["calls"] == 2 and usage["total"]["tokens"] > 0
    assert body["cost"] == 0.0 and body["sop"] == "analyst-only"
    report = (tmp_path / "ws" / task_id / "report.md").read_text()
    assert report.startswith(REPORT)


def test_the_task_is_stored_before_the_202(tmp_path: Path, slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake)
    with live_server(config) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "stored first"}).json()["task_id"]
        store = Store(config.store_path)  # a second connection, as another process would see it
        try:
            task = store.get_task(task_id)
            assert task is not None and task.request == "stored first"
            assert [m.cause_by for m in store.messages(task_id)][0] == "UserRequirement"
        finally:
            store.close()
        client.post(f"/v1/tasks/{task_id}/cancel")


@pytest.mark.parametrize(("body", "fragment"), [
    ({"request": "   "}, "the request is empty"),
    ({"request": ""}, "request"),
    ({}, "request: Field required"),
    ({"request": "x", "colour": "red"}, "colour"),
    ({"request": "x", "sop": "../../etc/passwd"}, "sop"),
    ({"request": "x", "options": {"n_round": 0}}, "n_round"),
    ({"request": "x", "options": {"n_round": True}}, "n_round"),
    ({"request": 42}, "request"),
    ({"request": "x" * 20_001}, "request"),
])
def test_invalid_bodies_are_422(tmp_path: Path, fake: FakeOllama, body: dict,
                                fragment: str) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        resp = client.post("/v1/tasks", json=body)
        assert resp.status_code == 422, resp.text
        assert fragment in resp.json()["detail"]
        assert client.post("/v1/tasks", content=b"{not json",
                           headers={"content-type": "application/json"}).status_code == 422
        assert client.get("/v1/tasks").json()["total"] == 0


def test_unknown_sop_is_422_and_a_shipped_one_is_accepted(tmp_path: Path,
                                                          fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        resp = client.post("/v1/tasks", json={"request": "x", "sop": "no-such-sop"})
        assert resp.status_code == 422
        assert "unknown SOP 'no-such-sop'" in resp.json()["detail"]
        assert "default" in resp.json()["detail"]
        resp = client.post("/v1/tasks", json={"request": "x", "sop": "analyst-only"})
        assert resp.status_code == 202
        wait_status(client, resp.json()["task_id"])
        resp = client.post("/v1/tasks", json={"request": "x", "sop": "plan-only"})
        assert resp.status_code == 202
        task = client.get(f"/v1/tasks/{resp.json()['task_id']}").json()
        assert task["sop"] == "plan-only"
        wait_status(client, task["task_id"])


def test_list_is_newest_first_and_paginated(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        ids = [client.post("/v1/tasks", json={"request": f"task {i}"}).json()["task_id"]
               for i in range(5)]
        page = client.get("/v1/tasks", params={"limit": 2}).json()
        assert [t["task_id"] for t in page["items"]] == ids[::-1][:2]
        assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (5, 2, 0, 2)
        page = client.get("/v1/tasks", params={"limit": 2, "offset": 4}).json()
        assert [t["task_id"] for t in page["items"]] == [ids[0]]
        assert page["next_offset"] is None
        for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "many"}):
            resp = client.get("/v1/tasks", params=params)
            assert resp.status_code == 422, params
            assert isinstance(resp.json()["detail"], str)
        for task_id in ids:
            wait_status(client, task_id)


def test_unknown_task_is_404_everywhere(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        for method, path in (("GET", "/v1/tasks/tnope"), ("POST", "/v1/tasks/tnope/cancel"),
                             ("GET", "/v1/tasks/tnope/events")):
            resp = client.request(method, path)
            assert resp.status_code == 404, path
            assert resp.json() == {"detail": "no task 'tnope'"}
        resp = client.post("/v1/tasks/tnope/messages", json={"text": "more"})
        assert resp.status_code == 404
        assert client.get("/v1/tasks/bad%20id").status_code == 422
        assert client.get("/v1/nothing-here").status_code == 404


def test_cancel_a_running_task(tmp_path: Path, slow_fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, slow_fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "cancel me"}).json()["task_id"]
        wait_status(client, task_id, ("running",))
        resp = client.post(f"/v1/tasks/{task_id}/cancel")
        assert resp.status_code == 200
        assert resp.json() == {"task_id": task_id, "status": "cancelled"}
        body = client.get(f"/v1/tasks/{task_id}").json()
        assert body["status"] == "cancelled" and body["error"] == "cancelled by request"
        again = client.post(f"/v1/tasks/{task_id}/cancel")
        assert again.status_code == 409
        assert "already cancelled" in again.json()["detail"]
        events = served.app.state.api.company.store.events(task_id)
        assert events[-1].kind == "task_finished"
        assert events[-1].data["status"] == "cancelled"


def test_cancel_a_queued_task_and_fifo_order(tmp_path: Path, slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake, max_concurrent_runs=1)
    with live_server(config) as served, served.client() as client:
        first, second, third = (
            client.post("/v1/tasks", json={"request": f"queued job {n}"}).json()["task_id"]
            for n in ("one", "two", "three"))
        assert client.get(f"/v1/tasks/{second}").json()["queue_position"] == 1
        assert client.get(f"/v1/tasks/{third}").json()["queue_position"] == 2
        resp = client.post(f"/v1/tasks/{second}/cancel")
        assert resp.json()["status"] == "cancelled"
        assert client.get(f"/v1/tasks/{third}").json()["queue_position"] == 1
        assert wait_status(client, first)["status"] == "done"
        assert wait_status(client, third)["status"] == "done"
        done = {t: client.get(f"/v1/tasks/{t}").json()["updated_at"] for t in (first, third)}
        assert done[first] < done[third]
    assert slow_fake.calls_matching("queued job two") == 0
    assert slow_fake.calls_matching("queued job three") == 2


def test_a_full_queue_is_429(tmp_path: Path, slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake, max_concurrent_runs=1, max_queue=1)
    with live_server(config) as served, served.client() as client:
        running = client.post("/v1/tasks", json={"request": "a"}).json()["task_id"]
        queued = client.post("/v1/tasks", json={"request": "b"}).json()["task_id"]
        resp = client.post("/v1/tasks", json={"request": "c"})
        assert resp.status_code == 429
        assert "too many tasks waiting" in resp.json()["detail"]
        assert resp.headers["retry-after"]
        assert client.get("/v1/tasks").json()["total"] == 2
        for task_id in (running, queued):
            client.post(f"/v1/tasks/{task_id}/cancel")


def test_shutting_down_is_503(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "before"}).json()["task_id"]
        wait_status(client, task_id)
        served.app.state.api.pool.stopping = True
        resp = client.post("/v1/tasks", json={"request": "after"})
        assert resp.status_code == 503
        assert "shutting down" in resp.json()["detail"]
        assert client.post(f"/v1/tasks/{task_id}/messages",
                           json={"text": "more"}).status_code == 503
        health = client.get("/v1/health").json()
        assert health["runs"]["accepting"] is False


def test_follow_up_continues_with_the_history(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "first ask"}).json()["task_id"]
        wait_status(client, task_id)
        resp = client.post(f"/v1/tasks/{task_id}/messages", json={"text": "and a second ask"})
        assert resp.status_code == 202 and resp.json()["task_id"] == task_id
        body = wait_status(client, task_id)
        assert body["status"] == "done", body
    assert causes(body) == ["UserRequirement", "AnalyzeRequest", "SummarizeResults",
                            "UserRequirement", "AnalyzeRequest", "SummarizeResults"]
    prompt = [r for r in fake.requests
              if "and a second ask" in str(r) and "AnalyzeRequest" in str(r)]
    assert len(prompt) == 1
    assert "Boss: first ask" in str(prompt[0])  # the earlier history went with it
    assert body["usage"]["total"]["calls"] == 4


def test_follow_up_errors(tmp_path: Path, slow_fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, slow_fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "busy"}).json()["task_id"]
        wait_status(client, task_id, ("running",))
        resp = client.post(f"/v1/tasks/{task_id}/messages", json={"text": "too early"})
        assert resp.status_code == 409 and "running" in resp.json()["detail"]
        assert client.post(f"/v1/tasks/{task_id}/messages",
                           json={"text": "  "}).status_code == 422
        assert client.post(f"/v1/tasks/{task_id}/messages",
                           json={"txt": "x"}).status_code == 422
        assert client.post(f"/v1/tasks/{task_id}/messages", content=b"text",
                           headers={"content-type": "text/plain"}).status_code == 415
        big = {"text": "x" * 200_000}
        assert client.post(f"/v1/tasks/{task_id}/messages", json=big).status_code == 413
        client.post(f"/v1/tasks/{task_id}/cancel")


def test_api_key_is_required_when_configured(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake, api_key="s3cret-key")
    with live_server(config) as served, served.client() as client:
        resp = client.post("/v1/tasks", json={"request": "x"})
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        assert "missing API key" in resp.json()["detail"]
        wrong = {"Authorization": "Bearer nope"}
        for method, path in (("GET", "/v1/tasks"), ("GET", "/v1/health"),
                             ("GET", "/v1/tasks/tx"), ("POST", "/v1/tasks/tx/cancel")):
            resp = client.request(method, path, headers=wrong)
            assert resp.status_code == 401, path
            assert resp.json()["detail"] == "invalid API key"
        good = {"Authorization": "Bearer s3cret-key"}
        resp = client.post("/v1/tasks", json={"request": "x"}, headers=good)
        assert resp.status_code == 202
        task_id = resp.json()["task_id"]
        events = f"/v1/tasks/{task_id}/events"
        assert client.get(events).status_code == 401
        assert client.get(events, params={"token": "nope"}).status_code == 401
        assert client.get(f"/v1/tasks/{task_id}", params={"token": "s3cret-key"}
                          ).status_code == 401  # ?token= only opens the event stream
        resp = client.get(events, params={"token": "s3cret-key"})
        assert resp.status_code == 200 and "task_finished" in resp.text
        assert client.get(events, headers=good).status_code == 200
        for public in ("/", "/docs", "/openapi.json", "/static/app.js"):
            assert client.get(public).status_code == 200, public
        spec = client.get("/openapi.json").json()
        assert set(spec["components"]["securitySchemes"]) == {"bearer", "token"}
        assert spec["paths"]["/v1/tasks"]["post"]["security"] == [{"bearer": []}]


def test_health(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        health = client.get("/v1/health").json()
    assert health["status"] == "ok"
    assert health["llm"]["ok"] and health["store"]["ok"] and health["whisper"]["ok"]
    assert health["runs"] == {"running": 0, "queued": 0, "max_concurrent_runs": 4,
                              "max_queue": 100, "accepting": True}


def test_health_degraded_without_model_server(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    config.llm.host = "http://127.0.0.1:9"  # nothing listens on the discard port
    config.speech = {"model": str(tmp_path / "missing.pt")}
    with live_server(config) as served, served.client() as client:
        health = client.get("/v1/health").json()
    assert health["status"] == "degraded"
    assert not health["llm"]["ok"] and "127.0.0.1:9" in health["llm"]["detail"]
    assert not health["whisper"]["ok"] and "missing.pt" in health["whisper"]["detail"]
    assert health["store"]["ok"]


def test_resumes_stored_tasks_on_startup(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    company = Company(config)
    sop = load_sop(config.sop)
    queued = company.create_task("left queued", RunOptions(sop=sop))
    running = company.create_task("left running", RunOptions(sop=sop))
    company.store.update_task(running, status="running")
    company.store.close()
    with live_server(config) as served, served.client() as client:
        for task_id in (queued, running):
            body = wait_status(client, task_id)
            assert body["status"] == "done"
            assert causes(body) == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"]


def test_graceful_shutdown_leaves_runs_resumable(tmp_path: Path) -> None:
    fake = script(FakeOllama().start(), delay_s=1.0)
    try:
        config = api_config(tmp_path, fake, shutdown_grace_s=0.1)
        with live_server(config) as served, served.client() as client:
            task_id = client.post("/v1/tasks", json={"request": "interrupted"}).json()["task_id"]
            wait_status(client, task_id, ("running",))
        store = Store(config.store_path)
        try:
            task = store.get_task(task_id)
            assert task is not None and task.status == "queued", task
        finally:
            store.close()
        with live_server(config) as served, served.client() as client:
            body = wait_status(client, task_id)
        assert body["status"] == "done"
        assert causes(body) == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"]
    finally:
        fake.stop()


def test_a_run_that_raises_is_failed_not_stuck(tmp_path: Path, fake: FakeOllama) -> None:
    config: AppConfig = api_config(tmp_path, fake)
    company = Company(config)
    task_id = company.create_task("x", RunOptions(sop=load_sop(config.sop)))
    company.store.close()
    original = Company.run_task

    async def explode(self: Company, tid: str, *args: object) -> object:
        if tid == task_id:
            self.buses.open(tid)
            raise RuntimeError("boom")
        return await original(self, tid, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Company, "run_task", explode)
        with live_server(config) as served, served.client() as client:
            body = wait_status(client, task_id)
            assert body["status"] == "failed" and "RuntimeError: boom" in body["error"]
            with client.stream("GET", f"/v1/tasks/{task_id}/events") as resp:
                text = "".join(resp.iter_text())
            assert '"status":"failed"' in text and "event: end" in text


def test_openapi_documents_every_route(tmp_path: Path, fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served:
        spec = httpx.get(f"{served.url}/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {"/v1/tasks", "/v1/tasks/voice", "/v1/tasks/{task_id}",
                          "/v1/tasks/{task_id}/cancel", "/v1/tasks/{task_id}/messages",
                          "/v1/tasks/{task_id}/events", "/v1/health",
                          "/v1/tasks/{task_id}/messages/{seq}", "/v1/tasks/{task_id}/report",
                          "/v1/tasks/{task_id}/transcript", "/v1/audio/transcriptions",
                          "/v1/audio/translations", "/v1/ideas", "/v1/action-items",
                          "/v1/action-items/{note_id}", "/v1/notebook/export",
                          "/v1/notebook/events", "/v1/realtime/schema"}
    voice = paths["/v1/tasks/voice"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert voice["schema"]["properties"]["audio"]["format"] == "binary"
    assert {"202", "413", "415", "429"} <= set(paths["/v1/tasks/voice"]["post"]["responses"])


def test_oversized_json_bodies_are_413(tmp_path: Path, fake: FakeOllama) -> None:
    big = ('{"request": "' + "x" * (2 * 1024 * 1024) + '"}').encode()
    json_type = {"content-type": "application/json"}
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        resp = client.post("/v1/tasks", content=big, headers=json_type)
        assert resp.status_code == 413 and "larger than 1048576 bytes" in resp.json()["detail"]
        chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))  # no Content-Length
        resp = client.post("/v1/tasks", content=chunks, headers=json_type)
        assert resp.status_code == 413 and "larger than" in resp.json()["detail"]
        resp = client.post("/v1/tasks", files={"request": ("r.txt", b"x" * 2_000_000)})
        assert resp.status_code == 413
        assert client.get("/v1/tasks").json()["total"] == 0


def test_tasks_run_by_another_process(tmp_path: Path, slow_fake: FakeOllama) -> None:
    """A claim held elsewhere (another worker) keeps this server from running, following up
    on or directly cancelling the task; a cancel is recorded for the owner to act on."""
    from company.api.claims import Claim

    config = api_config(tmp_path, slow_fake)
    company = Company(config)
    task_id = company.create_task("owned elsewhere", RunOptions(sop=load_sop(config.sop)))
    company.store.update_task(task_id, status="running")
    company.store.close()
    with Claim(config.workspace, task_id) as claim:
        assert claim.acquire()
        with live_server(config) as served, served.client() as client:
            resp = client.post(f"/v1/tasks/{task_id}/messages", json={"text": "more"})
            assert resp.status_code == 409 and "another server process" in resp.json()["detail"]
            assert client.get(f"/v1/tasks/{task_id}").json()["status"] == "running"
            assert client.post(f"/v1/tasks/{task_id}/cancel").json()["status"] == "cancelled"
    assert slow_fake.calls_matching("owned elsewhere") == 0


def test_a_cancel_written_by_another_process_stops_the_run(tmp_path: Path,
                                                           slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake)
    with live_server(config) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "stop me"}).json()["task_id"]
        wait_status(client, task_id, ("running",))
        other = Store(config.store_path)  # what another worker's cancel route writes
        try:
            other.update_task(task_id, status="cancelled", error="cancelled by request")
        finally:
            other.close()
        pool = served.app.state.api.pool
        wait_for(lambda: pool.state(task_id) is None, 5, "the watcher to stop the run")
        body = client.get(f"/v1/tasks/{task_id}").json()
    assert body["status"] == "cancelled"
    assert "SummarizeResults" not in causes(body)


def test_per_task_investment_is_the_budget(tmp_path: Path, fake: FakeOllama) -> None:
    from company.llm.usage import Price

    config = api_config(tmp_path, fake)
    config.llm.prices = {"qwen2.5": Price(prompt=1e6, completion=1e6)}  # $1 per token
    with live_server(config) as served, served.client() as client:
        resp = client.post("/v1/tasks", json={"request": "x", "options": {"investment": 5}})
        assert resp.status_code == 202, resp.text
        body = wait_status(client, resp.json()["task_id"])
    assert body["status"] == "failed"
    assert "budget exhausted" in body["error"] and "$5.0000 invested" in body["error"]
    assert body["usage"]["total"]["calls"] == 1
