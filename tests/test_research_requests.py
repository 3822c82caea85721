"""Request sets: ``speak`` voice notes (validation, synthesis once per text, the run's audio),
the new expectation kinds, and the set's digest."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from company.payloads import StepResult
from company.research.cli import research_command
from company.research.errors import ResearchInputError
from company.research.expectations import check
from company.research.metrics import RunRow
from company.research.requests import Expect, load_requests
from company.research.voice import VoiceNotes, speak_digest
from company.speech.synth import espeak_available
from company.speech.testing import synthetic_clip
from tests.fakes.ollama_server import FakeOllama

TYPED = "the quick brown fox"


def write_set(path: Path, rows: list[Any]) -> Path:
    """A JSONL request file (strings are written as they are)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def fake_speak(calls: list[str]) -> Any:
    """A stand-in for ``speak_to_wav`` that writes 2 s of speech-like audio and counts calls."""
    def speak(text: str, path: str | Path, **_: Any) -> Path:
        calls.append(text)
        samples = (synthetic_clip(2.0, seed=len(calls)) * 32767).astype(np.int16)
        with wave.open(str(path), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(16_000)
            handle.writeframes(samples.tobytes())
        return Path(path)
    return speak


# --- validation -----------------------------------------------------------------------------

def test_speak_loads_with_or_without_typed_text(tmp_path):
    requests = load_requests(write_set(tmp_path / "r.jsonl", [
        {"id": "a", "speak": "What is six times seven?"},
        {"id": "b", "speak": "Count the words I typed.", "request": TYPED},
    ]))
    a, b = requests.requests
    assert a.speak == "What is six times seven?" and a.request == ""
    assert b.as_text() == f"(voice note) Count the words I typed.\n{TYPED}"
    assert requests.audio_path(a) is None


def test_speak_with_audio_or_empty_speak_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "note.wav").write_bytes(b"RIFF")
    path = write_set(tmp_path / "r.jsonl", [
        "// a comment line",
        {"id": "ok", "request": "hi"},
        {"id": "both", "speak": "hello", "audio": "note.wav"},
        {"id": "empty", "speak": "  "},
        {"id": "nothing", "request": " "},
    ])
    with pytest.raises(ResearchInputError) as err:
        load_requests(path)
    text = str(err.value)
    assert f"{path}:3:" in text and "'speak'" in text and "'audio'" in text and "not both" in text
    assert f"{path}:4:" in text and "'speak' is empty" in text
    assert f"{path}:5:" in text and "speak" in text


def test_new_expectation_kinds_validate_and_name_unknown_graphs(tmp_path):
    from company.config import AppConfig
    from company.research.plan import catalogue_names
    from company.research.requests import check_graph_names

    with pytest.raises(ResearchInputError, match=r"r.jsonl:1: expect: graphs_none"):
        load_requests(write_set(tmp_path / "r.jsonl", [
            {"id": "x", "request": "hi", "expect": {"graphs_none": True, "graphs": ["calculate"]}},
        ]))
    requests = load_requests(write_set(tmp_path / "r.jsonl", [
        {"id": "x", "request": "hi", "expect": {"failed_graphs": ["wikipedia_lookpu"]}},
    ]))
    with pytest.raises(ResearchInputError, match="expect.failed_graphs: unknown graph"):
        check_graph_names(requests, catalogue_names(AppConfig()))


def step(graph: str, status: str = "COMPLETED", error: str | None = None, **outputs: Any
         ) -> StepResult:
    """A step result."""
    return StepResult(step_id="s1", graph=graph, status=status, error=error,
                      outputs={k: [v] for k, v in outputs.items()})


def test_failed_graphs_graphs_none_and_report_contains_any():
    node_failed = step("wikipedia_lookup", error="GetWikipediaSummaryBlock: cannot resolve host")
    expect = Expect(failed_graphs=["wikipedia_lookup"], report_contains_any=["fail", "could not"])
    ok = dict(status="done", error=None, rounds=4)
    assert check(expect, report="The lookup failed.", steps=[node_failed], **ok) == []
    # a node failure is not a success, even though AutoGPT calls the graph COMPLETED
    assert check(Expect(graphs=["wikipedia_lookup"]), report="", steps=[node_failed], **ok) == [
        "graph wikipedia_lookup did not complete (COMPLETED: GetWikipediaSummaryBlock: cannot "
        "resolve host)"]
    assert check(expect, report="Here is the summary.", steps=[step("wikipedia_lookup")],
                 **ok) == ["graph wikipedia_lookup did not run and fail (it succeeded)",
                           "report has none of 'fail', 'could not'"]
    skipped = step("wikipedia_lookup", status="SKIPPED", error="skipped: s0 failed")
    assert check(Expect(failed_graphs=["wikipedia_lookup"]), report="", steps=[skipped], **ok)
    none = Expect(graphs_none=True, report_contains=["flight"])
    assert check(none, report="I cannot book a flight.", steps=[], **ok) == []
    assert check(none, report="Booked the flight.", steps=[step("answer_question")], **ok) == [
        "graphs ran though none should: answer_question"]


# --- digest ---------------------------------------------------------------------------------

