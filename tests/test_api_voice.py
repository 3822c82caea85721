"""Voice uploads: streamed to the task's workspace, checked while streaming and by decoding,
stored as a VoiceRequest; every bad upload gets its status and leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from company.message import VOICE_REQUEST
from tests.api_support import (
    VOICE_ONLY_SOP,
    api_config,
    live_server,
    script,
    tone_wav,
    transcriber_available,
    wait_status,
)
from tests.conftest import REPORT, script_company
from tests.fakes.ollama_server import FakeOllama
from tests.hostile_audio import one_hertz_wav

pytestmark = pytest.mark.speech

BOUNDARY = "----company-test-boundary"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    """A fake Ollama scripted for the analyst-only SOP."""
    server = script(FakeOllama().start())
    yield server
    server.stop()


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], *,
              close: bool = True) -> bytes:
    """A multipart/form-data body from (name, filename, content type, data) parts."""
    out = bytearray()
    for name, filename, ctype, data in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    if close:
        out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    """The body in pieces, so httpx sends it chunked (no Content-Length)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def post_form(client: httpx.Client, body: bytes | Iterator[bytes],
              path: str = "/v1/tasks/voice") -> httpx.Response:
    """POST a prepared multipart body."""
    return client.post(path, content=body,
                       headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})


def task_dirs(workspace: Path) -> list[Path]:
    """The task folders in the workspace."""
    return [p for p in workspace.iterdir() if p.is_dir()] if workspace.exists() else []


def test_voice_upload_becomes_a_voice_request(tmp_path: Path, fake: FakeOllama) -> None:
    wav = tone_wav(1.5)
    config = api_config(tmp_path, fake)
    with live_server(config) as served, served.client() as client:
        resp = client.post("/v1/tasks/voice", data={"text": "  and count words  "},
                           files={"audio": ("../../note.wav", wav, "audio/wav")})
        assert resp.status_code == 202, resp.text
        task_id = resp.json()["task_id"]
        store = served.app.state.api.company.store
        first = store.messages(task_id)[0]
        body = wait_status(client, task_id)
    assert first.cause_by == VOICE_REQUEST and first.sent_from == "Boss"
    assert first.content == "and count words"
    assert first.payload is not None
    saved = Path(first.payload["audio_path"])
    assert saved == config.workspace / task_id / "voice.wav"
    assert saved.read_bytes() == wav
    assert first.payload["filename"] == "note.wav" and first.payload["text"] == "and count words"
    public = body["messages"][0]["payload"]
    assert public == {"text": "and count words", "filename": "note.wav"}  # no server paths


