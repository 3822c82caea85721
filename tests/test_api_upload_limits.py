"""Request limits at the edge (issue 10: L1, L2, L6): multipart part counts and field names, the
total size of chunked bodies, body read timeouts, and uploads orphaned by a killed server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from company.api.uploads import temp_name
from company.company import new_task_id
from company.payloads import VoiceRequestPayload
from company.run_options import RunOptions
from tests.api_support import api_config, live_server, script, tone_wav, wait_for
from tests.fakes.ollama_server import FakeOllama
from tests.test_api_voice import BOUNDARY, chunks, multipart, post_form, task_dirs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    """A fake Ollama scripted for the analyst-only SOP."""
    server = script(FakeOllama().start())
    yield server
    server.stop()


def files_under(workspace: Path) -> list[Path]:
    """Every file in the workspace's task folders (the database lives beside them)."""
    return sorted(p for d in task_dirs(workspace) for p in d.rglob("*") if p.is_file())


def voice_files(workspace: Path) -> list[Path]:
    """The uploaded voice notes in the workspace, final or being received."""
    return [p for p in files_under(workspace) if p.name.startswith(("voice", ".voice"))]


def raw_request(url: str, head: str, body: bytes) -> socket.socket:
    """Open a connection and send ``head`` (request line and headers) and ``body``."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def read_status(sock: socket.socket) -> tuple[int, str]:
    """The status code and the rest of the answer (read until the server closes)."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        data += piece
        if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
            break
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.decode("latin-1")


def voice_head(length: int, path: str = "/v1/tasks/voice") -> str:
    """The request line and headers of a multipart POST of ``length`` bytes."""
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n")


# ---- L1: part counts, field names, chunked totals ---------------------------------------------


@pytest.mark.parametrize("route", ["voice", "follow-up"])
def test_too_many_parts_are_refused(tmp_path: Path, fake: FakeOllama, route: str) -> None:
    """2,000 tiny parts in a chunked body: 413 once the part limit passes (was 202)."""
    config = api_config(tmp_path, fake)
    parts = [("audio", "a.wav", "audio/wav", tone_wav(1))]
    parts += [(f"f{i}", None, None, b"") for i in range(2000)]
    with live_server(config) as served, served.client() as client:
        path = "/v1/tasks/voice"
        if route == "follow-up":
            task_id = client.post("/v1/tasks", json={"request": "first"}).json()["task_id"]
            path = f"/v1/tasks/{task_id}/messages"
        started = time.monotonic()
        resp = post_form(client, chunks(multipart(parts)), path=path)
        assert resp.status_code == 413, resp.text
        assert "parts" in resp.json()["detail"] and "16" in resp.json()["detail"]
        assert time.monotonic() - started < 5
        if route == "voice":
            assert client.get("/v1/tasks").json()["total"] == 0
    assert voice_files(config.workspace) == []