def test_digest_follows_the_speak_text_and_audio_contents(tmp_path):
    path = tmp_path / "r.jsonl"
    first = load_requests(write_set(path, [{"id": "v", "speak": "six times seven"}])).digest
    assert load_requests(path).digest == first
    assert load_requests(write_set(path, [{"id": "v", "speak": "six times eight"}])).digest != first
    note = tmp_path / "note.wav"
    note.write_bytes(b"one")
    write_set(path, [{"id": "v", "audio": "note.wav"}])
    before = load_requests(path).digest
    note.write_bytes(b"two")
    assert load_requests(path).digest != before
    assert speak_digest(" Hello ") == speak_digest("Hello") != speak_digest("Hello!")


# --- voice notes ----------------------------------------------------------------------------

def test_voice_notes_are_made_once_per_text(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr("company.speech.synth.speak_to_wav", fake_speak(calls))
    notes = VoiceNotes(tmp_path)

    async def main() -> list[Path]:
        return list(await asyncio.gather(notes.wav("one"), notes.wav("one"), notes.wav("two")))

    one, again, two = asyncio.run(main())
    assert one == again != two and calls == ["one", "two"]
    assert one.parent == tmp_path / "voices" and one.name == f"speak-{speak_digest('one')}.wav"
    assert asyncio.run(notes.wav("one")) == one and calls == ["one", "two"]
    assert sorted(p.name for p in (tmp_path / "voices").iterdir()) == sorted([one.name, two.name])


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
@pytest.mark.speech
def test_voice_notes_with_espeak_are_decodable_speech(tmp_path):
    from company.speech.audio import decode_audio

    path = asyncio.run(VoiceNotes(tmp_path).wav("What is six times seven?"))
    samples = decode_audio(path)
    assert 1.0 < len(samples) / 16_000 < 5.0 and float(np.abs(samples).max()) > 0.05


@pytest.fixture
def sweep_inputs(tmp_path: Path, scripted_ollama: FakeOllama, whisper_checkpoint: Path
                 ) -> dict[str, Any]:
    """A config with the fake LLM and the random-weights Whisper; a set with two voice notes."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"workspace: {tmp_path / 'ws'}\n"
        f"llm: {{provider: ollama, host: '{scripted_ollama.host}', timeout_s: 5}}\n"
        "graphs: {allow_private_network: true}\n"
        f"speech: {{model: '{whisper_checkpoint}', device: cpu, sample_len: 8, threads: 1,"
        " no_speech_threshold: null}\n")
    requests = write_set(tmp_path / "r.jsonl", [
        {"id": "voice", "speak": "What is six times seven?", "request": TYPED,
         "expect": {"graphs": ["calculate"], "outputs_contain": [42]}},
        {"id": "typed", "request": "What is 6 times 7?", "expect": {"outputs_contain": [42]}},
    ])
    return {"config": str(config), "requests": str(requests)}


@pytest.mark.speech
def test_sweep_sends_speak_as_the_runs_audio_and_synthesizes_once(sweep_inputs, scripted_ollama,
                                                                   tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr("company.speech.synth.speak_to_wav", fake_speak(calls))
    monkeypatch.setattr("company.speech.synth.espeak_available", lambda: True)
    out = tmp_path / "sweep"
    args = ["--config", sweep_inputs["config"], "--sops", "default", "--requests",
            sweep_inputs["requests"], "--repeat", "2", "--out", str(out), "--quiet"]
    assert research_command(args) == 0
    assert calls == ["What is six times seven?"]  # two repeats, one synthesis
    rows = {r.run_id: r for r in map(RunRow.model_validate_json,
                                      (out / "runs.jsonl").read_text().splitlines())}
    assert all(r.success for r in rows.values()), rows
    wav = out / "voices" / f"speak-{speak_digest('What is six times seven?')}.wav"
    for k in (1, 2):
        log = [json.loads(line) for line in
               (out / "runs" / f"default-voice-qwen2.5-r{k}" / "messages.jsonl").read_text()
               .splitlines()]
        boss = next(m for m in log if m["cause_by"] == "VoiceRequest")
        assert boss["payload"]["audio_path"] == str(wav.resolve())
        assert boss["payload"]["text"] == TYPED
        transcript = next(m for m in log if m["cause_by"] == "Transcribe")
        assert f"Typed: {TYPED}" in transcript["content"]
    typed = [json.loads(line) for line in
             (out / "runs" / "default-typed-qwen2.5-r1" / "messages.jsonl").read_text()
             .splitlines()]
    assert not any(m["cause_by"] in ("VoiceRequest", "Transcribe") for m in typed)
    # a resume (nothing left to run) and a voice note already made: no new synthesis
    assert research_command(["--resume", str(out), "--quiet"]) == 0
    assert calls == ["What is six times seven?"]


@pytest.mark.speech
def test_speak_without_espeak_fails_before_any_run(sweep_inputs, scripted_ollama, tmp_path,
                                                   monkeypatch, capsys):
    monkeypatch.setattr("company.speech.synth.espeak_available", lambda: False)
    out = tmp_path / "sweep"
    assert research_command(["--config", sweep_inputs["config"], "--sops", "default",
                             "--requests", sweep_inputs["requests"], "--out", str(out),
                             "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{sweep_inputs['requests']}:1:" in err and "espeak-ng" in err
    assert scripted_ollama.chat_calls == 0 and not out.exists()
