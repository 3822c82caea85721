"""Shared fixtures: model requests blocked, a fake Ollama server on loopback and a company
wired to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from company.config import AppConfig
from company.llm import guard
from company.store import Store
from tests.fakes.ollama_server import FakeOllama
from tests.speech_fixtures import (  # noqa: F401  (fixtures offered to every test)
    reference_whisper_model,
    speech_service,
    speech_settings,
    whisper_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

ANALYSIS = {
    "summary": "The Boss wants 6 times 7 computed and the words of a sentence counted.",
    "ideas": [{"text": "The Boss likes quick arithmetic", "priority": "low"}],
    "action_items": [
        {"text": "Multiply 6 by 7", "priority": "high"},
        {"text": "Count the words of 'the quick brown fox'", "priority": "medium"},
    ],
}
PLAN = {
    "steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"},
         "depends_on": [], "purpose": "multiply"},
        {"id": "s2", "graph": "word_count", "inputs": {"text": "the quick brown fox"},
         "depends_on": ["s1"], "purpose": "count words"},
    ],
    "notes": "",
}
REPORT = "# Report\n\nThe product is forty-two, and the sentence has four words."
"""The scripted report: its results in words, so it suits a run (it gives them) and a plan
nobody ran (no number in digits that no step produced)."""


def normalize_log(path: Path, task_id: str) -> str:
    """A messages.jsonl with the task id and wall-clock times masked."""
    import re

    text = path.read_text().replace(task_id, "TASK")
    return re.sub(r'"created_at":"[^"]+"', '"created_at":"T"', text)


def script_company(fake: FakeOllama) -> FakeOllama:
    """Scripted answers for the standard SOP: analysis, plan, report."""
    fake.on("## Task: AnalyzeRequest", json.dumps(ANALYSIS))
    fake.on("## Task: WritePlan", json.dumps(PLAN))
    fake.on("## Task: SummarizeResults", REPORT)
    return fake


# The discard port: nothing listens there, so tests use it for "the server is down"; a request
# to it can never reach a model, so the guard lets it fail the way a dead server does.
DEAD_HOST = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _block_model_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test reaches a real model server unless marked ``real_model``; fakes on loopback
    allow their own host while they run (FakeOllama.start does it), and DEAD_HOST stays open."""
    allowed_before = set(guard.allowed_hosts)
    guard.allowed_hosts.add(DEAD_HOST)
    blocked = request.node.get_closest_marker("real_model") is None
    previous, guard.ALLOW_MODEL_REQUESTS = guard.ALLOW_MODEL_REQUESTS, not blocked
    try:
        yield
    finally:
        guard.ALLOW_MODEL_REQUESTS = previous
        guard.allowed_hosts.clear()
        guard.allowed_hosts.update(allowed_before)


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A fake Ollama server with no scripted answers yet; model requests to it are allowed."""
    fake = FakeOllama().start()  # allows its own loopback host until it stops
    yield fake
    fake.stop()


@pytest.fixture
def scripted_ollama(fake_ollama: FakeOllama) -> FakeOllama:
    """A fake Ollama server scripted for the standard SOP."""
    return script_company(fake_ollama)


@pytest.fixture
def config(tmp_path: Path, fake_ollama: FakeOllama) -> AppConfig:
    """A config whose workspace is a temp dir and whose LLM is the fake server."""
    cfg = AppConfig(workspace=tmp_path / "ws")
    cfg.llm.provider = "ollama"  # the fake server, never the embedded fallback
    cfg.llm.host = fake_ollama.host
    cfg.llm.timeout_s = 5
    cfg.graphs = {"allow_private_network": True}
    return cfg


@pytest.fixture
def store(config: AppConfig) -> Iterator[Store]:
    """The config's SQLite store."""
    db = Store(config.store_path)
    yield db
    db.close()
