"""The Transcriber role end to end: a VoiceRequest becomes a transcript, analysis, plan, report."""

import json

import pytest

from company.payloads import TranscriptPayload, VoiceRequestPayload
from company.run_options import RunOptions
from tests.runtime_support import last_prompt, scripted_company
from tests.speech_fixtures import encode_audio, make_clip

pytestmark = pytest.mark.speech


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
        voice_config, store, tmp_path):
    voice = voice_file(tmp_path, encode_audio(make_clip(4.0, seed=3), "webm"))
    voice.text = "Please also count words."
    company, provider = scripted_company(voice_config, store)
    outcome = await company.run("", RunOptions(sop="plan-only"), voice=voice)
    assert outcome.status == "done", outcome.error
    messages = store.messages(outcome.task_id)
    assert [m.cause_by for m in messages] == [
        "VoiceRequest", "Transcribe", "AnalyzeRequest", "WritePlan", "SummarizeResults"]
    transcript = TranscriptPayload.model_validate(messages[1].payload)
    assert transcript.duration_s == pytest.approx(4.0, abs=0.1)
    assert transcript.typed_text == "Please also count words."
    assert "Typed: Please also count words." in messages[1].content
    direct = await company.services.speech().transcribe(voice.audio_path)
    assert transcript.transcript == direct.text
    assert "Typed: Please also count words." in last_prompt(provider, "AnalyzeRequest")
    saved = json.loads((voice_config.workspace / outcome.task_id / "transcript.json").read_text())
    assert saved["duration_s"] == transcript.duration_s and saved["model"]


async def test_corrupt_audio_without_text_fails_clearly(voice_config, store, tmp_path):
    voice = voice_file(tmp_path, b"\x1aE\xdf\xa3 this is not really webm" * 10)
    company, provider = scripted_company(voice_config, store)
    outcome = await company.run("", RunOptions(sop="plan-only"), voice=voice)
    assert outcome.status == "failed"
    assert outcome.error.startswith("Transcriber: could not transcribe the voice note")
    assert provider.calls == []
    assert [m.cause_by for m in store.messages(outcome.task_id)] == ["VoiceRequest"]


async def test_bad_audio_with_typed_text_still_reaches_the_analyst(voice_config, store,
                                                                   tmp_path):
    voice = voice_file(tmp_path, b"just some text, not audio at all\n" * 5, name="note.txt")
    voice.text = "Multiply 6 by 7."
    company, provider = scripted_company(voice_config, store)
    outcome = await company.run("", RunOptions(sop="plan-only"), voice=voice)
    assert outcome.status == "done", outcome.error
    transcript = TranscriptPayload.model_validate(store.messages(outcome.task_id)[1].payload)
    assert transcript.error and transcript.typed_text == "Multiply 6 by 7."
    assert "Request:\nMultiply 6 by 7.\n\n(The voice note was not usable" in last_prompt(
        provider, "AnalyzeRequest")


def test_a_voice_note_alone_reads_as_the_request_itself():
    from actions.transcribe import merge_text

    assert merge_text(" Divide 100 by 8. ", "") == "Divide 100 by 8."
    assert merge_text("Multiply the two numbers I typed.", "3.75 and -8") == (
        "Said aloud: Multiply the two numbers I typed.\n\nTyped: 3.75 and -8")
    assert merge_text("", "Count these words") == "Count these words"
