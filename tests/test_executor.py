"""The Executor end to end: plans become graph runs whose results reach the report."""

import asyncio
import json
import threading

import pytest
import uvicorn

from company.events import EventKind
from company.payloads import GraphResults
from company.sop import load_sop
from company.team import Company
from tests.conftest import script_company


def results_of(store, task_id) -> GraphResults:
    message = [m for m in store.messages(task_id) if m.cause_by == "RunGraphs"][-1]
    return GraphResults.model_validate(message.payload)


async def test_default_sop_executes_the_plan_and_reports_results(config, store,
                                                                 scripted_ollama):
    outcome = await Company(config, store=store).run("6 times 7, and count words",
                                                     sop=load_sop("default"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "WritePlan", "RunGraphs",
                      "SummarizeResults"]
    steps = {s.step_id: s for s in results_of(store, outcome.task_id).steps}
    assert steps["s1"].status == "COMPLETED" and steps["s1"].outputs["result"] == [42.0]
    assert steps["s2"].outputs["word_count"] == [4]
    assert "## Results" in outcome.report and "42.0" in outcome.report
    assert "not executed" not in outcome.report
    summary_prompt = [r["messages"][-1]["content"] for r in scripted_ollama.requests
                      if "## Task: SummarizeResults" in r["messages"][-1]["content"]][0]
    assert "42.0" in summary_prompt
    nodes = [e for e in store.events(outcome.task_id) if e.kind is EventKind.GRAPH_NODE]
    assert any(e.data.get("block") == "CalculatorBlock" for e in nodes)


async def test_step_outputs_feed_later_steps_and_failures_skip_dependents(config, store,
                                                                          fake_ollama):
    script_company(fake_ollama)
    fake_ollama.rules = [r for r in fake_ollama.rules if "WritePlan" not in r.match]
    plan = {"steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"}},
        {"id": "s2", "graph": "calculate", "inputs": {"a": "{{ s1.result }}", "b": 2,
                                                      "operation": "Add"}, "depends_on": ["s1"]},
        {"id": "s3", "graph": "word_count", "inputs": {"text": "answer is {{s2.result}}"},
         "depends_on": ["s2"]},
        {"id": "bad", "graph": "wikipedia_lookup", "inputs": {"topic": "Nowhere"}},
        {"id": "after_bad", "graph": "word_count", "inputs": {"text": "x"},
         "depends_on": ["bad"]},
    ]}
    fake_ollama.on("## Task: WritePlan", json.dumps(plan))
    config.graphs["wikipedia_base_url"] = "http://127.0.0.1:9"  # nothing listens: the node fails
    outcome = await Company(config, store=store).run("chain", sop=load_sop("default"))
    assert outcome.status == "done", outcome.error
    steps = {s.step_id: s for s in results_of(store, outcome.task_id).steps}
    assert steps["s2"].outputs["result"] == [44.0]
    assert steps["s3"].outputs["word_count"] == [3]
    assert steps["bad"].error and steps["bad"].status in ("COMPLETED", "FAILED")
    assert steps["after_bad"].status == "SKIPPED" and "bad" in steps["after_bad"].error


