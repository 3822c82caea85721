"""Past one machine, as real processes on one PostgreSQL: two API nodes (``serve --no-runs``)
and three workers (``startup.py worker``) on the fake Ollama. Every task submitted across both
nodes ends done exactly once; a worker killed with -9 mid-run loses its tasks to the others,
which repeat at most the call in flight; clients streaming from an API node killed with -9
reconnect to the other with ``Last-Event-ID`` and miss nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.api_support import VOICE_ONLY_SOP, free_socket, script, wait_for, write_sop
from tests.fakes.ollama_server import FakeOllama
from tests.pg_support import pg_server, pg_url  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Cluster:
    """The processes of one test and how to reach them."""

    tmp: Path
    fake: FakeOllama
    url: str
    api: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sop: Path | None = None

    def command(self, *argv: str) -> list[str]:
        sop = self.sop or write_sop(self.tmp)
        return [sys.executable, "startup.py", *argv, "--config", str(self.tmp / "config.yaml"),
                "--llm", f"ollama:qwen2.5@{self.fake.host}", "--sop", str(sop)]

    def spawn(self, argv: list[str], log: str, workspace: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("COMPANY_API_KEY", "COMPANY_LLM", "COMPANY_SERVE_NO_RUNS")}
        env["COMPANY_DATABASE_URL"] = self.url
        with open(self.tmp / log, "wb") as out:
            return subprocess.Popen([*argv, "--workspace", str(self.tmp / workspace)],
                                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)

    def start_api(self) -> str:
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        name = f"api{len(self.api)}"
        proc = self.spawn(self.command("serve", "--no-runs", "--port", str(port),
                                       "--log-level", "warning"), f"{name}.log", name)
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert proc.poll() is None, (self.tmp / f"{name}.log").read_text()
            try:
                return httpx.get(f"{base}/v1/health", timeout=2).is_success
            except httpx.TransportError:
                return False

        wait_for(healthy, 60, f"{name} to start")
        self.api.append((base, proc))
        return base

    def start_worker(self, concurrency: int = 4, *extra: str) -> subprocess.Popen[bytes]:
        name = f"worker{len(self.workers)}"
        proc = self.spawn(self.command("worker", "--concurrency", str(concurrency),
                                       "--log-level", "info", *extra), f"{name}.log", name)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [p for _, p in self.api] + self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [p for _, p in self.api] + self.workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def cluster(tmp_path: Path, url: str, delay_s: float, **queue: Any) -> Iterator[Cluster]:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "llm": {"pull_missing": False, "timeout_s": 30},
        "speech": {"model": str(tmp_path / "whisper.pt"), "device": "cpu", "sample_len": 8,
                   "threads": 1},
        "api": {"max_queue": 1000, "shutdown_grace_s": 1, "poll_s": 0.1},
        "queue": {"lease_s": 3, "poll_s": 0.5, "grace_s": 1, **queue},
    }))
    fake = script(FakeOllama().start(), delay_s=delay_s)
    found = Cluster(tmp_path, fake, url)
    with ExitStack() as stack:
        stack.callback(fake.stop)
        stack.callback(found.stop)
        yield found


def db_rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def check_logs(url: str, task_ids: list[str]) -> None:
    """Each task: done once, one report, messages and events numbered without gaps."""
    for task_id in task_ids:
        msgs = [r[0] for r in db_rows(url, "SELECT seq FROM messages WHERE task_id=%s"
                                      " ORDER BY seq", (task_id,))]
        assert msgs == list(range(1, len(msgs) + 1)), task_id
        events = db_rows(url, "SELECT seq, kind FROM events WHERE task_id=%s ORDER BY seq",
                         (task_id,))
        assert [e[0] for e in events] == list(range(1, len(events) + 1)), task_id
        assert [e[1] for e in events].count("task_finished") == 1, task_id
        causes = [r[0] for r in db_rows(url, "SELECT cause_by FROM messages WHERE task_id=%s"
                                        " ORDER BY seq", (task_id,))]
        assert causes == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"], task_id


def test_200_tasks_across_two_api_nodes_and_three_workers_end_done_exactly_once(
        tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    with cluster(tmp_path, pg_url, delay_s=0.05) as c:
        nodes = [c.start_api(), c.start_api()]
        for _ in range(3):
            c.start_worker(concurrency=4)
        texts: dict[str, str] = {}
        lock = threading.Lock()

        def submit(part: int) -> None:
            with httpx.Client(base_url=nodes[part % 2], timeout=30) as client:
                for i in range(part, 200, 4):
                    text = f"scale job #{i}."
                    resp = client.post("/v1/tasks", json={"request": text})
                    assert resp.status_code == 202, resp.text
                    with lock:
                        texts[resp.json()["task_id"]] = text

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(texts) == 200

        def all_done() -> bool:
            rows = db_rows(pg_url, "SELECT status, COUNT(*) FROM tasks GROUP BY status")
            return dict(rows).get("done", 0) == 200

        wait_for(all_done, 600, "every task to finish")
        requests = list(c.fake.requests)
    assert db_rows(pg_url, "SELECT COUNT(*) FROM jobs") == [(0,)]
    reports = db_rows(pg_url, "SELECT COUNT(*) FROM tasks WHERE report LIKE '# Report%%'")
    assert reports == [(200,)]
    check_logs(pg_url, list(texts))
    for text in texts.values():  # two calls each: none repeated, none lost
        assert sum(text in str(r) for r in requests) == 2, text


def test_kill_9_of_a_worker_mid_run_hands_its_tasks_to_the_others(
        tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    with cluster(tmp_path, pg_url, delay_s=0.6, lease_s=2) as c:
        base = c.start_api()
        victim = c.start_worker(concurrency=4)
        texts = {}
        for i in range(8):
            text = f"kill job #{i}."
            resp = httpx.post(f"{base}/v1/tasks", json={"request": text}, timeout=30)
            texts[resp.json()["task_id"]] = text

        def victim_busy() -> list[str]:
            rows = db_rows(pg_url, "SELECT task_id FROM jobs WHERE lease_owner LIKE %s",
                           (f"%:{victim.pid}:%",))
            return [r[0] for r in rows] if len(rows) == 4 and c.fake.chat_calls >= 4 else []

        held = wait_for(victim_busy, 120, "the first worker to hold four runs")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        journaled = dict(db_rows(pg_url, "SELECT substr(namespace, 6), COUNT(*) FROM llm_calls"
                                 " GROUP BY namespace"))
        at_kill = len(c.fake.requests)
        c.start_worker(concurrency=4)
        c.start_worker(concurrency=4)

        def all_done() -> bool:
            rows = db_rows(pg_url, "SELECT status, COUNT(*) FROM tasks GROUP BY status")
            return dict(rows).get("done", 0) == len(texts)

        wait_for(all_done, 300, "every task to finish on the other workers")
        requests = list(c.fake.requests)
    check_logs(pg_url, list(texts))
    before, after = requests[:at_kill], requests[at_kill:]
    for task_id, text in texts.items():
        done_before = journaled.get(task_id, 0)
        asked_before = sum(text in str(r) for r in before)
        asked_after = sum(text in str(r) for r in after)
        assert asked_after == 2 - done_before, (task_id, done_before, asked_after)
        assert asked_before - done_before in (0, 1)  # at most the call cut off by the kill
    assert set(held) <= set(texts)
    for task_id in held:  # started by the killed worker, resumed by another
        starts = db_rows(pg_url, "SELECT body FROM events WHERE task_id=%s AND"
                         " kind='task_started' ORDER BY seq", (task_id,))
        assert len(starts) == 2, task_id


def read_stream(base: str, task_id: str, last: int, seen: list[int]) -> str:
    """Read SSE frames into ``seen`` until ``end`` (returns "end") or the connection breaks
    (returns "broken")."""
    headers = {"Last-Event-ID": str(last)} if last else {}
    try:
        with httpx.stream("GET", f"{base}/v1/tasks/{task_id}/events", headers=headers,
                          timeout=httpx.Timeout(30, read=60)) as resp:
            for line in resp.iter_lines():
                if line.startswith("id: "):
                    seen.append(int(line[4:]))
                elif line.startswith("event: end"):
                    return "end"
    except httpx.HTTPError:
        return "broken"
    return "broken"


def test_clients_streaming_from_a_killed_api_node_resume_on_the_other(
        tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    with cluster(tmp_path, pg_url, delay_s=0.8) as c:
        node_a, node_b = c.start_api(), c.start_api()
        c.start_worker(concurrency=4)
        ids = [httpx.post(f"{node_a}/v1/tasks", json={"request": f"stream job #{i}."},
                          timeout=30).json()["task_id"] for i in range(4)]
        seen: dict[str, list[int]] = {t: [] for t in ids}
        outcome: dict[str, list[str]] = {t: [] for t in ids}

        def client(task_id: str) -> None:
            result = read_stream(node_a, task_id, 0, seen[task_id])
            outcome[task_id].append(result)
            if result != "end":
                last = seen[task_id][-1] if seen[task_id] else 0
                outcome[task_id].append(read_stream(node_b, task_id, last, seen[task_id]))

        threads = [threading.Thread(target=client, args=(t,)) for t in ids]
        for thread in threads:
            thread.start()
        wait_for(lambda: all(len(s) >= 2 for s in seen.values()), 120,
                 "every client to be streaming")
        c.api[0][1].send_signal(signal.SIGKILL)  # node A dies with its streams open
        c.api[0][1].wait(10)
        for thread in threads:
            thread.join(300)
    for task_id in ids:
        stored = [r[0] for r in db_rows(pg_url, "SELECT seq FROM events WHERE task_id=%s"
                                        " ORDER BY seq", (task_id,))]
        assert outcome[task_id] == ["broken", "end"], (task_id, outcome[task_id])
        assert seen[task_id] == stored, task_id  # no gap, no duplicate
        assert db_rows(pg_url, "SELECT status FROM tasks WHERE id=%s", (task_id,)) == [("done",)]




@pytest.mark.speech
def test_a_voice_note_uploaded_to_one_node_is_transcribed_by_a_transcribe_worker(
        tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    from company.speech.testing import build_random_checkpoint
    from tests.api_support import tone_wav

    checkpoint = build_random_checkpoint(tmp_path / "tiny-random.pt", "tiny")
    wav = tone_wav(2)
    with cluster(tmp_path, pg_url, delay_s=0.0) as c:
        c.sop = tmp_path / "voice-analyst.yaml"
        c.sop.write_text(VOICE_ONLY_SOP)
        node_a = c.start_api()
        c.start_worker(2, "--only", "company", "--whisper-model", str(tmp_path / "none.pt"))
        c.start_worker(2, "--only", "transcribe", "--whisper-model", str(checkpoint))
        resp = httpx.post(f"{node_a}/v1/tasks/voice", data={"text": "also count the words"},
                          files={"audio": ("note.wav", wav, "audio/wav")}, timeout=30)
        assert resp.status_code == 202, resp.text
        task_id = resp.json()["task_id"]

        def done() -> bool:
            return db_rows(pg_url, "SELECT status FROM tasks WHERE id=%s", (task_id,)) in (
                [("done",)], [("failed",)])

        wait_for(done, 300, "the voice task to finish")
    assert db_rows(pg_url, "SELECT status FROM tasks WHERE id=%s", (task_id,)) == [("done",)]
    assert not (tmp_path / "api0" / task_id).exists()  # the note never sat on a shared disk
    [(body,)] = db_rows(pg_url, "SELECT body FROM transcripts WHERE task_id=%s", (task_id,))
    assert str(checkpoint) in body or "tiny" in body  # Whisper ran on the transcribe worker
    causes = [r[0] for r in db_rows(pg_url, "SELECT cause_by FROM messages WHERE task_id=%s"
                                    " ORDER BY seq", (task_id,))]
    assert causes == ["VoiceRequest", "Transcribe", "AnalyzeRequest", "SummarizeResults"]
    [(said,)] = db_rows(pg_url, "SELECT body FROM messages WHERE task_id=%s AND"
                        " cause_by='Transcribe'", (task_id,))
    assert "also count the words" in said and "not usable" not in said
