"""The voice page's hands-free mode in headless Chromium: its fake microphone plays an espeak-ng
request; the page streams it over ``/v1/realtime`` and shows the transcript, the roles at work,
the report and the spoken answer, on a phone-sized screen."""

from __future__ import annotations

import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from company.speech.synth import espeak_available
from tests.api_support import Served
from tests.test_realtime import ANSWER, KEY, realtime_server, silence, spoken

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]

pytestmark = [
    pytest.mark.browser, pytest.mark.speech, pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed"),
]


def _wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium whose fake microphone says the request once, then stays silent."""
    from playwright.sync_api import sync_playwright

    pcm = np.concatenate([silence(1.0), spoken("What is six times seven?", tmp_path),
                          silence(30.0)])
    wav = _wav(tmp_path / "mic.wav", pcm)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*ARGS, f"--use-file-for-fake-audio-capture={wav}%noloop"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def served(tmp_path: Path, whisper_checkpoint: Path) -> Iterator[Served]:
    """The realtime server (the page streams WebM/Opus from MediaRecorder)."""
    with realtime_server(tmp_path, whisper_checkpoint, audio_lead_ms=300) as server:
        yield server


NO_WEBM = "MediaRecorder.isTypeSupported = () => false;"
"""A browser that cannot record WebM (Safari): the page streams PCM16 instead."""


@pytest.mark.parametrize("audio_format", ["webm", "pcm16"])
def test_hands_free_talk_shows_transcript_roles_report_and_speaks(
        browser: Any, served: Served, tmp_path: Path, audio_format: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    if audio_format == "pcm16":
        page.add_init_script(NO_WEBM)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.url + "/")
    page.click("#settings summary")
    page.fill("#api-key", KEY)
    page.click("#handsfree")
    page.wait_for_selector("#handsfree[aria-pressed='true']")
    page.wait_for_function("document.querySelector('#hf-partial').dataset.final === 'true'",
                           timeout=60_000)
    page.wait_for_selector("#hf-roles li[data-role='Transcriber']", timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#report').textContent.includes('The product is forty-two')",
        timeout=60_000)
    page.wait_for_function(f"document.querySelector('#hf-answer').textContent === {ANSWER!r}",
                           timeout=30_000)
    page.wait_for_function("Number(document.querySelector('#handsfree').dataset.spoken) > 3",
                           timeout=30_000)
    page.screenshot(path=str(tmp_path / "hands-free.png"), full_page=True)
    assert page.locator("#hf-roles li[data-role='Analyst']").count() == 1
    assert page.locator("#messages li >> text=Transcriber · Transcribe").count() == 1
    assert (page.text_content("#hf-partial") or "").strip()
    task_id = page.text_content("#task-id") or ""
    stored = served.app.state.api.company.store.messages(task_id)
    assert stored[0].cause_by == "VoiceRequest"
    assert Path(stored[0].payload["audio_path"]).suffix == ".wav"
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390  # nothing wider than the phone
    page.click("#handsfree")
    page.wait_for_function("document.querySelector('#hf-state').textContent.startsWith('Ended')"
                           " || document.querySelector('#hf-state').textContent === 'Off'",
                           timeout=10_000)
    assert errors == []
    assert len(sockets) == 1 and f"format={audio_format}" in sockets[0]
