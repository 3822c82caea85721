"""Hybrid dispatch: a graph runs here when every block does, else on the configured AutoGPT
server, else nowhere with the blocks named and the setting that would run it; missing keys
refuse a run before it starts; the Executor's results and `graphs show/list` say where."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from company.config import CONFIG_DIR
from company.graphs.blocks.registry import default_registry
from company.graphs.cli import graphs_command
from company.graphs.config import GraphSettings
from company.graphs.dispatch import place
from company.graphs.model import Graph
from company.payloads import GraphResults
from company.run_options import RunOptions
from tests.fakes.autogpt_server import FakeAutoGPT, StandIn, create_app
from tests.runtime_support import scripted_company, standard_script

GMAIL_SEND = "6c27abc2-e51d-499e-a85f-5a0041ba94f0"
SEARCH = "87840993-2053-44b7-8da4-187ad4ee518c"
INPUT, OUTPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b", "363ae599-353e-4804-937e-b2ee3cef3da4"
REMOTE = {"base_url": "http://127.0.0.1:9", "api": "external", "api_key": "agpt_test"}


def one_block_graph(block_id: str, pin: str, name: str) -> dict:
    """input `text` -> the block's `pin` -> output `result` (a graph as AutoGPT exports it)."""
    nodes = [
        {"id": "in", "block_id": INPUT, "input_default": {"name": "text"}},
        {"id": "work", "block_id": block_id, "input_default": {}},
        {"id": "out", "block_id": OUTPUT, "input_default": {"name": "result"}},
    ]
    links = [{"id": "l1", "source_id": "in", "sink_id": "work", "source_name": "result",
              "sink_name": pin},
             {"id": "l2", "source_id": "work", "sink_id": "out", "source_name": "result",
              "sink_name": "value"}]
    return {"id": f"{name}-id", "version": 3, "name": name, "description": f"{name} graph.",
            "nodes": nodes, "links": links}


def gmail_graph() -> Graph:
    return Graph.model_validate(one_block_graph(GMAIL_SEND, "body", "send_email"))


def calculate() -> Graph:
    return Graph.model_validate_json((CONFIG_DIR / "graphs" / "calculate.json").read_text())


def test_a_graph_whose_blocks_all_run_here_runs_here() -> None:
    placement = place(calculate(), default_registry(), GraphSettings(remote=REMOTE))
    assert (placement.where, placement.why) == ("local", "every block runs here")


def test_other_blocks_without_a_server_are_refused_naming_the_block_and_the_setting() -> None:
    placement = place(gmail_graph(), default_registry(), GraphSettings())
    assert placement.where == "refused" and not placement.runs
    assert placement.unsupported == ["GmailSendBlock (google.gmail: needs a Google account)"]
    assert "configure an AutoGPT server under graphs.remote" in placement.why


def test_other_blocks_go_to_the_configured_server() -> None:
    placement = place(gmail_graph(), default_registry(), GraphSettings(remote=REMOTE))
    assert placement.where == "remote"
    assert "GmailSendBlock" in placement.why and "127.0.0.1:9" in placement.why


def test_a_server_without_its_key_is_not_configured() -> None:
    no_key = GraphSettings(remote={**REMOTE, "api_key": None})
    internal = GraphSettings(remote={**REMOTE, "api": "internal"})  # needs a bearer token
    assert place(gmail_graph(), default_registry(), no_key).where == "refused"
    assert place(gmail_graph(), default_registry(), internal).where == "refused"


def test_executor_remote_sends_every_graph_to_the_server() -> None:
    settings = GraphSettings(executor="remote", remote=REMOTE)
    assert place(calculate(), default_registry(), settings).where == "remote"


def test_a_missing_key_refuses_the_run_before_it_starts(monkeypatch) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    graph = Graph.model_validate(one_block_graph(SEARCH, "query", "search"))
    settings = GraphSettings(search={"kind": "jina"})
    placement = place(graph, default_registry(), settings)
    assert placement.where == "refused"
    assert "Jina API key" in placement.why and "graphs.search.jina_api_key" in placement.why
    assert "JINA_API_KEY" in placement.why
    monkeypatch.setenv("JINA_API_KEY", "jina_test")
    assert place(graph, default_registry(), settings).where == "local"
    assert place(graph, default_registry(), GraphSettings()).where == "local"  # SearXNG: no key


# -- the Executor ----------------------------------------------------------------------------

