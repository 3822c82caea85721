"""The Transcriber role end to end: a VoiceRequest becomes a transcript, analysis, plan, report."""

import json

import pytest

from company.payloads import TranscriptPayload, VoiceRequestPayload
from company.sop import load_sop
from company.team import Company
from tests.speech_fixtures import encode_audio, make_clip


@pytest.fixture
def voice_config(config, whisper_checkpoint):
    config.speech = {"model": str(whisper_checkpoint), "device": "cpu", "sample_len": 8,
                     "threads": 1, "no_speech_threshold": None, "batch_wait_ms": 5}
    return config


def voice_file(tmp_path, data: bytes, name="note.webm"):
    path = tmp_path / name
    path.write_bytes(data)
    return VoiceRequestPayload(audio_path=str(path), text="", filename=name)


async def test_voice_request_becomes_transcript_analysis_plan_and_report(
        voice_config, store, scripted_ollama, tmp_path):
    voice = voice_file(tmp_path, encode_audio(make_clip(4.0, seed=3), "webm"))
    voice.text = "Please also count words."
    company = Company(voice_config, store=store)
    outcome = await company.run("", sop=load_sop("plan-only"), voice=voice)
    assert outcome.status == "done", outcome.error
    messages = store.messages(outcome.task_id)
    assert [m.cause_by for m in messages] == [
        "VoiceRequest", "Transcribe", "AnalyzeRequest", "WritePlan", "SummarizeResults"]
    transcript = TranscriptPayload.model_validate(messages[1].payload)
    assert transcript.duration_s == pytest.approx(4.0, abs=0.1)
    assert transcript.typed_text == "Please also count words."
    assert "Typed text: Please also count words." in messages[1].content
    direct = await company.services.speech().transcribe(voice.audio_path)
    assert transcript.transcript == direct.text
    analysis_prompt = [r for r in scripted_ollama.requests
                       if "## Task: AnalyzeRequest" in r["messages"][-1]["content"]][0]
    assert "Typed text: Please also count words." in analysis_prompt["messages"][-1]["content"]
    saved = json.loads((voice_config.workspace / outcome.task_id / "transcript.json").read_text())
    assert saved["duration_s"] == transcript.duration_s and saved["model"]


async def test_corrupt_audio_without_text_fails_clearly(voice_config, store, scripted_ollama,
                                                        tmp_path):
    voice = voice_file(tmp_path, b"\x1aE\xdf\xa3 this is not really webm" * 10)
    outcome = await Company(voice_config, store=store).run("", sop=load_sop("plan-only"),
                                                           voice=voice)
    assert outcome.status == "failed"
    assert outcome.error.startswith("Transcriber: could not transcribe the voice note")
    assert scripted_ollama.chat_calls == 0
    assert [m.cause_by for m in store.messages(outcome.task_id)] == ["VoiceRequest"]


async def test_bad_audio_with_typed_text_still_reaches_the_analyst(voice_config, store,
                                                                   scripted_ollama, tmp_path):
    voice = voice_file(tmp_path, b"just some text, not audio at all\n" * 5, name="note.txt")
    voice.text = "Multiply 6 by 7."
    outcome = await Company(voice_config, store=store).run("", sop=load_sop("plan-only"),
                                                           voice=voice)
    assert outcome.status == "done", outcome.error
    transcript = TranscriptPayload.model_validate(store.messages(outcome.task_id)[1].payload)
    assert transcript.error and transcript.typed_text == "Multiply 6 by 7."
