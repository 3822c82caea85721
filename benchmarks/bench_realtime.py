"""Benchmark: ``/v1/realtime`` latencies on real speech (espeak-ng) with Whisper ``base`` on CPU.

A server runs in this process (uvicorn on loopback, in a thread); each client streams a spoken
request in 100 ms chunks at the pace of speech (0.5 s of silence, the request, 1.5 s of silence).
For 1, 2 and 4 sessions at once it measures, per turn:
  - start of speech -> first ``transcript.delta`` (the first stable partial words);
  - end of speech -> ``transcript.done`` (includes the ``silence_ms`` that ends a turn), and
    ``input.speech_stopped`` -> ``transcript.done`` (the final decode alone);
  - partial cadence: seconds between consecutive ``transcript.delta`` events, and deltas per turn;
  - Whisper batches of more than one window during the row (partials of sessions decoded together).
Then, with the embedded LLM (``--llm``, default ``embedded:qwen2.5-coder:0.5b``), one session:
end of speech -> ``response.done`` and -> first ``response.audio.delta`` (the spoken answer), on an
SOP of Transcriber + Analyst. The transcript rows point the LLM at a dead port, so their tasks
fail at once and no LLM competes for the cores.

Asserts nothing. Do not run it while a model evaluation runs (``pgrep -f scripts/eval.py``):
the numbers would measure the contention. Needs espeak-ng and the model cache's ``base``
(``python startup.py models pull base``; ``--whisper tiny.en`` for a quicker run).

    python benchmarks/bench_realtime.py [--sessions 1,2,4] [--rounds 2] [--whisper base]
        [--llm embedded:qwen2.5-coder:0.5b | none] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from company.config import AppConfig, apply_llm_spec  # noqa: E402
from company.realtime.hub import RealtimeHub  # noqa: E402
from company.realtime.settings import RealtimeSettings  # noqa: E402
from company.speech import decode_audio  # noqa: E402
from company.speech.synth import speak_to_wav  # noqa: E402
from tests.api_support import VOICE_SOP  # noqa: E402

REQUESTS = [
    "What is six times seven, and how many words are in the quick brown fox?",
    "Please send the quarterly report to the finance team before Friday.",
    "Turn off the lights in the kitchen and lock the front door.",
    "Add milk, eggs and bread to the shopping list for tomorrow.",
]
CHUNK = 1600  # 100 ms at 16 kHz
LEAD_S, TAIL_S = 0.5, 1.5


@dataclass
class Turn:
    """What one client saw of its turn (wall-clock seconds, ``time.perf_counter``)."""

    speech_start: float = 0.0
    speech_end: float = 0.0
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def first(self, kind: str) -> float | None:
        """When the first event of ``kind`` arrived."""
        return next((t for t, e in self.events if e["type"] == kind), None)

    def all(self, kind: str) -> list[float]:
        """When each event of ``kind`` arrived."""
        return [t for t, e in self.events if e["type"] == kind]


def eval_running() -> bool:
    """Whether a model evaluation (scripts/eval.py) runs on this machine."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"scripts/eval.py" in cmdline and b"python" in cmdline:
            return True
    return False


@contextmanager
def serve(config: AppConfig, settings: RealtimeSettings) -> Iterator[tuple[str, Any]]:
    """The app on an ephemeral loopback port, in a thread; yields (ws base URL, app)."""
    import uvicorn

    from company.api.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    app.state.realtime = RealtimeHub(settings)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/v1/realtime", app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def settle(app: Any, timeout_s: float = 120) -> None:
    """Wait until the server runs and queues no task (their Whisper work is done)."""
    pool = app.state.api.pool
    deadline = time.monotonic() + timeout_s
    while (pool.running or pool.queued) and time.monotonic() < deadline:
        time.sleep(0.1)


async def talk(url: str, pcm: np.ndarray, until: str, timeout_s: float = 600) -> Turn:
    """Stream one request at the pace of speech; read events until one of type ``until``."""
    from websockets.asyncio.client import connect

    turn = Turn()
    speech_first = int(LEAD_S * 16_000) // CHUNK
    speech_last = (pcm.size - int(TAIL_S * 16_000)) // CHUNK
    async with connect(url, max_size=2**24) as ws:
        done = asyncio.Event()

        async def read() -> None:
            """Record each event with its arrival time."""
            async for text in ws:
                event = json.loads(text)
                turn.events.append((time.perf_counter(), event))
                silent = event["type"] == "response.done" and not event.get("answer")
                if event["type"] in (until, "session.ended", "error") or silent:
                    done.set()  # what was awaited, or what means it will not come
                    return

        reader = asyncio.create_task(read())
        started = time.perf_counter()
        for index, start in enumerate(range(0, pcm.size, CHUNK)):
            due = started + index * 0.1
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await ws.send(pcm[start:start + CHUNK].astype("<i2").tobytes())
            if index == speech_first:
                turn.speech_start = time.perf_counter()
            if index == speech_last:
                turn.speech_end = time.perf_counter()
        await asyncio.wait_for(done.wait(), timeout_s)
        reader.cancel()
    return turn


