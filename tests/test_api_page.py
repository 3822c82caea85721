"""The voice page in real headless Chromium (Debian's, driven by Playwright): type or record,
send, and watch the roles' messages and the report arrive over EventSource."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_support import VOICE_SOP, Served, api_config, live_server, script, tone_wav
from tests.api_support import transcriber_available as _transcriber_available
from tests.conftest import REPORT
from tests.fakes.ollama_server import FakeOllama

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream"]

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (scripts/setup.sh test installs it: "
    "apt-get install -y chromium)",
)]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium whose fake microphone plays a WAV made here."""
    from playwright.sync_api import sync_playwright

    wav = tmp_path / "mic.wav"
    wav.write_bytes(tone_wav(3.0))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*ARGS, f"--use-file-for-fake-audio-capture={wav}"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The server, with a slow-ish fake Ollama so the work is visibly live."""
    fake = script(FakeOllama().start(), delay_s=0.3)
    config = api_config(tmp_path, fake)
    sop = tmp_path / "voice-analyst.yaml"
    sop.write_text(VOICE_SOP)
    config.sop = str(sop)
    try:
        with live_server(config) as server:
            yield server
    finally:
        fake.stop()


def test_typed_request_shows_messages_and_report(browser: Any, served: Served,
                                                 tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.url + "/")
    page.fill("#text", "Multiply 6 by 7 <b>bold</b>")
    page.click("#submit")
    page.wait_for_selector("#messages li >> text=Analyst · AnalyzeRequest", timeout=20_000)
    page.wait_for_function(
        "document.querySelector('#report').textContent.includes('The product is forty-two')",
        timeout=20_000)
    page.screenshot(path=str(tmp_path / "voice-page-text.png"), full_page=True)
    report = page.text_content("#report") or ""
    assert report.startswith(REPORT)
    assert "Done." in (page.text_content("#status") or "")
    you = page.text_content("#messages li.note .body")
    assert you == "Multiply 6 by 7 <b>bold</b>"  # shown as text, never parsed as HTML
    assert page.locator("#messages b").count() == 0
    assert errors == []
    assert (tmp_path / "voice-page-text.png").stat().st_size > 1000


@pytest.mark.skipif(not _transcriber_available(),
                    reason="roles/transcriber.py does not exist yet: a voice task cannot run "
                    "to a report until the Transcriber role lands")
@pytest.mark.slow
@pytest.mark.speech
def test_recorded_voice_note_runs_to_a_report(browser: Any, served: Served,
                                              tmp_path: Path) -> None:
    from company.speech.testing import build_random_checkpoint

    checkpoint = build_random_checkpoint(tmp_path / "tiny-random.pt", "tiny")
    served.app.state.api.config.speech.update(
        {"model": str(checkpoint), "device": "cpu", "sample_len": 8, "threads": 1})
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(served.url + "/")
    page.click("#record")
    page.wait_for_selector("#record[aria-pressed='true']")
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_selector("#preview:not([hidden])", timeout=10_000)
    page.fill("#text", "also count the words")
    with page.expect_response("**/v1/tasks/voice") as answer:
        page.click("#submit")
    assert answer.value.status == 202, answer.value.text()
    page.wait_for_function(
        "document.querySelector('#report').textContent.includes('The product is forty-two')",
        timeout=60_000)
    page.screenshot(path=str(tmp_path / "voice-page-voice.png"), full_page=True)
    assert page.locator("#messages li >> text=Transcriber · Transcribe").count() == 1
    task_id = page.text_content("#task-id")
    stored = served.app.state.api.company.store.messages(task_id or "")
    assert stored[0].cause_by == "VoiceRequest"
    assert Path(stored[0].payload["audio_path"]).suffix == ".webm"
