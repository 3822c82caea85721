"""A hostile load on `startup.py serve`: four hostile uploads and a runaway graph at once, while
`/v1/health` is probed and the server's memory is watched. Shared by bench_hostile.py (the
table) and tests/test_api_hostile.py (the bounds)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.fakes.ollama_server import FakeOllama
from tests.hostile_audio import one_hertz_wav

ROOT = Path(__file__).resolve().parents[1]
RUNAWAY_TEXT = "a" * 48 + "b"
RUNAWAY_PATTERN = "(a|aa)+$"  # exponential backtracking, even in the `regex` engine


@dataclass
class Outcome:
    """What one hostile request got."""

    name: str
    status: int | str
    seconds: float


@dataclass
class HostileResult:
    """Everything measured during one hostile run."""

    health_latencies_s: list[float] = field(default_factory=list)
    health_failures: int = 0
    peak_rss_bytes: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    runaway_status: str = ""
    runaway_error: str = ""
    runaway_seconds: float = 0.0

    def health_summary(self) -> dict[str, float]:
        """p50, p99 and max of the health probes, in milliseconds."""
        values = sorted(self.health_latencies_s) or [0.0]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return {"probes": len(self.health_latencies_s), "p50_ms": statistics.median(values) * 1e3,
                "p99_ms": p99 * 1e3, "max_ms": values[-1] * 1e3}


def runaway_graph() -> dict:
    """A catalogue graph whose regex node backtracks catastrophically on the planned input."""
    def node(node_id: str, block: str, defaults: dict) -> dict:
        return {"id": node_id, "block_id": block, "input_default": defaults, "metadata": {}}

    def link(src: str, sink: str, src_pin: str, sink_pin: str) -> dict:
        return {"id": f"{src}-{sink}-{sink_pin}", "source_id": src, "sink_id": sink,
                "source_name": src_pin, "sink_name": sink_pin, "is_static": False}

    text_input = "90a56ffb-7024-4b2b-ab50-e26c5e5ab8ba"
    output = "363ae599-353e-4804-937e-b2ee3cef3da4"
    return {
        "id": "0b6d7d7e-0000-4000-8000-000000000001", "version": 1, "is_active": True,
        "name": "Match Pattern", "description": "Checks whether a text matches a regex.",
        "nodes": [
            node("in-text", text_input, {"name": "text", "description": "The text."}),
            node("in-pattern", text_input, {"name": "pattern", "description": "A regex."}),
            node("match", "3060088f-6ed9-4928-9ba7-9c92823a7ccd", {}),
            node("out-yes", output, {"name": "matched", "description": "The text if it matched."}),
            node("out-no", output, {"name": "unmatched", "description": "The text otherwise."}),
        ],
        "links": [
            link("in-text", "match", "result", "text"),
            link("in-text", "match", "result", "data"),
            link("in-pattern", "match", "result", "match"),
            link("match", "out-yes", "positive", "value"),
            link("match", "out-no", "negative", "value"),
        ],
        "sub_graphs": [],
    }


def script(fake: FakeOllama) -> FakeOllama:
    """Analysis, a plan that runs the runaway graph, and a report."""
    fake.on_json("## Task: AnalyzeRequest", {
        "summary": "Check a text against a pattern.", "ideas": [],
        "action_items": [{"text": "Match the pattern", "priority": "high"}]})
    fake.on_json("## Task: WritePlan", {"steps": [{
        "id": "s1", "graph": "match_pattern", "depends_on": [], "purpose": "match",
        "inputs": {"text": RUNAWAY_TEXT, "pattern": RUNAWAY_PATTERN}}], "notes": ""})
    fake.on("## Task: SummarizeResults", "# Report\n\nThe pattern check did not finish.")
    return fake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss(pid: int) -> tuple[int, int]:
    """Current and peak resident memory of a process, in bytes (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


def _serve(tmp: Path, fake: FakeOllama, port: int) -> subprocess.Popen[bytes]:
    catalogue = tmp / "graphs"
    catalogue.mkdir(parents=True, exist_ok=True)
    (catalogue / "match_pattern.json").write_text(json.dumps(runaway_graph()))
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({
        "llm": {"provider": "ollama", "host": fake.host, "pull_missing": False, "timeout_s": 10},
        "graphs": {"catalogue_dir": str(catalogue), "block_cpu_timeout_s": 3},
        "speech": {"model": str(tmp / "whisper.pt")},
        "api": {"max_concurrent_runs": 2, "shutdown_grace_s": 1, "body_idle_timeout_s": 2,
                "body_timeout_s": 10},
    }))
    cmd = [sys.executable, "startup.py", "serve", "--port", str(port), "--config", str(config),
           "--workspace", str(tmp / "ws"), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k not in ("COMPANY_API_KEY", "COMPANY_LLM")}
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], tmp: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {(tmp / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("serve did not start within 60 s")


def _timed(name: str, url: str) -> Outcome:
    """Run one attack (in its own process, so the prober's timings are not the client's)."""
    started = time.perf_counter()
    try:
        status: int | str = ATTACKS[name](url)
    except Exception as exc:  # a dropped connection is an outcome too
        status = type(exc).__name__
    return Outcome(name, status, time.perf_counter() - started)


def _one_hertz(url: str) -> int:
    files = {"audio": ("forged.wav", one_hertz_wav(), "audio/wav")}
    return httpx.post(f"{url}/v1/tasks/voice", files=files, timeout=60).status_code


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"\0" * size


def _many_parts(url: str) -> int:
    boundary = "hostileboundary"

    def body() -> Iterator[bytes]:
        for i in range(100_000):
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}{'x' * 40}\""
                   f"\r\n\r\nv\r\n").encode()
        yield f"--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return httpx.post(f"{url}/v1/tasks/voice", content=body(), headers=headers,
                      timeout=60).status_code


