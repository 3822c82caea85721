import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, normalize_log

pytestmark = pytest.mark.subprocess  # every test runs startup.py

PY = sys.executable


def cli(*args, env=None, timeout=60):
    return subprocess.run([PY, "startup.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_help_is_fast_and_imports_nothing_heavy():
    out = subprocess.run([PY, "-X", "importtime", "startup.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--resume" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert not imported & {"torch", "whisper", "fastapi", "uvicorn", "xllamacpp"}


def test_no_model_server_no_cached_model_no_source_exits_3_naming_what_was_tried(tmp_path):
    sources = tmp_path / "models.yaml"
    out = cli("What is 6 times 7?", "--workspace", str(tmp_path / "ws"), env={
        "OLLAMA_HOST": "http://127.0.0.1:9", "COMPANY_MODELS_DIR": str(tmp_path / "cache"),
        "HF_ENDPOINT": "http://127.0.0.1:9", "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path), "PIP_EXTRA_INDEX_URL": "", "PIP_INDEX_URL": "",
    })
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr and not sources.exists()
    assert "also tried: an Ollama server at http://127.0.0.1:9" in out.stderr
    assert "models pull qwen2.5-coder:1.5b" in out.stderr
    assert "hf" in out.stderr and "pypi" in out.stderr  # each source tried is named


def test_request_end_to_end_writes_the_workspace(tmp_path, scripted_ollama):
    ws = tmp_path / "ws"
    out = cli("What is 6 times 7?", "--sop", "plan-only", "--workspace", str(ws),
              "--llm", f"ollama:qwen2.5@{scripted_ollama.host}", "--json")
    assert out.returncode == 0, out.stderr
    outcome = json.loads(out.stdout)
    assert outcome["status"] == "done"
    task_dir = ws / outcome["task_id"]
    assert "# Report" in (task_dir / "report.md").read_text()
    assert len((task_dir / "messages.jsonl").read_text().splitlines()) == 4


def test_unreachable_server_says_where_and_how_without_traceback(tmp_path):
    out = cli("hello", "--workspace", str(tmp_path), "--llm", "ollama:qwen2.5@http://127.0.0.1:9")
    assert out.returncode == 3
    assert "http://127.0.0.1:9" in out.stderr and "ollama serve" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_model_is_pulled_and_the_llm_flag_beats_the_sop(tmp_path, scripted_ollama):
    out = cli("x", "--sop", "plan-only", "--workspace", str(tmp_path),
              "--llm", f"ollama:llama3.2@{scripted_ollama.host}", "--json")
    assert out.returncode == 0, out.stderr
    assert scripted_ollama.pulls == ["llama3.2"]  # plan-only.yaml says qwen2.5; --llm wins
    assert {r["model"] for r in scripted_ollama.requests} == {"llama3.2"}


def test_bad_input_is_a_clear_error(tmp_path):
    assert "give a request" in cli("--workspace", str(tmp_path)).stderr
    out = cli("x", "--sop", "nope", "--workspace", str(tmp_path), "--no-preflight")
    assert out.returncode == 2 and "no such SOP file" in out.stderr
    out = cli("--resume", "t000", "--workspace", str(tmp_path), "--no-preflight")
    assert out.returncode == 2 and "no task 't000'" in out.stderr


def _wait_for_message(db: Path, cause: str, timeout: float = 30) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    row = conn.execute(
                        "SELECT task_id FROM messages WHERE cause_by=?", (cause,)).fetchone()
                if row:
                    return row[0]
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no {cause} message within {timeout} s")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_log_without_repeating_calls(tmp_path, fake_ollama):
    from tests.conftest import script_company

    script_company(fake_ollama)
    llm = f"ollama:qwen2.5@{fake_ollama.host}"
    # the uninterrupted reference run
    ref_ws = tmp_path / "ref"
    ref = json.loads(cli("Compute it", "--sop", "plan-only", "--workspace", str(ref_ws),
                         "--llm", llm, "--json").stdout)
    reference_calls = fake_ollama.chat_calls
    # a run killed (SIGKILL) right after the Analyst's message, while the Planner waits
    for rule in fake_ollama.rules:
        if "WritePlan" in rule.match:
            rule.delay_s = 2.0
    ws = tmp_path / "killed"
    proc = subprocess.Popen([PY, "startup.py", "Compute it", "--sop", "plan-only",
                             "--workspace", str(ws), "--llm", llm, "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    task_id = _wait_for_message(ws / "company.db", "AnalyzeRequest")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for rule in fake_ollama.rules:
        rule.delay_s = 0.0
    out = cli("--resume", task_id, "--workspace", str(ws), "--llm", llm, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "done"
    resumed = normalize_log(ws / task_id / "messages.jsonl", task_id)
    assert resumed == normalize_log(ref_ws / ref["task_id"] / "messages.jsonl", ref["task_id"])
    second = fake_ollama.requests[reference_calls:]
    analyses = [r for r in second if "## Task: AnalyzeRequest" in r["messages"][-1]["content"]]
    reports = [r for r in second if "## Task: SummarizeResults" in r["messages"][-1]["content"]]
    assert len(analyses) == 1 and len(reports) == 1  # the finished Analyst call is not repeated
    # the Planner call cut off by the kill is made again once: 3 + that one
    assert len(second) in (reference_calls, reference_calls + 1)


def test_default_sop_end_to_end_report_has_executed_results(tmp_path, scripted_ollama):
    ws = tmp_path / "ws"
    out = cli("What is 6 times 7?", "--workspace", str(ws),
              "--llm", f"ollama:qwen2.5@{scripted_ollama.host}", "--json")
    assert out.returncode == 0, out.stderr
    outcome = json.loads(out.stdout)
    report = (ws / outcome["task_id"] / "report.md").read_text()
    assert "## Results" in report and "42.0" in report and "COMPLETED" in report


def test_graphs_run_from_the_command_line(tmp_path):
    out = cli("graphs", "run", "calculate", "--input", "a=6", "--input", "b=7",
              "--input", "operation=Multiply", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "COMPLETED" and result["outputs"] == {"result": [42.0]}
    refused = cli("graphs", "run", str(ROOT.parent / "shared" / "autogpt" / "graphs" /
                                       "discord_bot_chat_to_llm__template_v5.json"))
    assert refused.returncode == 2 and "ReadDiscordMessagesBlock" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
@pytest.mark.speech
def test_audio_request_and_transcribe_command(tmp_path, scripted_ollama, whisper_checkpoint):
    from tests.speech_fixtures import encode_audio, make_clip

    note = tmp_path / "note.ogg"
    note.write_bytes(encode_audio(make_clip(3.0, seed=5), "ogg"))
    ws = tmp_path / "ws"
    out = cli("--audio", str(note), "Multiply 6 by 7", "--sop", "plan-only", "--workspace",
              str(ws), "--whisper-model", str(whisper_checkpoint),
              "--llm", f"ollama:qwen2.5@{scripted_ollama.host}", "--json")
    assert out.returncode == 0, out.stderr
    task_id = json.loads(out.stdout)["task_id"]
    transcript = json.loads((ws / task_id / "transcript.json").read_text())
    assert transcript["typed_text"] == "Multiply 6 by 7"
    assert abs(transcript["duration_s"] - 3.0) < 0.1
    out = cli("transcribe", str(note), "--json", env={"WHISPER_MODEL": str(whisper_checkpoint)})
    assert out.returncode == 0, out.stderr
    assert abs(json.loads(out.stdout.splitlines()[0])["duration_s"] - 3.0) < 0.1
    missing = cli("transcribe", str(note), "--whisper-model", "tiny",
                  env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)})
    assert missing.returncode == 2 and "tiny.pt" in missing.stderr


def _damaged_db(path: Path) -> None:
    """A real store, then its second half cut off (as a full disk or a crash can leave it)."""
    from company.store import Store

    store = Store(path)
    for i in range(300):
        store.create_task(f"t{i:04d}", "r" * 400, "default", "s" * 2000)
    store.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def test_bad_local_state_is_one_clear_line_and_exit_2(tmp_path):
    """L5: a garbage or truncated company.db, or a workspace that is a file, were tracebacks."""
    garbage, cut, afile = tmp_path / "garbage", tmp_path / "cut", tmp_path / "afile"
    garbage.mkdir()
    (garbage / "company.db").write_bytes(os.urandom(20_000))
    cut.mkdir()
    _damaged_db(cut / "company.db")
    afile.write_text("not a folder")
    expected = {garbage: "not a usable SQLite database", cut: "company.db",
                afile: "is a file, not a folder"}
    for ws, words in expected.items():
        out = cli("x", "--workspace", str(ws), "--no-preflight",
                  "--llm", "ollama:qwen2.5@http://127.0.0.1:9")
        assert out.returncode == 2, (ws, out.stderr)
        assert "Traceback" not in out.stderr and words in out.stderr, out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("error: ")
        assert str(ws) in out.stderr


def test_investment_must_be_a_finite_positive_number(tmp_path):
    for value in ("nan", "inf", "-1", "0", "lots"):
        out = cli("x", "--investment", value, "--workspace", str(tmp_path), "--no-preflight",
                  "--llm", "ollama:qwen2.5@http://127.0.0.1:9")
        assert out.returncode == 2, (value, out.stderr)
        assert "--investment" in out.stderr and "positive" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def _hear_sigint() -> None:
    """A test run started in the background (``cmd &`` without job control) ignores SIGINT,
    and its children inherit that: give the CLI under test the default, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_with_json_names_the_real_task_id(tmp_path, fake_ollama):
    from tests.conftest import script_company

    script_company(fake_ollama)
    for rule in fake_ollama.rules:  # long enough to be interrupted however slow the machine
        if "WritePlan" in rule.match:  # (5 s once ran out under load: the run finished first)
            rule.delay_s = 60.0
    ws = tmp_path / "ws"
    proc = subprocess.Popen([PY, "startup.py", "Compute it", "--sop", "plan-only",
                             "--workspace", str(ws), "--llm",
                             f"ollama:qwen2.5@{fake_ollama.host}", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_hear_sigint)
    task_id = _wait_for_message(ws / "company.db", "AnalyzeRequest")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert f"--resume {task_id}" in err and "TASK_ID" not in err


def test_subtitle_word_layout_needs_word_timestamps(tmp_path):
    out = cli("transcribe", str(tmp_path / "any.wav"), "--max-words-per-line", "3")
    assert out.returncode == 2
    assert "--max-words-per-line needs --word-timestamps" in out.stderr
    assert "--word-timestamps" in cli("transcribe", "--help").stdout
