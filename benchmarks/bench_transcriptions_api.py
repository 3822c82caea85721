"""Benchmark: the OpenAI-compatible ``POST /v1/audio/transcriptions`` against the transcription
step of ``POST /v1/tasks/voice``, 8 concurrent clients, real speech, real Whisper base on CPU.

A ``startup.py serve`` subprocess (store on disk, the model cache's ``base``, a transcriber-only
SOP, a fake Ollama that no role calls) serves both. Eight espeak-ng clips (the paragraphs of
``bench_whisper_real``, 15-30 s each) are sent by 8 concurrent clients, each client its own clip,
``--per-client`` times a wave; waves alternate A, B, A, B (``--rounds``) so both methods see the
same machine load.

- A: ``/v1/audio/transcriptions`` (``response_format=json``); latency = the whole request on
  the client (upload, decode, batched transcription, answer).
- B: ``/v1/tasks/voice``; only the transcription step is timed, from the task's events: the
  Transcriber's ``role_finished.duration_s`` (its turn: the service decodes and transcribes the
  stored file); a wave's span runs from its first ``role_started`` to its last ``role_finished``.

Throughput = requests (or steps) per second of a wave's span, and audio seconds per second.
Prints a table; asserts nothing. Needs espeak-ng and ``python startup.py models pull base``.

    python benchmarks/bench_transcriptions_api.py [--rounds 2] [--per-client 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.bench_whisper_real import PARAGRAPHS  # noqa: E402
from company.speech import decode_audio  # noqa: E402
from company.speech.audio import SAMPLE_RATE  # noqa: E402
from company.speech.synth import speak_to_wav  # noqa: E402
from tests.api_support import free_socket  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402

CLIENTS = 8
SOP = """\
name: transcribe-only
description: the Transcriber writes the voice note down; nobody else works
roles:
  - name: Transcriber
    watch: [VoiceRequest]
limits: {n_round: 2, max_llm_calls: 1}
"""


def start_server(tmp: Path, fake: FakeOllama, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    """``startup.py serve`` on a free loopback port with Whisper base; returns it and its URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({
        "llm": {"pull_missing": False},
        "speech": {"model": "base", "device": "cpu", "threads": threads, "batch_size": 8},
        "api": {"max_concurrent_runs": CLIENTS, "max_queue": 1000, "max_audio_seconds": 600},
    }))
    sop = tmp / "transcribe-only.yaml"
    sop.write_text(SOP)
    cmd = [sys.executable, "startup.py", "serve", "--port", str(port), "--config", str(config),
           "--workspace", str(tmp / "ws"), "--llm", f"ollama:qwen2.5@{fake.host}",
           "--sop", str(sop), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "COMPANY_API_KEY"}
    log = open(tmp / "server.log", "wb")  # noqa: SIM115  (the server's for its lifetime)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code < 500:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not start: {(tmp / 'server.log').read_text()}")


def make_clips(directory: Path) -> list[tuple[bytes, float]]:
    """The 8 paragraphs spoken by espeak-ng: (WAV bytes, seconds)."""
    clips = []
    for i, text in enumerate(PARAGRAPHS[:CLIENTS]):
        path = speak_to_wav(text, directory / f"clip{i}.wav")
        clips.append((path.read_bytes(), decode_audio(path).size / SAMPLE_RATE))
    return clips


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def wave_openai(base: str, clips: list[tuple[bytes, float]], per_client: int
                      ) -> dict[str, Any]:
    """A: each client posts its clip ``per_client`` times to /v1/audio/transcriptions."""
    latencies: list[float] = []
    texts: dict[int, str] = {}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:

        async def one(i: int) -> None:
            for _ in range(per_client):
                t0 = time.perf_counter()
                resp = await client.post("/v1/audio/transcriptions",
                                         data={"model": "whisper-1"},
                                         files={"file": (f"clip{i}.wav", clips[i][0])})
                latencies.append(time.perf_counter() - t0)
                resp.raise_for_status()
                texts[i] = resp.json()["text"]

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(clips))))
        span = time.perf_counter() - began
    audio = per_client * sum(seconds for _, seconds in clips)
    return {"latencies": latencies, "span": span, "audio": audio, "texts": texts}


async def wave_voice(base: str, db: Path, clips: list[tuple[bytes, float]], per_client: int
                     ) -> dict[str, Any]:
    """B: each client submits its clip ``per_client`` times to /v1/tasks/voice and waits for
    the task; the Transcriber's step is read from the events."""
    ids: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:

        async def one(i: int) -> None:
            for _ in range(per_client):
                resp = await client.post("/v1/tasks/voice",
                                         files={"audio": (f"clip{i}.wav", clips[i][0])})
                resp.raise_for_status()
                task_id = resp.json()["task_id"]
                ids[task_id] = i
                while True:
                    status = (await client.get(f"/v1/tasks/{task_id}")).json()["status"]
                    if status in ("done", "failed", "cancelled"):
                        break
                    await asyncio.sleep(0.5)  # light polling: the step shares the CPUs

        await asyncio.gather(*(one(i) for i in range(len(clips))))
    steps, starts, ends, texts = step_times(db, list(ids))
    audio = per_client * sum(seconds for _, seconds in clips)
    return {"latencies": steps, "span": max(ends) - min(starts), "audio": audio,
            "texts": {ids[t]: text for t, text in texts.items()}}