def _oversized_chunked(url: str) -> int:
    boundary = "hostileboundary"

    def body() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; "
               f"filename=\"big.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
        yield from _chunks(60 * 1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return httpx.post(f"{url}/v1/tasks/voice", content=body(), headers=headers,
                      timeout=60).status_code


def _stalled(url: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (f"POST /v1/tasks/voice HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/"
                "form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n")
        sock.sendall(head.encode() + b"--b\r\nContent-Disposition: form-data; name=\"audio\"; "
                     b"filename=\"x.wav\"\r\n\r\n" + b"\0" * 100_000)
        answer = sock.recv(4096).decode(errors="replace")  # waits until the server gives up
    return int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/") else answer[:40]


ATTACKS = {"1 Hz WAV": _one_hertz, "100,000 parts": _many_parts,
           "60 MB chunked": _oversized_chunked, "stalled upload": _stalled}


def _pin_clients(cpus: set[int]) -> None:
    os.sched_setaffinity(0, cpus)


def run_hostile(tmp: Path, *, probe_every_s: float = 0.05, pin: bool = False,
                min_probes: int = 10) -> HostileResult:
    """Start serve, run the hostile load, and measure; the server is stopped at the end.

    ``pin``: the server gets CPU 0 and the attacking clients the other CPUs, so the numbers
    show the server's own responsiveness rather than clients starving it of CPU. Health is
    probed until the load is over and at least ``min_probes`` times (a load that ended in 3 s
    while each probe took most of a second left too few to judge)."""
    fake = script(FakeOllama()).start()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(tmp, fake, port)
    result = HostileResult()
    try:
        _wait_healthy(url, proc, tmp)
        cpus = sorted(os.sched_getaffinity(0))
        client_cpus = set(cpus[1:]) if pin and len(cpus) > 1 else set(cpus)
        if pin and len(cpus) > 1:
            os.sched_setaffinity(proc.pid, {cpus[0]})
        started = time.perf_counter()
        task = httpx.post(f"{url}/v1/tasks", json={"request": "Does my text match the pattern?"},
                          timeout=10).json()["task_id"]
        pool = ProcessPoolExecutor(len(ATTACKS), mp_context=multiprocessing.get_context("fork"),
                                   initializer=_pin_clients, initargs=(client_cpus,))
        futures = [pool.submit(_timed, name, url) for name in ATTACKS]
        with httpx.Client(timeout=5) as client:
            while (not all(f.done() for f in futures) or not result.runaway_status
                   or len(result.health_latencies_s) + result.health_failures < min_probes):
                probe = time.perf_counter()
                try:
                    client.get(f"{url}/v1/health").raise_for_status()
                    result.health_latencies_s.append(time.perf_counter() - probe)
                except httpx.HTTPError:
                    result.health_failures += 1
                result.peak_rss_bytes = max(result.peak_rss_bytes, _rss(proc.pid)[1])
                if not result.runaway_status:
                    state = client.get(f"{url}/v1/tasks/{task}").json()
                    if state["status"] in ("done", "failed", "cancelled"):
                        result.runaway_status = state["status"]
                        result.runaway_seconds = time.perf_counter() - started
                        steps = [m for m in state["messages"] if m["cause_by"] == "RunGraphs"]
                        result.runaway_error = json.dumps(steps[-1]["payload"]) if steps else ""
                if time.perf_counter() - started > 120:
                    break
                time.sleep(probe_every_s)
        result.outcomes = [f.result(timeout=60) for f in futures]
        pool.shutdown()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()
    return result
