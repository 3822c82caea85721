"""API nodes on a shared PostgreSQL store, in one process: a voice note uploaded to an API-only
node goes into the database, a transcribe-only worker transcribes it, a company worker runs the
task from the stored transcript; any node streams any task, and a stream resumed on another
node after the last seq it got has no gap and no duplicate; the note is deleted after its
retention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from company.api.sse import event_source
from company.company import Company
from company.config import AppConfig
from company.db.audio import load_blob, sweep_blobs
from company.db.queue import JobQueue
from company.db.settings import QueueSettings
from company.events import EventKind
from company.speech.results import Transcription
from company.status import TaskStatus
from company.store import Store
from company.worker import Worker
from tests.api_support import tone_wav
from tests.pg_support import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.runtime_support import standard_script
from tests.test_worker import serving, until


class FakeSpeech:
    """A Whisper service stand-in that records what it was given."""

    def __init__(self, text: str = "add six and seven") -> None:
        self.text = text
        self.got: list[bytes] = []

    async def transcribe(self, audio: Any, *, name: str | None = None, **_: Any
                         ) -> Transcription:
        self.got.append(bytes(audio))
        return Transcription(source=name, text=self.text, language="en", segments=[],
                             duration_s=1.5, processing_s=0.01, token_count=4, model="fake")


class NoSpeech:
    """A service that must not be used (the transcript is in the database)."""

    async def transcribe(self, *_: Any, **__: Any) -> Transcription:
        raise AssertionError("Whisper ran on a company worker")


@pytest.fixture
def shared_config(config: AppConfig, pg_url: str,  # noqa: F811
                  monkeypatch: pytest.MonkeyPatch) -> AppConfig:
    monkeypatch.delenv("COMPANY_DATABASE_URL", raising=False)
    monkeypatch.setenv("COMPANY_SERVE_NO_RUNS", "1")  # API nodes only: workers run the tasks
    config.store = pg_url
    config.api = {"shutdown_grace_s": 0, "poll_s": 0.05}
    config.queue = {"poll_s": 0.05, "audio_retention_s": 0}
    return config


@contextlib.asynccontextmanager
async def api_node(config: AppConfig) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """An API node (its own connection to the store) and its ApiState."""
    from company.api.app import create_app

    company = Company(config)
    app = create_app(config, company=company)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            yield client, app.state.api
    company.store.close()


def worker_on(config: AppConfig, kinds: tuple[Any, ...], speech: Any) -> Worker:
    company = Company(config, store=Store(config.store_location), provider=standard_script())
    company.services.speech = lambda: speech  # type: ignore[method-assign]
    return Worker(company, QueueSettings.from_config(config.queue), concurrency=2, kinds=kinds)


async def test_a_voice_note_on_one_node_is_transcribed_by_a_transcribe_worker(
        shared_config: AppConfig) -> None:
    wav = tone_wav(1.5)
    async with api_node(shared_config) as (client, api):
        resp = await client.post("/v1/tasks/voice", data={"text": "and count words"},
                                 files={"audio": ("note.wav", wav, "audio/wav")})
        assert resp.status_code == 202, resp.text
        task_id = resp.json()["task_id"]
        store = api.company.store
        first = store.messages(task_id)[0]
        ref = first.payload["audio_path"]
        assert ref.startswith("db:") and load_blob(store, ref[3:]) == wav
        assert not (shared_config.workspace / task_id).exists()  # nothing on this node's disk
        queue = JobQueue(store)
        assert queue.state(task_id) == "queued"
        speech = FakeSpeech()
        transcriber = worker_on(shared_config, ("transcribe",), speech)
        runner = worker_on(shared_config, ("company",), NoSpeech())
        async with serving(transcriber), serving(runner):
            await until(lambda: store.get_task(task_id).status is TaskStatus.DONE)
        assert speech.got == [wav]
        assert transcriber.stats.task_ids == [task_id] and runner.stats.task_ids == [task_id]
        said = [m for m in store.messages(task_id) if m.cause_by == "Transcribe"]
        assert len(said) == 1 and "add six and seven" in said[0].content
        assert "and count words" in said[0].content
        body = (await client.get(f"/v1/tasks/{task_id}")).json()
        assert body["status"] == "done"
        assert "audio_path" not in body["messages"][0]["payload"]
        assert sweep_blobs(store) == 1 and load_blob(store, ref[3:]) is None  # retention 0


async def test_any_node_streams_any_task_and_a_resumed_stream_has_no_gap(
        shared_config: AppConfig) -> None:
    gate = asyncio.Event()

    async def slow_plan(_request: object) -> Any:
        await gate.wait()
        from tests.conftest import PLAN

        return PLAN

    async with api_node(shared_config) as (client_a, a), api_node(shared_config) as (_, b):
        resp = await client_a.post("/v1/tasks", json={"request": "add 6 and 7"})
        task_id = resp.json()["task_id"]
        worker = worker_on(shared_config, ("company",), NoSpeech())
        worker.company._provider = standard_script(WritePlan=slow_plan)
        seen: list[int] = []
        async with serving(worker):
            stream = event_source(a, task_id, 0)  # node A follows the rows, woken by NOTIFY
            async for event in stream:
                seen.append(event.seq)
                if event.kind is EventKind.ROLE_STARTED and event.data.get("role") == "Planner":
                    break
            await stream.aclose()  # node A goes away mid-run
            gate.set()
            async for event in event_source(b, task_id, seen[-1]):  # Last-Event-ID on node B
                seen.append(event.seq)
        stored = [e.seq for e in b.company.store.events(task_id)]
        assert seen == stored == list(range(1, len(stored) + 1))
        assert b.company.store.events(task_id)[-1].kind is EventKind.TASK_FINISHED
        assert b.pool.state(task_id) is None and a.pool.position(task_id) is None


def test_no_runs_pools_never_run_tasks(shared_config: AppConfig) -> None:
    from company.api.pool import make_pool
    from company.api.queue_pool import QueuePool
    from company.api.settings import ApiSettings

    company = Company(shared_config)
    pool = make_pool(company, ApiSettings())
    assert isinstance(pool, QueuePool) and not pool.runs and pool.audio_in_db
    company.store.close()


async def test_the_all_in_one_server_on_postgres_runs_tasks_through_the_queue(
        shared_config: AppConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPANY_SERVE_NO_RUNS")
    from company.api.app import create_app

    company = Company(shared_config, store=Store(shared_config.store_location),
                      provider=standard_script())
    app = create_app(shared_config, company=company)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            task_id = (await client.post("/v1/tasks", json={"request": "add 6 and 7"})
                       ).json()["task_id"]
            await until(lambda: company.store.get_task(task_id).status is TaskStatus.DONE)
            health = (await client.get("/v1/health")).json()
    assert app.state.api.pool.worker.stats.task_ids == [task_id]
    assert health["runs"]["accepting"] is True and health["store"]["ok"] is True
    company.store.close()