def step_times(db: Path, task_ids: list[str]
               ) -> tuple[list[float], list[float], list[float], dict[str, str]]:
    """The Transcriber's turn of each task: durations, start and end times, and transcripts."""
    marks = ",".join("?" * len(task_ids))
    with sqlite3.connect(db, timeout=30) as conn:
        events = conn.execute(
            f"SELECT task_id, kind, body FROM events WHERE task_id IN ({marks}) "
            "AND kind IN ('role_started', 'role_finished')", task_ids).fetchall()
        messages = conn.execute(
            f"SELECT task_id, body FROM messages WHERE task_id IN ({marks}) "
            "AND cause_by = 'Transcribe'", task_ids).fetchall()
    steps, starts, ends = [], [], []
    for _task, kind, body in events:
        event = json.loads(body)
        if event["data"].get("role") != "Transcriber":
            continue
        at = datetime.fromisoformat(event["at"]).timestamp()
        if kind == "role_started":
            starts.append(at)
        else:
            if not event["data"].get("ok"):
                raise RuntimeError(f"a Transcriber turn failed: {event['data']}")
            ends.append(at)
            steps.append(float(event["data"]["duration_s"]))
    texts = {task: json.loads(body)["payload"]["transcript"] for task, body in messages}
    if len(steps) != len(task_ids):
        raise RuntimeError(f"{len(steps)} Transcriber turns for {len(task_ids)} tasks")
    return steps, starts, ends, texts


def summarize(waves: list[dict[str, Any]]) -> dict[str, float]:
    """Throughput over the waves' spans and latency percentiles over all their requests."""
    latencies = [x for w in waves for x in w["latencies"]]
    span = sum(w["span"] for w in waves)
    return {"n": len(latencies), "rate": len(latencies) / span,
            "audio_rate": sum(w["audio"] for w in waves) / span,
            "p50": pct(latencies, 50), "p99": pct(latencies, 99),
            "mean": statistics.mean(latencies),
            "waves": ", ".join(f"{len(w['latencies']) / w['span']:.2f}" for w in waves)}


def eval_running() -> bool:
    """Whether the model evaluation (scripts/eval.py) runs on this machine now."""
    found = subprocess.run(["pgrep", "-f", "scripts/eval.py"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def main() -> None:
    """Alternate A and B waves, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="A, B pairs of waves")
    parser.add_argument("--per-client", type=int, default=2, help="requests per client a wave")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    args = parser.parse_args()
    console = Console(width=150)
    fake = FakeOllama().start()
    eval_before = eval_running()
    results: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp) / "clips")
        proc, base = start_server(Path(tmp), fake, args.threads)
        db = Path(tmp) / "ws" / "company.db"
        try:
            asyncio.run(wave_openai(base, clips[:1], 1))  # load the model
            asyncio.run(wave_voice(base, db, clips[:1], 1))  # and warm the task path
            for _ in range(args.rounds):
                results["A"].append(asyncio.run(wave_openai(base, clips, args.per_client)))
                results["B"].append(asyncio.run(wave_voice(base, db, clips, args.per_client)))
        finally:
            proc.terminate()
            proc.wait(30)
            fake.stop()
    eval_after = eval_running()
    audio_s = sum(seconds for _, seconds in clips)
    table = Table(title=f"Whisper base on CPU ({os.cpu_count()} CPUs, {args.threads} torch "
                  f"threads, batch 8): {CLIENTS} concurrent clients x {args.per_client} "
                  f"requests a wave, {args.rounds} waves each, interleaved A/B; 8 espeak-ng "
                  f"clips, {audio_s:.0f} s of audio a round")
    for col in ("method", "timed", "requests", "req/s", "audio s/s", "p50 s", "p99 s",
                "mean s", "req/s per wave"):
        table.add_column(col, justify="right")
    labels = {"A": ("POST /v1/audio/transcriptions", "whole request (client)"),
              "B": ("POST /v1/tasks/voice", "Transcriber step (events)")}
    for key, waves in results.items():
        s = summarize(waves)
        table.add_row(labels[key][0], labels[key][1], str(s["n"]), f"{s['rate']:.2f}",
                      f"{s['audio_rate']:.1f}", f"{s['p50']:.2f}", f"{s['p99']:.2f}",
                      f"{s['mean']:.2f}", s["waves"])
    console.print(table)
    same = sum(results["A"][-1]["texts"].get(i) == results["B"][-1]["texts"].get(i)
               for i in range(len(clips)))
    console.print(f"same transcript from both routes: {same} of {len(clips)} clips; "
                  f"eval (scripts/eval.py) running: before {eval_before}, after {eval_after}")


if __name__ == "__main__":
    main()