TWO_STEPS = {"steps": [
    {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"}},
    {"id": "s2", "graph": "send_email", "inputs": {"text": "The answer is {{ s1.result }}"}},
], "notes": ""}


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "graphs"
    folder.mkdir()
    shutil.copy(CONFIG_DIR / "graphs" / "calculate.json", folder)
    (folder / "send_email.json").write_text(json.dumps(one_block_graph(GMAIL_SEND, "body",
                                                                       "send_email")))
    return folder


async def test_the_executor_runs_each_step_where_its_blocks_run(config, store, catalogue_dir):
    server = FakeAutoGPT(outputs={"result": ["sent"]})
    with StandIn(create_app(server)) as url:
        config.graphs = {"catalogue_dir": str(catalogue_dir), "remote": {
            "base_url": url, "api": "external", "api_key": server.api_key,
            "poll_initial_s": 0.01, "poll_max_s": 0.02, "timeout_s": 30}}
        company, _ = scripted_company(config, store, standard_script(WritePlan=TWO_STEPS))
        outcome = await company.run("Email the boss 6 x 7", RunOptions(sop="default"))
    assert outcome.status == "done", outcome.error
    steps = results_of(store, outcome.task_id).steps
    assert [(s.step_id, s.where, s.status) for s in steps] == [
        ("s1", "local", "COMPLETED"), ("s2", "remote", "COMPLETED")]
    assert steps[1].outputs == {"result": ["sent"]} and steps[1].execution_id
    assert server.submissions == 1
    submitted = next(iter(server.executions.values()))
    assert (submitted.graph_id, submitted.graph_version) == ("send_email-id", 3)
    assert submitted.inputs == {"text": "The answer is 42.0"}
    starts = [e.data for e in store.events(outcome.task_id)
              if e.kind == "graph_node" and e.data.get("status") == "RUNNING"]
    assert [(e["step"], e["where"]) for e in starts] == [("s1", "local"), ("s2", "remote")]
    assert "GmailSendBlock" in starts[1]["why"]


async def test_without_a_server_the_step_fails_naming_the_block_and_the_setting(
        config, store, catalogue_dir):
    config.graphs = {"catalogue_dir": str(catalogue_dir)}
    company, _ = scripted_company(config, store, standard_script(WritePlan=TWO_STEPS))
    outcome = await company.run("Email the boss 6 x 7", RunOptions(sop="direct"))
    steps = results_of(store, outcome.task_id).steps
    s2 = next(s for s in steps if s.step_id == "s2" and s.graph == "send_email")
    assert (s2.status, s2.where) == ("FAILED", "refused")
    assert "GmailSendBlock" in s2.error and "graphs.remote" in s2.error


def results_of(store, task_id: str) -> GraphResults:
    """The newest RunGraphs results of a task."""
    messages = [m for m in store.messages(task_id) if m.cause_by == "RunGraphs"]
    return GraphResults.model_validate(messages[-1].payload)


# -- graphs show / list / run ----------------------------------------------------------------

async def test_graphs_show_and_list_say_where_each_graph_runs_and_why(
        catalogue_dir: Path, capsys) -> None:
    path = str(catalogue_dir / "send_email.json")
    assert await graphs_command(["show", path]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "Runs: nowhere (these blocks do not run here: GmailSendBlock (google.gmail" in shown
    assert "graphs.remote" in shown
    assert await graphs_command(["show", path], settings=GraphSettings(remote=REMOTE)) == 0
    assert "Runs: on the AutoGPT server" in " ".join(capsys.readouterr().out.split())
    assert await graphs_command(["--dir", str(catalogue_dir), "list"]) == 0
    listed = capsys.readouterr().out
    assert "refused" in listed and "local" in listed


async def test_graphs_run_refuses_a_graph_no_one_can_run(catalogue_dir: Path, capsys) -> None:
    code = await graphs_command(["run", str(catalogue_dir / "send_email.json"), "-i", "text=hi"])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "GmailSendBlock" in err and "graphs.remote" in err


async def test_graphs_run_dispatches_to_the_server_by_itself(catalogue_dir: Path,
                                                             capsys) -> None:
    server = FakeAutoGPT(outputs={"result": ["sent"]})
    with StandIn(create_app(server)) as url:
        settings = GraphSettings(remote={"base_url": url, "api": "external",
                                         "api_key": server.api_key, "poll_initial_s": 0.01})
        code = await graphs_command(["run", str(catalogue_dir / "send_email.json"), "-i",
                                     "text=hi", "--json"], settings=settings)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["outputs"] == {"result": ["sent"]}
    assert "running on the AutoGPT server" in captured.err and server.submissions == 1
