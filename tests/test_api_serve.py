"""``startup.py serve`` as a real process: refuses unsafe binds, survives ``kill -9`` mid-run
(every accepted task finishes, none runs twice), and exits cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from company.commands import serve
from tests.api_support import free_socket, script, wait_for, write_sop
from tests.fakes.ollama_server import FakeOllama

ROOT = Path(__file__).resolve().parents[1]
N_TASKS = 6


@pytest.mark.subprocess
def test_import_of_the_cli_stays_light() -> None:
    code = ("import sys, company.cli, company.api, company.api.serve; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_refuses_to_bind_beyond_loopback_without_a_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPANY_API_KEY", raising=False)
    code = serve(["--host", "0.0.0.0", "--workspace", str(tmp_path)])
    assert code == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in capsys.readouterr().err
    assert serve(["--port", "70000", "--workspace", str(tmp_path)]) == 2
    assert serve(["--sop", str(tmp_path / "nope.yaml"),
                  "--workspace", str(tmp_path)]) == 2


@contextmanager
def server_process(tmp_path: Path, fake: FakeOllama, port: int, log: str) -> Iterator[
        subprocess.Popen[bytes]]:
    """``python startup.py serve`` on ``port``; yields once ``/v1/health`` answers."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "llm": {"pull_missing": False, "timeout_s": 10},
        "speech": {"model": str(tmp_path / "whisper.pt")},
        "api": {"max_concurrent_runs": 2, "shutdown_grace_s": 1},
    }))
    cmd = [sys.executable, "startup.py", "serve", "--port", str(port), "--config", str(config),
           "--workspace", str(tmp_path / "ws"), "--llm", f"ollama:qwen2.5@{fake.host}",
           "--sop", str(write_sop(tmp_path)), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k not in ("COMPANY_API_KEY", "COMPANY_LLM")}
    with open(tmp_path / log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def healthy() -> bool:
            assert proc.poll() is None, (tmp_path / log).read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).is_success
            except httpx.TransportError:
                return False

        wait_for(healthy, 30, "the server to start")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def journaled_calls(db: Path) -> dict[str, int]:
    """How many LLM answers each task has journaled (finished calls, never repeated)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT namespace, COUNT(*) FROM llm_calls"
                            " WHERE namespace LIKE 'task:%' GROUP BY namespace").fetchall()
    return {ns.removeprefix("task:"): n for ns, n in rows}


@pytest.mark.slow
@pytest.mark.subprocess
def test_kill_9_mid_run_then_restart_finishes_everything_once(tmp_path: Path) -> None:
    fake = script(FakeOllama().start(), delay_s=0.4)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    base = f"http://127.0.0.1:{port}"
    try:
        with server_process(tmp_path, fake, port, "first.log") as proc:
            texts = {}
            for i in range(N_TASKS):
                resp = httpx.post(f"{base}/v1/tasks", json={"request": f"crash job #{i}."})
                assert resp.status_code == 202
                texts[resp.json()["task_id"]] = f"crash job #{i}."
            wait_for(lambda: fake.chat_calls >= 5, 20, "runs to be in flight")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        at_kill = len(fake.requests)
        db = tmp_path / "ws" / "company.db"
        with sqlite3.connect(db) as conn:
            statuses = dict(conn.execute("SELECT id, status FROM tasks").fetchall())
        assert set(statuses) == set(texts)  # every task that got a 202 is stored
        assert "done" not in statuses.values() or set(statuses.values()) != {"done"}
        assert "running" in statuses.values()
        journaled = journaled_calls(db)
        with server_process(tmp_path, fake, port, "second.log") as proc:
            def all_done() -> bool:
                bodies = [httpx.get(f"{base}/v1/tasks/{t}").json() for t in texts]
                return all(b["status"] == "done" for b in bodies)

            wait_for(all_done, 30, "every task to finish after the restart")
            bodies = {t: httpx.get(f"{base}/v1/tasks/{t}").json() for t in texts}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    finally:
        fake.stop()
    before, after = fake.requests[:at_kill], fake.requests[at_kill:]
    for task_id, text in texts.items():
        causes = [m["cause_by"] for m in bodies[task_id]["messages"]]
        assert causes == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"], task_id
        done_before = journaled.get(task_id, 0)
        calls_before = sum(text in str(r) for r in before)
        calls_after = sum(text in str(r) for r in after)
        assert calls_after == 2 - done_before, (task_id, done_before, calls_after)
        assert calls_before - done_before in (0, 1)  # at most the one call cut off by the kill
        events = httpx_free_events(db, task_id)
        assert events == list(range(1, len(events) + 1))  # no duplicate or missing seq


def httpx_free_events(db: Path, task_id: str) -> list[int]:
    """The stored event seqs of a task."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq FROM events WHERE task_id=? ORDER BY seq", (task_id,))
        return [r[0] for r in rows.fetchall()]


