"""Helpers of the HTTP shim tests: an SOP that needs only the Analyst, a scripted fake Ollama,
a real uvicorn server on loopback in a thread, and synthetic audio files."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from company.config import AppConfig
from tests.conftest import ANALYSIS, PLAN, REPORT
from tests.fakes.ollama_server import FakeOllama

# One role, one round, two LLM calls: self-contained, so these tests do not depend on the
# Planner's graph catalogue, the Executor or the Transcriber.
ANALYST_SOP = """\
name: analyst-only
description: the Analyst reads the request and reports at once
roles:
  - name: Analyst
    watch: [UserRequirement]
    triggers: {AnalyzeRequest: [UserRequirement], SummarizeResults: [UserRequirement]}
limits: {n_round: 3, max_llm_calls: 10}
"""


def write_sop(directory: Path) -> Path:
    """Write the analyst-only SOP and return its path."""
    path = directory / "analyst-only.yaml"
    path.write_text(ANALYST_SOP)
    return path


def script(fake: FakeOllama, delay_s: float = 0.0) -> FakeOllama:
    """Scripted answers (analysis, plan, report), each after ``delay_s`` seconds."""
    fake.on("## Task: AnalyzeRequest", json.dumps(ANALYSIS), delay_s=delay_s)
    fake.on("## Task: WritePlan", json.dumps(PLAN), delay_s=delay_s)
    fake.on("## Task: SummarizeResults", REPORT, delay_s=delay_s)
    return fake


def api_config(tmp_path: Path, fake: FakeOllama, **api: Any) -> AppConfig:
    """A config: workspace under tmp_path, the fake LLM, the analyst-only SOP, api settings."""
    config = AppConfig(workspace=tmp_path / "ws")
    config.llm.provider = "ollama"
    config.llm.host = fake.host
    config.llm.timeout_s = 10
    config.llm.pull_missing = False
    config.graphs = {"allow_private_network": True}
    config.sop = str(write_sop(tmp_path))
    checkpoint = tmp_path / "whisper-tiny.pt"
    checkpoint.write_bytes(b"not loaded by the health check")
    config.speech = {"model": str(checkpoint)}
    config.api = {"shutdown_grace_s": 2, **api}
    return config


def free_socket() -> socket.socket:
    """A listening-ready socket bound to an ephemeral loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Served:
    """A running test server: its base URL and the app (``app.state.api`` once started)."""

    url: str
    app: Any
    server: Any

    def client(self, **kw: Any) -> httpx.Client:
        """A client for this server."""
        return httpx.Client(base_url=self.url, timeout=30, **kw)


@contextmanager
def live_server(config: AppConfig, **app_kw: Any) -> Iterator[Served]:
    """Serve ``create_app(config)`` with uvicorn on loopback in a thread."""
    import uvicorn

    from company.api.app import create_app

    sock = free_socket()
    port = sock.getsockname()[1]
    app = create_app(config, **app_kw)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 10, "the server did not start")
        yield Served(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str = "condition") -> Any:
    """Poll ``predicate`` until it is truthy; return its value or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {what}")
        time.sleep(0.05)


def wait_status(client: httpx.Client, task_id: str, statuses: tuple[str, ...] = (
        "done", "failed", "cancelled"), timeout: float = 20) -> dict[str, Any]:
    """Poll ``GET /v1/tasks/{id}`` until its status is one of ``statuses``; return the body."""
    def poll() -> dict[str, Any] | None:
        body = client.get(f"/v1/tasks/{task_id}").json()
        return body if body.get("status") in statuses else None

    return wait_for(poll, timeout, f"task {task_id} to reach {statuses}")


def read_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse SSE lines into frames: ``{"id", "event", "data"}`` (comments skipped)."""
    frame: dict[str, Any] = {}
    for line in lines:
        if not line:
            if frame:
                yield frame
            frame = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            frame["data"] = json.loads(value)
        elif name in ("id", "event", "retry"):
            frame[name] = value
    if frame:
        yield frame


def tone_wav(seconds: float = 1.5, rate: int = 16_000, freq: float = 440.0) -> bytes:
    """A mono 16-bit WAV of a tone with a little noise (not silent)."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    signal = 0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def transcriber_available() -> bool:
    """True once the Transcriber role exists (voice tasks can then run to a report)."""
    import importlib.util

    return importlib.util.find_spec("roles.transcriber") is not None


VOICE_SOP = """\
name: voice-analyst
description: transcribe, then the Analyst reads the transcript and reports at once
roles:
  - name: Transcriber
    watch: [VoiceRequest]
  - name: Analyst
    watch: [UserRequirement, Transcribe]
    triggers: {AnalyzeRequest: [UserRequirement, Transcribe],
               SummarizeResults: [UserRequirement, Transcribe]}
limits: {n_round: 4, max_llm_calls: 10}
"""
"""An SOP for voice tasks: the Analyst answers a voice note (or typed text) at once."""

VOICE_ONLY_SOP = VOICE_SOP.replace("UserRequirement, Transcribe", "Transcribe")
"""As ``VOICE_SOP``, for voice notes only (typed text alone wakes nobody)."""