def spoken(folder: Path) -> list[np.ndarray]:
    """Each request spoken, with its lead and tail of silence, as int16 samples."""
    out = []
    for i, text in enumerate(REQUESTS):
        samples = decode_audio(speak_to_wav(text, folder / f"r{i}.wav"))
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        loud = np.flatnonzero(np.abs(pcm) > 300)
        pcm = pcm[loud[0]:loud[-1] + 1]
        out.append(np.concatenate([np.zeros(int(LEAD_S * 16_000), np.int16), pcm,
                                   np.zeros(int(TAIL_S * 16_000), np.int16)]))
    return out


def med(values: list[float]) -> str:
    """Median in seconds, or '-'."""
    return f"{statistics.median(values):.2f}" if values else "-"


def base_config(work: Path, whisper: str, threads: int) -> AppConfig:
    """A config: temp workspace, the voice SOP, Whisper from the model cache, a dead LLM."""
    from company.models import cached_model_file

    model = cached_model_file(whisper)
    if model is None:
        raise SystemExit(f"{whisper} is not in the model cache: python startup.py models pull "
                         f"{whisper}")
    config = AppConfig(workspace=work / "ws")
    sop = work / "voice-analyst.yaml"
    sop.write_text(VOICE_SOP)
    config.sop = str(sop)
    config.llm.provider = "ollama"
    config.llm.host = "http://127.0.0.1:9"  # transcript rows: tasks fail at once, no LLM load
    config.llm.pull_missing = False
    config.speech = {"model": str(model), "device": "cpu", "threads": threads}
    return config


async def transcript_row(url: str, speech: list[np.ndarray], sessions: int) -> list[Turn]:
    """``sessions`` clients talking at once (each its own request)."""
    return list(await asyncio.gather(*(
        talk(url, speech[i % len(speech)], "transcript.done") for i in range(sessions))))


def main() -> None:
    """Run the rows and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--llm", default="embedded:qwen2.5-coder:0.5b",
                        help="the LLM of the spoken-answer row ('none' skips it)")
    args = parser.parse_args()
    if eval_running():
        print("warning: a model evaluation (scripts/eval.py) is running: these numbers measure "
              "the contention too", file=sys.stderr)
    counts = [int(n) for n in args.sessions.split(",")]
    settings = RealtimeSettings(speak=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speech = spoken(work)
        config = base_config(work, args.whisper, args.threads)
        rows: dict[int, list[Turn]] = {n: [] for n in counts}
        batched: dict[int, int] = dict.fromkeys(counts, 0)
        with serve(config, settings) as (url, app):
            service = app.state.api.company.services.speech()
            asyncio.run(service.load())
            asyncio.run(talk(url, speech[0], "transcript.done"))  # warm-up, not counted
            settle(app)
            for _ in range(args.rounds):
                for n in counts:  # interleaved: 1 2 4 1 2 4
                    before = dict(service.stats.batch_sizes)
                    rows[n] += asyncio.run(transcript_row(url, speech, n))
                    settle(app)  # the Transcriber's own pass of each turn ends first
                    after = service.stats.batch_sizes
                    batched[n] += sum(c - before.get(s, 0) for s, c in after.items() if s > 1)
        print(f"\nWhisper {args.whisper}, {args.threads} threads, silence_ms "
              f"{settings.silence_ms}, partial_every_ms {settings.partial_every_ms}, "
              f"{args.rounds} rounds (medians, seconds)\n")
        print("| sessions | speech start → first delta | end of speech → transcript.done | "
              "speech_stopped → transcript.done | s between deltas | deltas per turn | "
              "batches > 1 |")
        print("|---|---|---|---|---|---|---|")
        for n in counts:
            turns = rows[n]
            first = [t.first("transcript.delta") - t.speech_start for t in turns
                     if t.first("transcript.delta")]
            final = [t.first("transcript.done") - t.speech_end for t in turns
                     if t.first("transcript.done")]
            decode = [t.first("transcript.done") - t.first("input.speech_stopped")
                      for t in turns if t.first("transcript.done")
                      and t.first("input.speech_stopped")]
            gaps = [b - a for t in turns for a, b in zip(t.all("transcript.delta"),
                                                         t.all("transcript.delta")[1:],
                                                         strict=False)]
            per_turn = [len(t.all("transcript.delta")) for t in turns]
            print(f"| {n} | {med(first)} | {med(final)} | {med(decode)} | {med(gaps)} | "
                  f"{statistics.mean(per_turn):.1f} | {batched[n]} |")
        if args.llm != "none":
            llm_row(work, config, args.llm, speech[0])


def llm_row(work: Path, config: AppConfig, spec: str, pcm: np.ndarray) -> None:
    """One spoken request answered by the company on ``spec``; print the answer latencies."""
    from company.llm.spec import parse_llm_spec

    config = config.model_copy(deep=True)
    config.workspace = work / "ws-llm"
    apply_llm_spec(config, parse_llm_spec(spec))
    with serve(config, RealtimeSettings(speak=True, partials=False)) as (url, _app):
        asyncio.run(talk(url, pcm, "response.audio.delta"))  # warm-up: loads the LLM
        turn = asyncio.run(talk(url, pcm, "response.audio.delta"))
    done = turn.first("response.done")
    audio = turn.first("response.audio.delta")
    print(f"\nSpoken answer, {spec}, one session (seconds from the end of speech)\n")
    print("| LLM | → transcript.done | → response.done | → first response.audio.delta |")
    print("|---|---|---|---|")
    final = turn.first("transcript.done")
    cells = [f"{x - turn.speech_end:.2f}" if x else "-" for x in (final, done, audio)]
    print(f"| {spec} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