@pytest.mark.subprocess
def test_sigterm_ends_streams_and_leaves_the_run_resumable(tmp_path: Path) -> None:
    import threading
    import time

    fake = script(FakeOllama().start(), delay_s=4)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    try:
        with server_process(tmp_path, fake, port, "term.log") as proc:
            task_id = httpx.post(f"{base}/v1/tasks", json={"request": "long"}).json()["task_id"]
            wait_for(lambda: fake.chat_calls >= 1, 10, "the run to call the model")

            def read() -> None:
                with httpx.stream("GET", f"{base}/v1/tasks/{task_id}/events",
                                  timeout=30) as resp:
                    lines.extend(resp.iter_lines())

            reader = threading.Thread(target=read)
            reader.start()
            wait_for(lambda: any(line.startswith("id:") for line in lines), 10, "events")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            took = time.monotonic() - started
            reader.join(10)
    finally:
        fake.stop()
    assert took < 8, took  # the open stream did not hold the shutdown up
    assert not reader.is_alive()
    assert "event: end" not in lines  # cut, not finished: a client reconnects and resumes
    with sqlite3.connect(tmp_path / "ws" / "company.db") as conn:
        status = conn.execute("SELECT status FROM tasks WHERE id=?", (task_id,)).fetchone()[0]
    assert status == "queued"  # picked up again by the next start


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
@pytest.mark.slow
@pytest.mark.subprocess
def test_a_bracketed_ipv6_loopback_host_serves(tmp_path: Path) -> None:
    """L9: ``--host '[::1]'`` passed the loopback check, then uvicorn could not resolve it."""
    import socket

    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
    fake = script(FakeOllama().start())
    cmd = [sys.executable, "startup.py", "serve", "--host", "[::1]", "--port", str(port),
           "--workspace", str(tmp_path / "ws"), "--llm", f"ollama:qwen2.5@{fake.host}",
           "--sop", str(write_sop(tmp_path)), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k not in ("COMPANY_API_KEY", "COMPANY_LLM")}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)
    try:
        def healthy() -> bool:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                return httpx.get(f"http://[::1]:{port}/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, 30, "the server on [::1]")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        fake.stop()


@pytest.mark.parametrize(("host", "words"), [
    ("bad host!", "not an IP address or a host name"),
    ("[::1", "not an IP address or a host name"),
    ("no-such-host.invalid", "cannot resolve"),
    ("192.0.2.1", "cannot listen on 192.0.2.1"),  # TEST-NET: not an address of this machine
])
def test_a_bad_host_is_refused_before_serving(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, words: str) -> None:
    code = serve(["--host", host, "--insecure", "--workspace", str(tmp_path / "ws"),
                  "--llm", "ollama:qwen2.5@http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and "Traceback" not in err


def test_a_port_in_use_is_refused_before_serving(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = free_socket()
    sock.listen()
    try:
        code = serve(["--port", str(sock.getsockname()[1]),
                      "--workspace", str(tmp_path / "ws"),
                      "--llm", "ollama:qwen2.5@http://127.0.0.1:9"])
    finally:
        sock.close()
    err = capsys.readouterr().err
    assert code == 2 and "cannot listen on 127.0.0.1" in err, err


def test_bad_local_state_is_exit_2_not_3(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """L5: serve started uvicorn on a broken store and exited 3, the code meant for 'no model
    reachable'."""
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "company.db").write_bytes(b"\x00garbage" * 4096)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for ws, words in ((garbage, "not a usable SQLite database"), (afile, "is a file")):
        code = serve(["--workspace", str(ws), "--port", "0",
                      "--llm", "ollama:qwen2.5@http://127.0.0.1:9"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert words in err and str(ws) in err and "Traceback" not in err
