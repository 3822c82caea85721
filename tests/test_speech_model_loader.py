"""Which checkpoint the Whisper loader picks: official file, model cache, download, or an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from company.speech import ModelLoadError, ModelUnavailable
from company.speech import model_loader as loader

pytestmark = pytest.mark.speech


class FakeModel:
    """What the fake ``whisper.load_model`` returns; records alignment heads."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.heads: bytes | None = None

    def set_alignment_heads(self, dump: bytes) -> None:
        self.heads = dump


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace ``whisper.load_model``; the list collects what it was asked to load."""
    import whisper

    calls: list[str] = []

    def fake_load(name: str, device: str = "cpu", download_root: Any = None) -> FakeModel:
        calls.append(name)
        return FakeModel(name)

    monkeypatch.setattr(whisper, "load_model", fake_load)
    return calls


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Official URLs that never resolve."""
    import whisper

    for name in ("tiny", "base", "tiny.en"):
        monkeypatch.setitem(whisper._MODELS, name, f"https://models.invalid/0123/{name}.pt")


def _catalogue(monkeypatch: pytest.MonkeyPatch, cached: dict[str, Path], cache_dir: Path) -> None:
    """A model cache holding ``cached`` (name -> file) for the catalogue names base, tiny.en."""
    monkeypatch.setattr(loader, "catalogue_checkpoint", lambda name: cached.get(name))
    files = {
        "base": cache_dir / "whisper" / "base.pt",
        "tiny.en": cache_dir / "whisper" / "tiny.en.pt",
    }
    monkeypatch.setattr(loader, "catalogue_cache_file", lambda name: files.get(name))


@pytest.mark.usefixtures("offline")
def test_model_cache_file_is_used_when_the_official_file_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    import whisper

    cached = tmp_path / "models" / "whisper" / "base.pt"
    _catalogue(monkeypatch, {"base": cached}, tmp_path / "models")
    model = loader.load_whisper_model("base", device="cpu", download_root=tmp_path / "whisper")
    assert loads == [str(cached)]
    assert model.heads == whisper._ALIGNMENT_HEADS["base"]  # the official heads, not defaults


def test_official_file_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    root = tmp_path / "whisper"
    root.mkdir()
    (root / "base.pt").write_bytes(b"official")
    _catalogue(monkeypatch, {"base": tmp_path / "models" / "base.pt"}, tmp_path / "models")
    loader.load_whisper_model("base", device="cpu", download_root=root)
    assert loads == ["base"]


@pytest.mark.usefixtures("offline")
def test_missing_everywhere_names_what_was_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    _catalogue(monkeypatch, {}, tmp_path / "models")
    root = tmp_path / "whisper"
    with pytest.raises(ModelUnavailable) as info:
        loader.load_whisper_model("tiny.en", device="cpu", download_root=root, timeout_s=2)
    message = str(info.value)
    assert str(root / "tiny.en.pt") in message
    assert str(tmp_path / "models" / "whisper" / "tiny.en.pt") in message
    assert "models.invalid" in message
    assert "python startup.py models pull tiny.en" in message
    assert loads == []


@pytest.mark.usefixtures("offline")
def test_official_name_outside_the_catalogue_keeps_the_old_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalogue(monkeypatch, {}, tmp_path / "models")
    with pytest.raises(ModelUnavailable) as info:
        loader.load_whisper_model("tiny", device="cpu", download_root=tmp_path, timeout_s=2)
    assert str(tmp_path / "tiny.pt") in str(info.value) and "models pull" not in str(info.value)


@pytest.mark.usefixtures("offline")
def test_broken_model_cache_file_says_how_to_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = tmp_path / "base.pt"
    cached.write_bytes(b"not a checkpoint")
    _catalogue(monkeypatch, {"base": cached}, tmp_path)
    with pytest.raises(ModelLoadError) as info:
        loader.load_whisper_model("base", device="cpu", download_root=tmp_path / "whisper")
    assert str(cached) in str(info.value) and "models pull base" in str(info.value)


@pytest.mark.usefixtures("offline")
def test_catalogue_lookup_goes_through_the_model_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    import company.models as models

    cached = tmp_path / "cache" / "whisper" / "base.pt"
    seen: list[str] = []

    def cached_model_file(name: str, settings: object = None) -> Path | None:
        seen.append(name)
        return cached if name == "base" else None

    monkeypatch.setattr(models, "cached_model_file", cached_model_file, raising=False)
    loader.load_whisper_model("base", device="cpu", download_root=tmp_path / "whisper")
    assert seen == ["base"] and loads == [str(cached)]


@pytest.mark.usefixtures("offline")
def test_corrupt_model_cache_file_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    from company.models import ModelError

    def corrupt(name: str) -> Path | None:
        raise ModelError(f"{tmp_path}/whisper/base.pt is corrupt (sha256 0000, expected 1111)")

    _catalogue(monkeypatch, {}, tmp_path)
    monkeypatch.setattr(loader, "catalogue_checkpoint", corrupt)
    with pytest.raises(ModelUnavailable) as info:
        loader.load_whisper_model("base", device="cpu", download_root=tmp_path, timeout_s=2)
    assert "is corrupt" in str(info.value) and "models pull base" in str(info.value)
    assert loads == []