@pytest.mark.parametrize(("audio", "status", "fragment"), [
    (b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x07" * 300, 400, "looks like WAV audio"),
    (b"just some text, not a recording at all", 415, "not an audio file"),
    (b"", 400, "empty"),
    (tone_wav(0.5)[:44] + bytes(16000), 400, "silent"),
])
def test_bad_audio_is_rejected(tmp_path: Path, fake: FakeOllama, audio: bytes, status: int,
                               fragment: str) -> None:
    config = api_config(tmp_path, fake)
    with live_server(config) as served, served.client() as client:
        resp = client.post("/v1/tasks/voice", files={"audio": ("clip.wav", audio, "audio/wav")})
        assert resp.status_code == status, resp.text
        assert fragment in resp.json()["detail"]
        assert "clip.wav" in resp.json()["detail"] or not audio
        assert str(config.workspace) not in resp.json()["detail"]
        assert client.get("/v1/tasks").json()["total"] == 0
    assert task_dirs(config.workspace) == []


def test_too_long_audio_is_413(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake, max_audio_seconds=1)
    with live_server(config) as served, served.client() as client:
        resp = client.post("/v1/tasks/voice", files={"audio": ("long.wav", tone_wav(3), None)})
        assert resp.status_code == 413
        assert "longer than the limit of 1 s" in resp.json()["detail"]
    assert task_dirs(config.workspace) == []


def test_hostile_sample_rate_is_refused_fast_on_both_routes(
    tmp_path: Path, fake: FakeOllama
) -> None:
    """Issue 10, H1: a 32 KB WAV claiming 1 Hz took 12.9 s and 6.7 GB before its 413."""
    config = api_config(tmp_path, fake)
    hostile = {"audio": ("forged.wav", one_hertz_wav(), "audio/wav")}
    with live_server(config) as served, served.client() as client:
        started = time.monotonic()
        resp = client.post("/v1/tasks/voice", files=hostile)
        assert resp.status_code == 400, resp.text
        assert "forged.wav" in resp.json()["detail"] and "1 Hz" in resp.json()["detail"]
        task_id = client.post("/v1/tasks", json={"request": "first"}).json()["task_id"]
        wait_status(client, task_id)
        resp = client.post(f"/v1/tasks/{task_id}/messages", files=hostile)
        assert resp.status_code == 400, resp.text
        assert "1 Hz" in resp.json()["detail"]
        assert time.monotonic() - started < 10
        assert client.get("/v1/tasks").json()["total"] == 1
    assert not list(config.workspace.glob("*/*voice*"))


def test_too_large_upload_is_413_while_streaming(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake, max_upload_bytes=100_000, max_field_bytes=4096)
    big = multipart([("audio", "big.wav", "audio/wav", tone_wav(40))])  # ~1.3 MB
    with live_server(config) as served, served.client() as client:
        resp = post_form(client, big)  # declared Content-Length: refused before reading
        assert resp.status_code == 413 and "limit" in resp.json()["detail"]
        resp = post_form(client, chunks(big))  # chunked: refused once 100 kB have arrived
        assert resp.status_code == 413
        assert "larger than the limit of 100000 bytes" in resp.json()["detail"]
        fields = multipart([("text", None, None, b"x" * 10_000),
                            ("audio", "a.wav", None, tone_wav(1))])
        resp = post_form(client, chunks(fields))
        assert resp.status_code == 413 and "text fields" in resp.json()["detail"]
    assert task_dirs(config.workspace) == []


def test_malformed_forms(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    wav = tone_wav(1)
    with live_server(config) as served, served.client() as client:
        resp = client.post("/v1/tasks/voice", files={"text": (None, "no audio")})
        assert resp.status_code == 422 and "'audio'" in resp.json()["detail"]
        resp = client.post("/v1/tasks/voice", json={"text": "json"})
        assert resp.status_code == 415
        resp = client.post("/v1/tasks/voice", data={"text": "form-urlencoded"})
        assert resp.status_code == 415
        resp = post_form(client, multipart([("audio", "a.wav", None, wav)], close=False))
        assert resp.status_code == 400 and "truncated" in resp.json()["detail"]
        resp = post_form(client, b"garbage without any boundary at all")
        assert resp.status_code == 400
        resp = post_form(client, multipart([("audio", "a.wav", None, wav),
                                            ("audio", "b.wav", None, wav)]))
        assert resp.status_code == 422 and "one 'audio' file" in resp.json()["detail"]
        resp = post_form(client, multipart([("audio", "a.wav", None, wav),
                                            ("sop", None, None, b"../secret")]))
        assert resp.status_code == 422 and "sop" in resp.json()["detail"]
        resp = post_form(client, multipart([("audio", "a.wav", None, wav),
                                            ("text", None, None, b"\xff\xfe")]))
        assert resp.status_code == 422 and "UTF-8" in resp.json()["detail"]
        assert client.get("/v1/tasks").json()["total"] == 0
    assert task_dirs(config.workspace) == []


def test_spoken_follow_up(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake)
    with live_server(config) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "first"}).json()["task_id"]
        wait_status(client, task_id)
        resp = client.post(f"/v1/tasks/{task_id}/messages", data={"text": "see the note"},
                           files={"audio": ("more.webm", tone_wav(1), "audio/webm")})
        assert resp.status_code == 202, resp.text
        bad = client.post(f"/v1/tasks/{task_id}/messages",
                          files={"audio": ("x.wav", b"plain words, no sound", "audio/wav")})
        assert bad.status_code == 415
        empty = client.post(f"/v1/tasks/{task_id}/messages", files={"text": (None, " ")})
        assert empty.status_code == 422
        body = wait_status(client, task_id)
    voice = [m for m in body["messages"] if m["cause_by"] == VOICE_REQUEST]
    assert len(voice) == 1 and voice[0]["content"] == "see the note"
    files = sorted(p.name for p in (config.workspace / task_id).glob("voice-*"))
    assert len(files) == 1 and files[0].endswith(".webm")


@pytest.mark.skipif(not transcriber_available(),
                    reason="roles/transcriber.py does not exist yet: a voice task cannot run "
                    "to a report until the Transcriber role lands")
def test_voice_task_runs_to_a_report(tmp_path: Path) -> None:
    from company.speech.testing import build_random_checkpoint

    fake = script_company(FakeOllama().start())
    try:
        config = api_config(tmp_path, fake)
        sop = tmp_path / "voice-analyst.yaml"
        sop.write_text(VOICE_ONLY_SOP)
        config.sop = str(sop)
        checkpoint = build_random_checkpoint(tmp_path / "tiny-random.pt", "tiny")
        config.speech = {"model": str(checkpoint), "device": "cpu", "sample_len": 8,
                         "threads": 1}
        with live_server(config) as served, served.client() as client:
            resp = client.post("/v1/tasks/voice", data={"text": "also count the words"},
                               files={"audio": ("note.wav", tone_wav(2), "audio/wav")})
            assert resp.status_code == 202, resp.text
            body = wait_status(client, resp.json()["task_id"], timeout=90)
        assert body["status"] == "done", body
        kinds = [m["cause_by"] for m in body["messages"]]
        assert kinds == ["VoiceRequest", "Transcribe", "AnalyzeRequest", "SummarizeResults"]
        assert body["report"].startswith(REPORT)
        assert "also count the words" in body["messages"][1]["content"]
    finally:
        fake.stop()
