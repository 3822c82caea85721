"""The OpenAI-compatible audio routes (``/v1/audio/transcriptions``, ``/translations``) on a
random-weights Whisper checkpoint, the official ``openai`` client against a live server, and
``GET /v1/tasks/{id}/transcript`` in whisper's formats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from company.company import Company
from company.config import AppConfig
from company.message import VOICE_REQUEST, Message
from company.payloads import TranscriptPayload, TranscriptSegment
from company.run_options import RunOptions
from company.sop import load_sop
from company.speech import WhisperService, decode_audio, get_service
from company.speech.formats import (
    TRANSCRIPT_FORMATS,
    VerboseTranscription,
    render,
    render_payload,
    timed_segments,
    verbose_json,
)
from tests.api_inproc import SyncClient, inproc_client, inproc_config
from tests.api_support import live_server, tone_wav, wait_for, write_sop
from tests.speech_fixtures import encode_audio, make_clip

pytestmark = pytest.mark.speech

KEY = "sk-test-key"
CORRUPT_WAV = b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x07" * 300
TRANSCRIBER_SOP = """\
name: transcribe-only
description: the Transcriber writes the voice note down; nobody else works
roles:
  - name: Transcriber
    watch: [VoiceRequest]
limits: {n_round: 2, max_llm_calls: 1}
"""


def speech_config(tmp_path: Path, checkpoint: Path, **api: Any) -> AppConfig:
    """An in-process config whose Whisper service runs the random checkpoint, small and fast."""
    config = inproc_config(tmp_path, **api)
    config.speech = {"model": str(checkpoint), "device": "cpu", "sample_len": 8, "threads": 1,
                     "no_speech_threshold": None, "batch_wait_ms": 5}
    return config


@pytest.fixture(scope="module")
def clip() -> bytes:
    """Four seconds of speech-like audio as WAV."""
    return encode_audio(make_clip(4.0, seed=3), "wav")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, whisper_checkpoint: Path
           ) -> Iterator[tuple[SyncClient, Company]]:
    """One in-process app (no key) for the module: its client and Company."""
    config = speech_config(tmp_path_factory.mktemp("api"), whisper_checkpoint)
    with inproc_client(config) as pair:
        yield pair


@pytest.fixture(scope="module")
def client(served: tuple[SyncClient, Company]) -> SyncClient:
    """The module's in-process client."""
    return served[0]


def post(client: SyncClient, data: dict[str, Any], audio: bytes | None, *,
         route: str = "transcriptions", name: str = "clip.wav") -> Any:
    """POST a multipart form to ``/v1/audio/<route>``."""
    files = {"file": (name, audio, "audio/wav")} if audio is not None else {"x": (None, "")}
    return client.post(f"/v1/audio/{route}", data=data, files=files)


def direct(service: WhisperService, audio: bytes) -> Any:
    """The service's own transcription of the same audio (decoded the same way)."""
    return asyncio.run(service.transcribe(decode_audio(audio), name="clip.wav"))


