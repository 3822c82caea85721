"""The HTTP shim in-process (no socket, no model server): a finished task seeded straight into
the store, for tests of what the API returns and replays."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from company.company import Company
from company.config import AppConfig
from company.events import Event, EventKind
from company.message import Message
from company.run_options import RunOptions
from company.sop import load_sop
from tests.api_support import write_sop


def inproc_config(tmp_path: Path, **api: Any) -> AppConfig:
    """A config whose LLM is never called (nothing is queued): workspace under tmp_path."""
    config = AppConfig(workspace=tmp_path / "ws")
    config.llm.provider = "ollama"
    config.llm.host = "http://127.0.0.1:9"
    config.llm.pull_missing = False
    config.sop = str(write_sop(tmp_path))
    config.speech = {"model": str(tmp_path / "whisper.pt")}
    config.api = {"shutdown_grace_s": 0, **api}
    return config


class SyncClient:
    """A blocking client over the app's ASGI interface (raw header bytes reach the app as
    sent, unlike TestClient, which re-encodes them as UTF-8)."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self._loop = loop

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """Send one request and read the whole answer (streams must end)."""
        return self._loop.run_until_complete(self._client.request(method, url, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        """GET ``url``."""
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        """POST to ``url``."""
        return self.request("POST", url, **kw)

    def close(self) -> None:
        """Close the client."""
        self._loop.run_until_complete(self._client.aclose())


@contextmanager
def inproc_client(config: AppConfig) -> Iterator[tuple[SyncClient, Company]]:
    """A client of ``create_app(config)`` in-process (lifespan run) and its Company."""
    from company.api.app import create_app

    company = Company(config)
    app = create_app(config, company=company)
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = SyncClient(app, loop)
    try:
        yield client, company
    finally:
        client.close()
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()
        company.store.close()


def seed_finished(company: Company, tmp_path: Path, *, content: str = "done",
                  payload: dict[str, Any] | None = None, report: str = "# Report") -> str:
    """Store a finished task: the Boss's request, one Executor message (``content``,
    ``payload``) and its events, as a run would have left them."""
    store = company.store
    task_id = company.create_task("do it", RunOptions(sop=load_sop(str(write_sop(tmp_path)))))
    message = Message(id=f"{task_id}-00002", task_id=task_id, seq=2, content=content,
                      payload=payload, cause_by="RunGraphs", sent_from="Executor")
    store.append_message(message)
    seq = store.last_event_seq(task_id)
    events = [
        (EventKind.TASK_STARTED, {"request": "do it", "sop": "analyst-only"}),
        (EventKind.MESSAGE, {"id": message.id, "seq": 2, "cause_by": "RunGraphs",
                             "sent_from": "Executor", "send_to": ["<all>"],
                             "content": content}),
        (EventKind.TASK_FINISHED, {"status": "done", "error": None, "rounds": 1,
                                   "report": report,
                                   "workspace": str(company.config.workspace / task_id)}),
    ]
    for offset, (kind, data) in enumerate(events, start=1):
        store.append_event(Event(seq=seq + offset, task_id=task_id, kind=kind, data=data))
    store.update_task(task_id, status="done", report=report, rounds=1)
    return task_id
