"""`graphs list | show | run` command functions."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from company.graphs.cli import graphs_command
from company.graphs.config import GraphSettings, RemoteSettings
from tests.fakes.autogpt_server import FakeAutoGPT, create_app

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = GraphSettings(catalogue_dir=ROOT / "config" / "graphs")
GRAPHS = ROOT.parent / "shared" / "autogpt" / "graphs"


class EchoLLM:
    """Answers every question with the last user message, reversed."""

    async def ask(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        json_schema: dict | None = None,
    ) -> str:
        return messages[-1]["content"][::-1]


@pytest.mark.subprocess
def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, company.graphs; "
        "heavy = {'fastapi', 'uvicorn', 'jinja2', 'httpx', 'rich'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


async def test_list_shows_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert await graphs_command(["list"], llm=None, settings=SETTINGS) == 0
    out = capsys.readouterr().out
    for name in ("calculate", "wikipedia_lookup", "summarize_web_page"):
        assert name in out


async def test_show_by_name_and_by_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert await graphs_command(["show", "calculate"], llm=None, settings=SETTINGS) == 0
    out = capsys.readouterr().out
    assert "Calculate" in out and "Add|Subtract|Multiply|Divide|Power" in out
    assert "Runs: locally (every block runs here)" in out
    discord = str(GRAPHS / "discord_bot_chat_to_llm__template_v5.json")
    assert await graphs_command(["show", discord], llm=None, settings=SETTINGS) == 0
    out = capsys.readouterr().out
    assert "Runs: nowhere" in out and "ReadDiscordMessagesBlock" in out


async def test_run_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = await graphs_command(
        [
            "run",
            "calculate",
            "--input",
            "a=6",
            "--input",
            "b=7",
            "-i",
            "operation=Multiply",
            "--json",
        ],
        llm=None,
        settings=SETTINGS,
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["status"] == "COMPLETED"
    assert result["outputs"] == {"result": [42.0]}
    assert {n["block_name"] for n in result["nodes"]} >= {"CalculatorBlock", "AgentOutputBlock"}
    assert all(n["status"] == "COMPLETED" for n in result["nodes"])


async def test_run_human_output_with_llm(capsys: pytest.CaptureFixture[str]) -> None:
    code = await graphs_command(
        ["run", "answer_question", "-i", "question=abc"], llm=EchoLLM(), settings=SETTINGS
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "COMPLETED" in captured.out and "cba" in captured.out
    assert "AITextGeneratorBlock" in captured.err  # progress lines


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "calculate", "-i", "a=1"], "missing required inputs: b"),
        (
            ["run", str(GRAPHS / "testing_agent_calculator.json")],
            "node c5e2d556-80e7-4fa6-841f-fe6cdfc75004 (CalculatorBlock): missing required inputs "
            "operation, a, b",
        ),
        (
            ["run", str(GRAPHS / "discord_bot_chat_to_llm__template_v5.json")],
            "unsupported block(s): ReadDiscordMessagesBlock",
        ),
        (["run", "no_such_graph"], "unknown graph 'no_such_graph'; known graphs: answer_question"),
        (["run", "missing.json"], "missing.json: file not found"),
        (["run", "calculate", "-i", "oops"], "--input expects KEY=VALUE"),
        (["frobnicate"], "invalid choice"),
    ],
)
async def test_refusals_exit_2_with_one_line(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await graphs_command(args, llm=None, settings=SETTINGS) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in captured.err


async def test_failed_node_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = await graphs_command(
        ["run", "calculate", "-i", "a=x", "-i", "b=1", "--json"], llm=None, settings=SETTINGS
    )
    assert code == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "COMPLETED"
    assert any(n["status"] == "FAILED" for n in result["nodes"])


@pytest.fixture
def stand_in() -> Iterator[tuple[str, FakeAutoGPT]]:
    import uvicorn

    server_state = FakeAutoGPT(queued_polls=1, outputs={"result": [42]})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(server_state), host="127.0.0.1", port=port, log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", server_state
    server.should_exit = True
    thread.join(timeout=5)


async def test_run_remote_against_stand_in(
    stand_in: tuple[str, FakeAutoGPT], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = stand_in
    remote = RemoteSettings(
        base_url=url, api_key=state.api_key, poll_initial_s=0.01, poll_max_s=0.02, timeout_s=5
    )
    settings = SETTINGS.model_copy(update={"remote": remote})
    code = await graphs_command(
        ["run", "calculate", "--remote", "-i", "a=6", "-i", "b=7", "--json"],
        llm=None,
        settings=settings,
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["status"] == "COMPLETED" and result["outputs"] == {"result": [42]}
    assert "started (resume with --execution-id)" in captured.err
    assert state.bodies == [{"node_input": {"a": 6, "b": 7}}]
    execution_id = result["execution_id"]
    code = await graphs_command(
        ["run", "calculate", "--remote", "--execution-id", execution_id, "--json"],
        llm=None,
        settings=settings,
    )
    assert code == 0 and state.submissions == 1
    capsys.readouterr()
    state.submit_status = 402
    code = await graphs_command(
        ["run", "calculate", "--remote", "-i", "a=1", "-i", "b=1"], llm=None, settings=settings
    )
    assert code == 1
    assert "out of credits" in capsys.readouterr().err