async def test_direct_sop_has_no_planner(config, store, scripted_ollama):
    outcome = await Company(config, store=store).run("x", sop=load_sop("direct"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "RunGraphs", "SummarizeResults"]
    assert results_of(store, outcome.task_id).steps[0].outputs["result"] == [42.0]


async def test_review_loop_replans_once_then_reports(config, store, scripted_ollama):
    scripted_ollama.on("## Task: ReviewResults",
                       json.dumps({"verdict": "replan", "feedback": "also add 1"}),
                       json.dumps({"verdict": "accept", "feedback": "fine"}))
    outcome = await Company(config, store=store).run("x", sop=load_sop("review-loop"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "WritePlan", "RunGraphs",
                      "ReviewResults", "WritePlan", "RunGraphs", "SummarizeResults"]
    replan = [r["messages"][-1]["content"] for r in scripted_ollama.requests
              if "## Task: WritePlan" in r["messages"][-1]["content"]][1]
    assert "reviewer: also add 1" in replan
    # max_replans: 1 — the second review is not asked, the report is written
    assert scripted_ollama.calls_matching("## Task: ReviewResults") == 1


class StandIn:
    """The AutoGPT stand-in app served by uvicorn on loopback (the client uses real HTTP)."""

    def __init__(self, app):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(5)


async def test_remote_executor_records_the_execution_and_resumes_without_resubmitting(
        config, store, scripted_ollama):
    from tests.fakes.autogpt_server import FakeAutoGPT, create_app

    server = FakeAutoGPT(queued_polls=10_000, outputs={"result": [42.0]})
    with StandIn(create_app(server)) as url:
        config.graphs = {"executor": "remote", "remote": {
            "base_url": url, "api": "external", "api_key": server.api_key,
            "poll_initial_s": 0.01, "poll_max_s": 0.02, "timeout_s": 30}}
        company = Company(config, store=store)
        task_id = company.create_task("x", sop=load_sop("default"))
        run = asyncio.create_task(company.run_task(task_id))
        step_key = f"{task_id}-00003:s1"
        for _ in range(500):
            if store.recorded_execution(task_id, step_key):
                break
            await asyncio.sleep(0.01)
        recorded = store.recorded_execution(task_id, step_key)
        assert recorded and server.submissions == 1
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert store.get_task(task_id).status == "cancelled"
        server.queued_polls = 0  # the server catches up while we were down
        outcome = await Company(config, store=store).run_task(task_id)
        assert outcome.status == "done", outcome.error
        steps = results_of(store, task_id).steps
        assert steps[0].execution_id == recorded
        assert steps[0].outputs == {"result": [42.0]}
        assert server.submissions == 2  # s1 resumed by polling, s2 submitted once


async def test_remote_timeout_in_queued_is_a_clear_step_error(config, store, scripted_ollama):
    from tests.fakes.autogpt_server import FakeAutoGPT, create_app

    server = FakeAutoGPT(queued_polls=10_000)
    with StandIn(create_app(server)) as url:
        config.graphs = {"executor": "remote", "remote": {
            "base_url": url, "api": "external", "api_key": server.api_key,
            "poll_initial_s": 0.01, "poll_max_s": 0.02, "timeout_s": 0.3}}
        outcome = await Company(config, store=store).run("x", sop=load_sop("default"))
    assert outcome.status == "done"
    steps = results_of(store, outcome.task_id).steps
    assert steps[0].status == "FAILED" and "QUEUED" in steps[0].error
    assert steps[1].status == "SKIPPED"
    assert "QUEUED" in outcome.report


async def test_real_exported_graph_runs_with_llm_blocks_through_fake_ollama(fake_ollama):
    """AutoGPT's exported "AI Function" graph, its LLM block answered over the Ollama protocol."""
    from company.graphs import GraphSettings, load_graph
    from company.graphs.runner import GraphRunner
    from company.llm.client import LLM
    from company.llm.ollama_provider import OllamaProvider
    from company.llm.usage import CostManager
    from tests.conftest import SHARED

    fake_ollama.models.append("llama3.2:3b")
    fake_ollama.on("def fake_people", '[{"name": "Ada", "age": 36}]')
    llm = LLM(OllamaProvider(fake_ollama.host), model="qwen2.5", cost=CostManager())
    graph = load_graph(SHARED / "autogpt" / "graphs" / "ai_function__agent_516d813b.json")
    settings = GraphSettings(model_map={"o3-mini": "llama3.2:3b", "default": ""})
    run = await GraphRunner(settings, llm=llm.for_role("Executor")).run(graph, {"Arguments": "1"})
    assert run.status.value == "COMPLETED"
    assert run.outputs == {"return": ['[{"name": "Ada", "age": 36}]']}
    assert fake_ollama.requests[0]["model"] == "llama3.2:3b"
    assert llm.cost.by_role["Executor"].calls == 1