def test_long_field_names_are_refused(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    parts = [("audio", "a.wav", "audio/wav", tone_wav(1)), ("n" * 3000, None, None, b"x")]
    with live_server(config) as served, served.client() as client:
        resp = post_form(client, chunks(multipart(parts)))
        assert resp.status_code == 400, resp.text
        assert "field name" in resp.json()["detail"] and "100" in resp.json()["detail"]
        assert "n" * 200 not in resp.json()["detail"]  # the name is not echoed whole
    assert files_under(config.workspace) == []


def test_chunked_body_is_bounded_in_total(tmp_path: Path, fake: FakeOllama) -> None:
    """Extra file parts, each under the file limit, add up past what a form may carry: 413
    whether the body is chunked or declares its length (was 202 when chunked)."""
    config = api_config(tmp_path, fake, max_upload_bytes=100_000, max_field_bytes=4096)
    parts = [("audio", "a.wav", "audio/wav", tone_wav(1))]
    parts += [(f"junk{i}", f"j{i}.bin", "application/octet-stream", bytes(90_000))
              for i in range(4)]
    body = multipart(parts)
    with live_server(config) as served, served.client() as client:
        resp = post_form(client, chunks(body))
        assert resp.status_code == 413, resp.text
        assert "the upload is larger than" in resp.json()["detail"]
        resp = post_form(client, body)
        assert resp.status_code == 413
        assert client.get("/v1/tasks").json()["total"] == 0
    assert files_under(config.workspace) == []


def test_a_normal_form_still_passes(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    body = multipart([("audio", "a.wav", "audio/wav", tone_wav(1)),
                      ("text", None, None, b"hello"), ("sop", None, None, b"analyst-only")])
    with live_server(config) as served, served.client() as client:
        resp = post_form(client, chunks(body, 1000))
        assert resp.status_code == 202, resp.text
        task_id = resp.json()["task_id"]
    voices = [p.name for p in voice_files(config.workspace)]
    assert voices == ["voice.wav"]  # the temp name is gone once the task exists
    assert (config.workspace / task_id / "voice.wav").is_file()


# ---- L2: body read timeouts -----------------------------------------------------------------


def test_stalled_upload_gets_408_and_leaves_nothing(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake, body_idle_timeout_s=1)
    body = multipart([("audio", "a.wav", "audio/wav", tone_wav(2))])
    with live_server(config) as served:
        sock = raw_request(served.url, voice_head(len(body)), body[: len(body) // 2])
        try:
            partial = wait_for(lambda: files_under(config.workspace), 5, "the partial upload")
            assert [p.name for p in partial] == [temp_name("voice.wav")]  # not the final name
            started = time.monotonic()
            status, answer = read_status(sock)
        finally:
            sock.close()
        assert status == 408, answer
        assert "1 s" in answer and time.monotonic() - started < 5
        wait_for(lambda: not files_under(config.workspace), 5, "the partial file to go")
        with served.client() as client:
            assert client.get("/v1/tasks").json()["total"] == 0
            assert client.get("/v1/health").status_code == 200
    assert task_dirs(config.workspace) == []


def test_slow_drip_upload_hits_the_overall_deadline(tmp_path: Path, fake: FakeOllama) -> None:
    """A byte every 0.2 s never trips the idle timeout; the overall deadline stops it."""
    config = api_config(tmp_path, fake, body_idle_timeout_s=1, body_timeout_s=2)
    body = multipart([("audio", "a.wav", "audio/wav", tone_wav(1))])
    with live_server(config) as served:
        sock = raw_request(served.url, voice_head(len(body)), body[:300])
        started = time.monotonic()
        try:
            sock.settimeout(0.2)
            for byte in body[300:400]:
                try:
                    sock.sendall(bytes([byte]))
                    if sock.recv(1, socket.MSG_PEEK):
                        break  # the server answered
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError:
                    break
            sock.settimeout(10)
            status, answer = read_status(sock)
        finally:
            sock.close()
        elapsed = time.monotonic() - started
    assert status == 408, answer
    assert "2 s" in answer and 1.5 < elapsed < 6
    assert files_under(config.workspace) == []


def test_stalled_json_body_gets_408(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake, body_idle_timeout_s=1)
    with live_server(config) as served:
        head = ("POST /v1/tasks HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n"
                "Content-Type: application/json\r\n")
        sock = raw_request(served.url, head, b'{"request": "half')
        try:
            status, answer = read_status(sock)
        finally:
            sock.close()
    assert status == 408, answer


# ---- L6: uploads orphaned by a killed server --------------------------------------------------


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.subprocess
def test_orphaned_uploads_are_swept_on_start(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    ws = config.workspace
    # A task whose row was written but whose upload was not renamed yet when the server died.
    with live_server(config) as served:
        company = served.app.state.api.company
        kept_id = new_task_id()
        final = ws / kept_id / "voice.wav"
        voice = VoiceRequestPayload(audio_path=str(final), text="", filename="a.wav")
        sop = served.app.state.api.sops.default()
        served.app.state.api.pool.begin_stop()  # store the row only; do not run it
        company.create_task("", RunOptions(sop=sop), voice=voice, task_id=kept_id)
    dead = dead_pid()
    (ws / kept_id).mkdir(parents=True, exist_ok=True)
    (ws / kept_id / temp_name("voice.wav", dead)).write_bytes(b"complete upload")
    orphan = ws / new_task_id()  # killed mid-upload: no row
    orphan.mkdir()
    (orphan / temp_name("voice.webm", dead)).write_bytes(b"half an upl")
    legacy = ws / new_task_id()  # the old code's final name, no row
    legacy.mkdir()
    (legacy / "voice.ogg").write_bytes(b"old orphan")
    old = time.time() - 3600
    os.utime(legacy / "voice.ogg", (old, old))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = ws / new_task_id()  # another live worker is receiving this one right now
        busy.mkdir()
        (busy / temp_name("voice.wav", sleeper.pid)).write_bytes(b"in progress")
        other = ws / "notes"  # not a task folder: never touched
        other.mkdir()
        (other / "voice.wav").write_bytes(b"mine")
        os.utime(other / "voice.wav", (old, old))
        time.sleep(0.05)  # the files are older than the server that starts now
        with live_server(config):
            pass
        assert final.read_bytes() == b"complete upload"
        assert [p.name for p in voice_files(ws) if p.parent.name == kept_id] == ["voice.wav"]
        assert not orphan.exists() and not legacy.exists()
        assert (busy / temp_name("voice.wav", sleeper.pid)).exists()
        assert (other / "voice.wav").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


_SERVE = """
import sys, time, types
from pathlib import Path
from tests.api_support import api_config, live_server
config = api_config(Path(sys.argv[1]), types.SimpleNamespace(host="http://127.0.0.1:9"))
with live_server(config) as served:
    print(served.url, flush=True)
    time.sleep(120)
"""


@pytest.mark.subprocess
def test_kill_9_during_an_upload_leaves_nothing_after_restart(
    tmp_path: Path, fake: FakeOllama
) -> None:
    server = subprocess.Popen([sys.executable, "-c", _SERVE, str(tmp_path)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    config = api_config(tmp_path, fake)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://"), url
        body = multipart([("audio", "a.wav", "audio/wav", tone_wav(3))])
        sock = raw_request(url, voice_head(len(body)), body[: len(body) // 2])
        wait_for(lambda: files_under(config.workspace), 10, "the partial upload")
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        sock.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert len(files_under(config.workspace)) == 1  # left behind by the killed server
    with live_server(config) as served, served.client() as client:
        assert client.get("/v1/tasks").json()["total"] == 0
    assert files_under(config.workspace) == [] and task_dirs(config.workspace) == []


def test_oversized_part_headers_are_refused(tmp_path: Path, fake: FakeOllama) -> None:
    """Part headers are bounded by python-multipart (8 per part, 4224 bytes a line): 400."""
    config = api_config(tmp_path, fake)
    wav = tone_wav(1)
    long_header = multipart([("audio", "a.wav", "audio/" + "x" * 5000, wav)])
    many = (f"--{BOUNDARY}\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(20))
            + 'Content-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n').encode()
    many += wav + f"\r\n--{BOUNDARY}--\r\n".encode()
    with live_server(config) as served, served.client() as client:
        for body in (long_header, many):
            resp = post_form(client, chunks(body))
            assert resp.status_code == 400, resp.text
            assert "malformed multipart body" in resp.json()["detail"]
    assert voice_files(config.workspace) == []
