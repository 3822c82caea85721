"""HTTP shim benchmark: text task submissions per second and p50/p99 latency with 64 concurrent
connections on loopback, without and with SSE clients following every task.

A real ``startup.py serve`` subprocess (store on disk) runs the tasks against a fake Ollama
server (tests/fakes) started here. Prints a table; asserts nothing about time.
Run: python benchmarks/bench_http.py [--tasks 2000] [--concurrency 64] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
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

from tests.api_support import free_socket, script, write_sop  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402


def start_server(tmp: Path, fake: FakeOllama, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``startup.py serve`` on a free loopback port; returns the process and its base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({
        "llm": {"pull_missing": False},
        "speech": {"model": str(tmp / "whisper.pt")},
        "api": {"max_concurrent_runs": 4, "max_queue": 1_000_000},
    }))
    cmd = [sys.executable, "startup.py", "serve", "--port", str(port), "--config", str(config),
           "--workspace", str(tmp / "ws"), "--llm", f"ollama:qwen2.5@{fake.host}",
           "--sop", str(write_sop(tmp)), "--workers", str(workers), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "COMPANY_API_KEY"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "server.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).is_success:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server did not start: {(tmp / 'server.log').read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def follow(client: httpx.AsyncClient, task_id: str, accepted_at: float,
                 done: list[float], counts: list[int]) -> None:
    """Read one task's SSE stream to its end; record 202→task_finished time and event count."""
    n = 0
    async with client.stream("GET", f"/v1/tasks/{task_id}/events") as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data:") and '"kind":"task_finished"' in line:
                done.append(time.perf_counter() - accepted_at)
            n += line.startswith("id:")
    counts.append(n)


async def submit_load(base: str, tasks: range, concurrency: int, sse: bool,
                      start_at: float = 0.0) -> dict[str, list[float] | dict[int, int]]:
    """Submit ``tasks`` over ``concurrency`` connections (and follow each one's SSE stream)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    finish: list[float] = []
    counts: list[int] = []
    followers: list[asyncio.Task[None]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in tasks:
        queue.put_nowait(i)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client, \
            httpx.AsyncClient(base_url=base, limits=limits, timeout=300) as watcher:

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                resp = await client.post("/v1/tasks", json={"request": f"bench task {i}"})
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if sse and resp.status_code == 202:
                    followers.append(asyncio.create_task(
                        follow(watcher, resp.json()["task_id"], t0, finish, counts)))

        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        submitted = time.time()
        if followers:
            await asyncio.gather(*followers)
    return {"latencies": latencies, "statuses": statuses, "finish": finish,
            "counts": [float(c) for c in counts], "span": [started, submitted, time.time()]}


def client_process(args: tuple[str, range, int, bool, float]) -> dict[str, Any]:
    """One load-generating process (its own event loop and httpx client)."""
    return asyncio.run(submit_load(*args))


def run_load(base: str, tasks: int, concurrency: int, sse: bool,
             processes: int) -> dict[str, float]:
    """Split the load over ``processes`` client processes; aggregate their measurements."""
    per = [range(p, tasks, processes) for p in range(processes)]
    conns = [concurrency // processes + (p < concurrency % processes) for p in range(processes)]
    start_at = time.time() + 1.0
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(client_process,
                         [(base, per[p], conns[p], sse, start_at) for p in range(processes)])
    latencies = [x for part in parts for x in part["latencies"]]
    finish = [x for part in parts for x in part["finish"]]
    counts = [x for part in parts for x in part["counts"]]
    statuses: dict[int, int] = {}
    for part in parts:
        for code, n in part["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    began = min(part["span"][0] for part in parts)
    submitted = max(part["span"][1] for part in parts)
    ended = max(part["span"][2] for part in parts)
    result = {
        "rate": len(latencies) / (submitted - began), "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000, "accepted": statuses.get(202, 0),
        "other": sum(v for k, v in statuses.items() if k != 202), "elapsed": submitted - began,
        "began": began,
    }
    if sse:
        result.update(sse_p50=pct(finish, 50), sse_p99=pct(finish, 99),
                      followed=ended - began, events=statistics.mean(counts) if counts else 0.0,
                      streams=len(finish))
    return result


def wait_drained(db: Path, timeout: float = 900) -> float:
    """Wait until the store has no queued or running task; return when the last one finished
    (epoch seconds, from the tasks' ``updated_at``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with sqlite3.connect(db, timeout=30) as conn:
            left, last = conn.execute(
                "SELECT SUM(status IN ('queued', 'running')), MAX(updated_at) FROM tasks"
            ).fetchone()
        if not left:
            return datetime.fromisoformat(last).timestamp()
        time.sleep(0.2)
    raise RuntimeError("the tasks did not finish")


def main() -> None:
    """Run both scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=4,
                        help="client processes sharing the connections (one httpx async "
                        "client each; a single Python client cannot keep 64 connections busy)")
    args = parser.parse_args()
    console = Console(width=150)
    fake = script(FakeOllama().start())
    rows = []
    try:
        for sse in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                proc, base = start_server(Path(tmp), fake, args.workers)
                try:
                    run_load(base, 128, args.concurrency, False, args.clients)  # warm-up
                    db = Path(tmp) / "ws" / "company.db"
                    wait_drained(db)
                    cpu = cpu_seconds(proc.pid)
                    result = run_load(base, args.tasks, args.concurrency, sse, args.clients)
                    result["drain"] = wait_drained(db) - result["began"]
                    result["cpu_ms"] = (cpu_seconds(proc.pid) - cpu) * 1000 / args.tasks
                    with sqlite3.connect(db) as conn:
                        result["done"] = conn.execute(
                            "SELECT COUNT(*) FROM tasks WHERE status='done'").fetchone()[0] - 128
                finally:
                    proc.terminate()
                    proc.wait(30)
                rows.append((sse, result))
    finally:
        fake.stop()
    table = Table(title=f"HTTP shim: {args.tasks} text submissions, {args.concurrency} "
                  f"connections from {args.clients} client processes, {args.workers} server "
                  f"worker(s), {os.cpu_count()} CPUs, loopback, SQLite on disk")
    for col in ("scenario", "submits/s", "p50 ms", "p99 ms", "202", "other",
                "runs done (s after start)", "server CPU ms/task", "SSE 202→finished p50/p99 s",
                "events/stream"):
        table.add_column(col, justify="right")
    for sse, r in rows:
        table.add_row(
            "+ SSE client per task" if sse else "submit only", f"{r['rate']:.0f}",
            f"{r['p50']:.1f}", f"{r['p99']:.1f}", str(r["accepted"]), str(r["other"]),
            f"{r['done']} ({r['drain']:.1f})", f"{r['cpu_ms']:.1f}",
            f"{r['sse_p50']:.2f} / {r['sse_p99']:.2f}" if sse else "-",
            f"{r['events']:.0f} ({r['streams']} streams)" if sse else "-",
        )
    console.print(table)
    console.print(f"fake Ollama answered {fake.chat_calls} chat calls "
                  f"(2 per task: AnalyzeRequest, SummarizeResults)")
    print(json.dumps({("sse" if s else "plain"): r for s, r in rows}, default=float))


if __name__ == "__main__":
    main()