def error_of(resp: Any) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-shaped answer (and nothing else in the body)."""
    body = resp.json()
    assert list(body) == ["error"], body
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_every_response_format_agrees_with_the_service(
        served: tuple[SyncClient, Company], clip: bytes) -> None:
    client, company = served
    expected = direct(company.services.speech(), clip)
    answers = {fmt: post(client, {"model": "whisper-1", "response_format": fmt}, clip)
               for fmt in ("json", "text", "srt", "vtt", "verbose_json")}
    assert all(r.status_code == 200 for r in answers.values()), answers
    assert answers["json"].json() == {"text": expected.text,
                                      "usage": {"type": "duration", "seconds": 4.0}}
    assert answers["text"].text == expected.text + "\n"
    assert answers["text"].headers["content-type"].startswith("text/plain")
    for fmt in ("srt", "vtt"):
        assert answers[fmt].text == render(fmt, timed_segments(expected))
    assert answers["vtt"].headers["content-type"].startswith("text/vtt")
    verbose = answers["verbose_json"].json()
    assert verbose == verbose_json(expected, task="transcribe", temperature=0.0).model_dump(
        exclude_none=True)
    assert verbose["task"] == "transcribe" and verbose["duration"] == 4.0
    assert verbose["segments"] and verbose["language"].isalpha() and len(verbose["language"]) > 2
    segment = verbose["segments"][0]
    assert set(segment) == {"id", "seek", "start", "end", "text", "tokens", "temperature",
                            "avg_logprob", "compression_ratio", "no_speech_prob"}


def test_default_format_is_json_and_our_model_name_is_accepted(
        client: SyncClient, clip: bytes, whisper_checkpoint: Path) -> None:
    resp = post(client, {"model": whisper_checkpoint.stem}, clip)
    assert resp.status_code == 200 and set(resp.json()) == {"text", "usage"}


def test_translations_run_whispers_translate_task(
        served: tuple[SyncClient, Company], clip: bytes) -> None:
    client, company = served
    settings = company.services.speech().settings
    translator = get_service(settings.model_copy(update={"task": "translate"}))
    expected = direct(translator, clip)
    resp = post(client, {"model": "whisper-1", "response_format": "verbose_json"}, clip,
                route="translations")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["task"] == "translate" and body["text"] == expected.text
    assert body == verbose_json(expected, task="translate", temperature=0.0).model_dump(
        exclude_none=True)
    as_text = post(client, {"model": "whisper-1", "response_format": "text"}, clip,
                   route="translations")
    assert as_text.text == expected.text + "\n"


@pytest.mark.parametrize(("fields", "param", "fragment"), [
    ({"model": "whisper-1", "response_format": "xml"}, "response_format",
     "use one of json, text, srt, vtt, verbose_json"),
    ({"model": "whisper-1", "response_format": "tsv"}, "response_format", "'tsv'"),
    ({"response_format": "json"}, "model", "must provide a model"),
    ({"model": "  "}, "model", "must provide a model"),
    ({"model": "gpt-4o-transcribe"}, "model", "use one of whisper-1, tiny-random"),
    ({"model": "whisper-1", "language": "klingon"}, "language", "'klingon'"),
    ({"model": "whisper-1", "temperature": "5"}, "temperature", "less than or equal to 1"),
    ({"model": "whisper-1", "temperature": "warm"}, "temperature", "number"),
    ({"model": "whisper-1", "timestamp_granularities[]": "phoneme"},
     "timestamp_granularities[]", "'phoneme'"),
])
def test_bad_fields_are_400_in_openais_shape(client: SyncClient, clip: bytes,
                                             fields: dict[str, Any], param: str,
                                             fragment: str) -> None:
    resp = post(client, fields, clip)
    assert resp.status_code == 400, resp.text
    error = error_of(resp)
    assert error["param"] == param and fragment in error["message"], error
    assert error["type"] == "invalid_request_error"


def test_word_granularity_times_every_word(client: SyncClient, clip: bytes) -> None:
    resp = post(client, {"model": "whisper-1", "response_format": "verbose_json",
                         "timestamp_granularities[]": ["segment", "word"]}, clip)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    words, segments = body["words"], body["segments"]
    assert words and segments
    assert "".join(w["word"] for w in words).replace(" ", "") == body["text"].replace(" ", "")
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= body["duration"] + 0.05 for w in words)
    only_words = post(client, {"model": "whisper-1", "response_format": "verbose_json",
                               "timestamp_granularities[]": "word"}, clip).json()
    assert "segments" not in only_words and only_words["words"] == words


def test_language_may_be_a_code_or_a_name(client: SyncClient, clip: bytes) -> None:
    for language in ("de", "German"):
        resp = post(client, {"model": "whisper-1", "language": language,
                             "response_format": "verbose_json"}, clip)
        assert resp.status_code == 200 and resp.json()["language"] == "german", resp.text


@pytest.mark.parametrize(("audio", "status", "code"), [
    (CORRUPT_WAV, 400, "corrupt_audio"),
    (b"just some text, not a recording at all", 415, "not_audio"),
    (b"", 400, "empty_audio"),
    (tone_wav(0.5)[:44] + bytes(16000), 400, "silent_audio"),
])
def test_bad_audio_is_refused_in_openais_shape(client: SyncClient, audio: bytes, status: int,
                                               code: str) -> None:
    resp = post(client, {"model": "whisper-1"}, audio)
    assert resp.status_code == status, resp.text
    error = error_of(resp)
    assert error["code"] == code and error["param"] == "file"
    assert "clip.wav" in error["message"] or not audio


def test_a_form_without_a_file_or_not_multipart(client: SyncClient) -> None:
    resp = post(client, {"model": "whisper-1"}, None)
    assert resp.status_code == 400 and error_of(resp)["param"] == "file"
    resp = client.post("/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert resp.status_code == 415 and "'file'" in error_of(resp)["message"]


def test_upload_and_audio_limits_are_the_apis(tmp_path: Path, whisper_checkpoint: Path) -> None:
    config = speech_config(tmp_path, whisper_checkpoint, max_upload_bytes=100_000,
                           max_field_bytes=4096, max_audio_seconds=1)
    with inproc_client(config) as (client, _company):
        big = post(client, {"model": "whisper-1"}, tone_wav(5))  # 160 kB
        assert big.status_code == 413
        assert error_of(big)["code"] == "file_too_large"
        long = post(client, {"model": "whisper-1"}, tone_wav(2))
        assert long.status_code == 413 and error_of(long)["code"] == "audio_too_long"
        assert "longer than the limit of 1 s" in error_of(long)["message"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the client's translations API
def test_openai_client_on_a_live_server(tmp_path: Path, whisper_checkpoint: Path,
                                        clip: bytes) -> None:
    import openai

    config = speech_config(tmp_path, whisper_checkpoint, api_key=KEY)
    with live_server(config) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0,
                               timeout=60)
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=("clip.wav", clip, "audio/wav"),
            response_format="verbose_json", timestamp_granularities=["segment"])
        assert verbose.duration == 4.0 and verbose.segments
        assert verbose.text == " ".join(s.text for s in verbose.segments)
        plain = client.audio.transcriptions.create(model="whisper-1",
                                                   file=("clip.wav", clip, "audio/wav"))
        assert plain.text == verbose.text
        srt = client.audio.transcriptions.create(
            model="whisper-1", file=("clip.wav", clip), response_format="srt")
        assert isinstance(srt, str) and srt.startswith("1\n00:00:")
        translation = client.audio.translations.create(model="whisper-1",
                                                       file=("clip.wav", clip))
        assert isinstance(translation.text, str)
        with pytest.raises(openai.BadRequestError) as bad:
            client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", clip),
                                               response_format="xml")  # type: ignore[arg-type]
        assert bad.value.param == "response_format" and bad.value.code == "invalid_value"
        with pytest.raises(openai.BadRequestError) as corrupt:
            client.audio.transcriptions.create(model="whisper-1", file=("x.wav", CORRUPT_WAV))
        assert corrupt.value.code == "corrupt_audio"
        wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.audio.transcriptions.create(model="whisper-1", file=("clip.wav", clip))
        assert refused.value.code == "invalid_api_key"
        with server.client() as raw:
            resp = raw.post("/v1/audio/translations", data={"model": "whisper-1"},
                            files={"file": ("clip.wav", clip)})
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
            assert error_of(resp)["message"].startswith("missing API key")


def test_openapi_documents_the_audio_routes(client: SyncClient) -> None:
    schema = client.get("/openapi.json").json()
    for route in ("transcriptions", "translations"):
        post_doc = schema["paths"][f"/v1/audio/{route}"]["post"]
        form = post_doc["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert {"file", "model", "response_format"} <= set(form["properties"])
        assert form["properties"]["response_format"]["enum"] == [
            "json", "text", "srt", "vtt", "verbose_json"]
        ok = post_doc["responses"]["200"]["content"]
        assert {"application/json", "text/plain", "text/vtt", "application/x-subrip"} <= set(ok)
        assert set(ok["application/json"]["examples"]) == {"json", "verbose_json"}
        assert post_doc["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/OpenAIErrorBody"}
    transcribe = schema["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]
    assert "timestamp_granularities[]" in transcribe["content"]["multipart/form-data"][
        "schema"]["properties"]
    params = schema["paths"]["/v1/tasks/{task_id}/transcript"]["get"]["parameters"]
    assert next(p for p in params if p["name"] == "format")["schema"]["enum"] == list(
        TRANSCRIPT_FORMATS)


def test_documented_verbose_json_is_what_formats_build() -> None:
    from company.api.schemas import VerboseTranscriptionOut

    def shape(node: Any, defs: dict[str, Any]) -> Any:
        """The schema with references resolved and names, titles and prose left out."""
        if isinstance(node, list):
            return [shape(v, defs) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return shape(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: shape(v, defs) for k, v in node.items()
                if k not in ("description", "title", "examples", "$defs")}

    ours, theirs = (m.model_json_schema() for m in (VerboseTranscriptionOut,
                                                    VerboseTranscription))
    assert shape(ours, ours["$defs"]) == shape(theirs, theirs["$defs"])


# ---------------------------------------------------------------- GET /v1/tasks/{id}/transcript

PAYLOAD = TranscriptPayload(
    transcript="Book a room. For Thursday.", typed_text="", language="en", duration_s=4.2,
    processing_s=0.5, segments=[TranscriptSegment(start=0.0, end=1.8, text="Book a room."),
                                TranscriptSegment(start=1.8, end=4.2, text="For Thursday.")])


def seed_task(company: Company, tmp_path: Path, messages: list[tuple[str, dict[str, Any]]]
              ) -> str:
    """A stored task with the given (cause_by, payload) messages after the request."""
    task_id = company.create_task("spoken", RunOptions(sop=load_sop(str(write_sop(tmp_path)))))
    store = company.store
    for cause_by, payload in messages:
        seq = store.last_message_seq(task_id) + 1
        store.append_message(Message(id=f"{task_id}-{seq:05d}", task_id=task_id, seq=seq,
                                     content="x", payload=payload, cause_by=cause_by,
                                     sent_from="Transcriber"))
    return task_id


def test_a_voice_tasks_transcript_in_every_format(served: tuple[SyncClient, Company],
                                                  tmp_path: Path) -> None:
    client, company = served
    later = PAYLOAD.model_copy(update={"transcript": "And a projector.", "segments": [
        TranscriptSegment(start=0.0, end=1.2, text="And a projector.")]})
    task_id = seed_task(company, tmp_path, [
        (VOICE_REQUEST, {"audio_path": "/x/voice.wav"}),
        ("Transcribe", PAYLOAD.model_dump(mode="json")),
        (VOICE_REQUEST, {"audio_path": "/x/voice-2.wav"}),
        ("Transcribe", later.model_dump(mode="json"))])
    media = {"txt": "text/plain", "json": "application/json", "srt": "application/x-subrip",
             "vtt": "text/vtt", "tsv": "text/tab-separated-values"}
    for fmt in TRANSCRIPT_FORMATS:
        resp = client.get(f"/v1/tasks/{task_id}/transcript", params={"format": fmt, "seq": 3})
        assert resp.status_code == 200, resp.text
        assert resp.text == render_payload(fmt, PAYLOAD)
        assert resp.headers["content-type"].split(";")[0] == media[fmt]
        assert f"{task_id}-transcript.{fmt}" in resp.headers["content-disposition"]
    newest = client.get(f"/v1/tasks/{task_id}/transcript")
    assert newest.text == "And a projector.\n"
    srt = client.get(f"/v1/tasks/{task_id}/transcript?format=srt&seq=3").text
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,800\nBook a room.\n\n2\n")
    assert json.loads(client.get(f"/v1/tasks/{task_id}/transcript?format=json").text)[
        "text"] == "And a projector."
    bad = client.get(f"/v1/tasks/{task_id}/transcript?format=docx")
    assert bad.status_code == 400
    assert bad.json()["detail"] == "unknown format 'docx': use one of txt, json, srt, vtt, tsv"
    not_one = client.get(f"/v1/tasks/{task_id}/transcript?seq=2")
    assert not_one.status_code == 404 and "transcripts: 3, 5" in not_one.json()["detail"]


def test_tasks_without_a_transcript_are_404(served: tuple[SyncClient, Company],
                                            tmp_path: Path) -> None:
    client, company = served
    assert client.get("/v1/tasks/nosuchtask/transcript").status_code == 404
    typed = seed_task(company, tmp_path, [])
    waiting = seed_task(company, tmp_path, [(VOICE_REQUEST, {"audio_path": "/x/v.wav"})])
    failed = seed_task(company, tmp_path, [
        (VOICE_REQUEST, {"audio_path": "/x/v.wav"}),
        ("Transcribe", TranscriptPayload(typed_text="hi", error="v.wav: silent").model_dump())])
    for task_id, fragment in ((typed, "not a voice request"),
                              (waiting, "not been transcribed (status: queued)"),
                              (failed, "could not be transcribed (v.wav: silent)")):
        resp = client.get(f"/v1/tasks/{task_id}/transcript?format=srt")
        assert resp.status_code == 404 and fragment in resp.json()["detail"], resp.text


def test_a_voice_task_run_by_the_transcriber_has_a_transcript(
        tmp_path: Path, whisper_checkpoint: Path) -> None:
    config = speech_config(tmp_path, whisper_checkpoint)
    sop = tmp_path / "transcribe-only.yaml"
    sop.write_text(TRANSCRIBER_SOP)
    config.sop = str(sop)
    audio = encode_audio(make_clip(3.0, seed=5), "webm")
    with inproc_client(config) as (client, company):
        resp = client.post("/v1/tasks/voice", files={"audio": ("note.webm", audio)})
        assert resp.status_code == 202, resp.text
        task_id = resp.json()["task_id"]

        def transcribed() -> Any:
            answer = client.get(f"/v1/tasks/{task_id}/transcript?format=vtt")
            return answer if answer.status_code == 200 else None

        vtt = wait_for(transcribed, 60, "the Transcriber's transcript")
        stored = next(m for m in company.store.messages(task_id) if m.cause_by == "Transcribe")
    payload = TranscriptPayload.model_validate(stored.payload)
    assert payload.segments and vtt.text == render_payload("vtt", payload)
