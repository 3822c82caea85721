"""The SSE event stream: replay then live, late joiners miss nothing, ``Last-Event-ID`` resumes
without duplicates, finished tasks replay from the store, queued tasks wait for their run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_support import api_config, live_server, read_sse, script, wait_for, wait_status
from tests.fakes.ollama_server import FakeOllama


@pytest.fixture(scope="module")
def slow_fake() -> Iterator[FakeOllama]:
    """A fake Ollama answering each call after 0.5 s."""
    server = script(FakeOllama().start(), delay_s=0.5)
    yield server
    server.stop()


def stream(client: httpx.Client, task_id: str, *, limit: int | None = None,
           headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    """Read the task's SSE frames (all of them, or the first ``limit`` events)."""
    frames: list[dict[str, Any]] = []
    with client.stream("GET", f"/v1/tasks/{task_id}/events", params=params,
                       headers=headers or {}) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for frame in read_sse(resp.iter_lines()):
            if "data" in frame or frame.get("event") == "end":
                frames.append(frame)
            if limit is not None and len([f for f in frames if "id" in f]) >= limit:
                break
    return frames


def events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event frames (without the final ``end``)."""
    return [f for f in frames if "id" in f]


def test_late_client_gets_earlier_events_first(tmp_path: Path, slow_fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, slow_fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "late joiner"}).json()["task_id"]
        store = served.app.state.api.company.store
        wait_for(lambda: any(e.kind == "llm_call" for e in store.events(task_id)), 10,
                 "the first LLM call")
        assert client.get(f"/v1/tasks/{task_id}").json()["status"] == "running"
        frames = stream(client, task_id)
        stored = store.events(task_id)
    got = events(frames)
    assert [int(f["id"]) for f in got] == list(range(1, len(stored) + 1))
    assert [f["data"]["seq"] for f in got] == [e.seq for e in stored]
    assert [f["data"]["kind"] for f in got] == [e.kind.value for e in stored]
    assert got[0]["data"]["kind"] == "message"  # the Boss's request comes first
    assert got[0]["data"]["data"]["sent_from"] == "Boss"
    assert got[1]["data"]["kind"] == "task_started"
    assert got[-1]["data"]["kind"] == "task_finished"
    assert got[-1]["data"]["data"]["status"] == "done"
    assert frames[-1]["event"] == "end"
    messages = [f["data"]["data"]["cause_by"] for f in got if f["data"]["kind"] == "message"]
    assert messages == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"]


def test_reconnect_with_last_event_id_resumes_without_duplicates(
        tmp_path: Path, slow_fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, slow_fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "reconnect"}).json()["task_id"]
        first = events(stream(client, task_id, limit=3))
        assert [int(f["id"]) for f in first] == [1, 2, 3]
        rest = stream(client, task_id, headers={"Last-Event-ID": first[-1]["id"]})
        stored = served.app.state.api.company.store.events(task_id)
    ids = [int(f["id"]) for f in first + events(rest)]
    assert ids == list(range(1, len(stored) + 1))  # every event once, in order
    assert events(rest)[-1]["data"]["kind"] == "task_finished"
    assert rest[-1]["event"] == "end"


def test_after_query_param_and_finished_task_replay(tmp_path: Path,
                                                    slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake)
    with live_server(config) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "replay me"}).json()["task_id"]
        live = events(stream(client, task_id))
        wait_status(client, task_id)
    # a new server process: the stream comes from the store alone
    with live_server(config) as served, served.client() as client:
        replay = events(stream(client, task_id))
        tail = events(stream(client, task_id, after=5))
        past_end = stream(client, task_id, headers={"Last-Event-ID": str(len(live))})
        both = events(stream(client, task_id, after=2, headers={"Last-Event-ID": "7"}))
        bad = client.get(f"/v1/tasks/{task_id}/events", headers={"Last-Event-ID": "seven"})
        negative = client.get(f"/v1/tasks/{task_id}/events", params={"after": -1})
    assert [f["data"] for f in replay] == [f["data"] for f in live]
    assert [int(f["id"]) for f in tail] == list(range(6, len(live) + 1))
    assert past_end == [{"event": "end", "data": {}}]
    assert int(both[0]["id"]) == 8  # the later of the two resume points wins
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]
    assert negative.status_code == 422


def test_a_queued_task_streams_once_it_runs(tmp_path: Path, slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake, max_concurrent_runs=1)
    with live_server(config) as served, served.client() as client:
        first = client.post("/v1/tasks", json={"request": "first"}).json()["task_id"]
        second = client.post("/v1/tasks", json={"request": "second"}).json()["task_id"]
        assert client.get(f"/v1/tasks/{second}").json()["status"] == "queued"
        frames = stream(client, second)
        assert client.get(f"/v1/tasks/{first}").json()["status"] == "done"
    kinds = [f["data"]["kind"] for f in events(frames)]
    assert kinds[:2] == ["message", "task_started"] and kinds[-1] == "task_finished"
    assert [int(f["id"]) for f in events(frames)] == list(range(1, len(kinds) + 1))


def test_many_clients_see_the_same_stream(tmp_path: Path, slow_fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, slow_fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "fan out"}).json()["task_id"]
        results: list[list[int]] = []

        def watch() -> None:
            with served.client() as own:
                results.append([int(f["id"]) for f in events(stream(own, task_id))])

        threads = [threading.Thread(target=watch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        total = len(served.app.state.api.company.store.events(task_id))
    assert len(results) == 8
    assert all(ids == list(range(1, total + 1)) for ids in results)


def test_cancelled_queued_task_ends_its_stream(tmp_path: Path, slow_fake: FakeOllama) -> None:
    config = api_config(tmp_path, slow_fake, max_concurrent_runs=1)
    with live_server(config) as served, served.client() as client:
        client.post("/v1/tasks", json={"request": "blocker"})
        queued = client.post("/v1/tasks", json={"request": "never runs"}).json()["task_id"]
        frames: list[dict[str, Any]] = []
        reader = threading.Thread(target=lambda: frames.extend(stream(client, queued)))
        reader.start()
        wait_for(lambda: served.app.state.api.company.buses.live(queued) is not None, 5)
        assert client.post(f"/v1/tasks/{queued}/cancel").json()["status"] == "cancelled"
        reader.join(10)
        assert not reader.is_alive()
    got = events(frames)
    assert [f["data"]["kind"] for f in got] == ["message", "task_finished"]
    assert got[-1]["data"]["data"]["status"] == "cancelled"


async def test_a_subscriber_still_in_its_backlog_gets_everything_after_close() -> None:
    from company.events import EventBus, EventKind

    bus = EventBus("t1")
    for _ in range(3):
        bus.emit(EventKind.PROGRESS)
    stream = bus.subscribe()
    seqs = [(await anext(stream)).seq]  # still in the backlog ...
    for _ in range(2):
        bus.emit(EventKind.PROGRESS)  # ... while the run emits more and finishes
    bus.emit(EventKind.TASK_FINISHED, status="done")
    bus.close()
    seqs += [event.seq async for event in stream]
    assert seqs == [1, 2, 3, 4, 5, 6]


async def test_polling_follows_a_task_run_by_another_process(tmp_path: Path) -> None:
    from company.api.sse import poll_store
    from company.company import Company
    from company.config import AppConfig
    from company.events import EventBus, EventKind
    from company.run_options import RunOptions
    from company.sop import load_sop
    from tests.api_support import write_sop

    config = AppConfig(workspace=tmp_path / "ws")
    config.llm.provider = "ollama"
    company = Company(config)
    task_id = company.create_task("elsewhere", RunOptions(sop=load_sop(str(write_sop(tmp_path)))))
    company.store.update_task(task_id, status="running")
    writer = EventBus(task_id, sink=company.store.append_event)  # the other process's bus
    writer.emit(EventKind.TASK_STARTED)
    stream = poll_store(company.store, task_id, 0, 0.01)
    assert (await anext(stream)).seq == 1
    writer.emit(EventKind.ROUND_STARTED)
    assert (await anext(stream)).seq == 2
    company.store.update_task(task_id, status="done")
    writer.emit(EventKind.TASK_FINISHED, status="done")
    assert [e.seq async for e in stream] == [3]
    company.store.close()
