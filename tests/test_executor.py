"""The Executor end to end: plans become graph runs whose results reach the report; a failed
step is FAILED in the report, and the request is re-planned once (by the Planner, or by the
Executor itself when the SOP has none)."""

import asyncio

import pytest

from company.company import Company
from company.events import EventKind
from company.message import EVERYONE
from company.payloads import GraphResults, Review
from company.run_options import RunOptions
from company.sop import SOP, SOP_DIR, parse_sop
from tests.conftest import DEAD_HOST
from tests.fakes.autogpt_server import StandIn
from tests.runtime_support import last_prompt, scripted_company, standard_script

WIKI_ERROR = ("GetWikipediaSummaryBlock: cannot reach host '127.0.0.1': All connection attempts "
              "failed")
LOOKUP_PLAN = {"steps": [{"id": "s1", "graph": "wikipedia_lookup",
                          "inputs": {"topic": "Alan Turing"}}]}
ANSWER_PLAN = {"steps": [{"id": "s1", "graph": "answer_question",
                          "inputs": {"question": "Who was Alan Turing?"}}],
               "notes": "Wikipedia could not be reached; the model answers."}
ANSWER = "A British mathematician and computer scientist."
CHAIN_PLAN = {"steps": [
    {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"}},
    {"id": "s2", "graph": "word_count", "inputs": {"text": "answer {{ s1.result }}"},
     "depends_on": ["s1"]}]}
"""Two steps, the second using the first's output (so it waits for it, or is skipped)."""
"""What answer_question's LLM block says (the Executor's graph calls, scripted by role)."""


def results_of(store, task_id) -> GraphResults:
    message = [m for m in store.messages(task_id) if m.cause_by == "RunGraphs"][-1]
    return GraphResults.model_validate(message.payload)


def replans_of(store, task_id) -> list[dict]:
    return [e.data for e in store.events(task_id)
            if e.kind is EventKind.PROGRESS and e.data.get("what") == "replan_after_failure"]


def sop_with_replans(name: str, replans: int) -> SOP:
    """A shipped SOP with its Executor's ``replan_on_failure`` set (the text is what a task
    stores and runs)."""
    path = SOP_DIR / f"{name}.yaml"
    text = path.read_text()
    assert "replan_on_failure: 1" in text
    return parse_sop(text.replace("replan_on_failure: 1", f"replan_on_failure: {replans}"),
                     source=str(path))


async def test_default_sop_executes_the_plan_and_reports_results(config, store):
    company, provider = scripted_company(config, store)
    outcome = await company.run("6 times 7, and count words", RunOptions(sop="default"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "WritePlan", "RunGraphs",
                      "SummarizeResults"]
    steps = {s.step_id: s for s in results_of(store, outcome.task_id).steps}
    assert steps["s1"].status == "COMPLETED" and steps["s1"].outputs["result"] == [42.0]
    assert steps["s2"].outputs["word_count"] == [4]
    assert "## Results" in outcome.report and "42.0" in outcome.report
    assert "not executed" not in outcome.report
    assert "42.0" in last_prompt(provider, "SummarizeResults")
    nodes = [e for e in store.events(outcome.task_id) if e.kind is EventKind.GRAPH_NODE]
    assert any(e.data.get("block") == "CalculatorBlock" for e in nodes)


async def test_step_outputs_feed_later_steps_and_failures_skip_dependents(config, store):
    plan = {"steps": [
        {"id": "s1", "graph": "calculate", "inputs": {"a": 6, "b": 7, "operation": "Multiply"}},
        {"id": "s2", "graph": "calculate", "inputs": {"a": "{{ s1.result }}", "b": 2,
                                                      "operation": "Add"}, "depends_on": ["s1"]},
        {"id": "s3", "graph": "word_count", "inputs": {"text": "answer is {{s2.result}}"},
         "depends_on": ["s2"]},
        {"id": "bad", "graph": "wikipedia_lookup", "inputs": {"topic": "Nowhere"}},
        {"id": "after_bad", "graph": "word_count", "inputs": {"text": "{{ bad.summary }}"},
         "depends_on": ["bad"]},
    ]}
    config.graphs["wikipedia_base_url"] = DEAD_HOST  # nothing listens: the node fails
    company, _ = scripted_company(config, store, standard_script(WritePlan=plan))
    outcome = await company.run("chain", RunOptions(sop=sop_with_replans("default", 0)))
    assert outcome.status == "done", outcome.error
    steps = {s.step_id: s for s in results_of(store, outcome.task_id).steps}
    assert steps["s2"].outputs["result"] == [44.0]
    assert steps["s3"].outputs["word_count"] == [3]
    # AutoGPT calls the graph COMPLETED (a node failed, not the graph); the step is FAILED, as
    # nothing came out, and AutoGPT's node statuses are kept
    assert steps["bad"].status == "FAILED", steps["bad"]
    assert steps["bad"].error == WIKI_ERROR
    assert [(n.block, n.status) for n in steps["bad"].nodes] == [
        ("AgentShortTextInputBlock", "COMPLETED"), ("GetWikipediaSummaryBlock", "FAILED")]
    assert steps["after_bad"].status == "SKIPPED" and "bad" in steps["after_bad"].error
    assert f"| bad | wikipedia_lookup | FAILED |  | {WIKI_ERROR} |" in outcome.report
    assert "| after_bad | word_count | SKIPPED |" in outcome.report
    assert "| s3 | word_count | COMPLETED |" in outcome.report
    assert replans_of(store, outcome.task_id) == []  # no re-plan budget in this SOP


async def test_default_sop_sends_failed_steps_back_to_the_planner(config, store):
    """What RunGraphs does, whoever answers: the failed results reach the Planner only."""
    config.graphs["wikipedia_base_url"] = DEAD_HOST
    provider = standard_script(WritePlan=[LOOKUP_PLAN, ANSWER_PLAN], Executor=ANSWER)
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("Who was Alan Turing?", RunOptions(sop="default"))
    messages = store.messages(outcome.task_id)
    first = [m for m in messages if m.cause_by == "RunGraphs"][0]
    assert first.send_to == ["Planner"] and first.sent_from == "Executor"
    assert first.payload["steps"][0]["status"] == "FAILED"
    assert [e["steps"] for e in replans_of(store, outcome.task_id)] == [["s1"]]


@pytest.mark.parametrize("second", ["answers", "fails too"])
async def test_default_sop_replans_once_after_a_failed_step(config, store, second):
    from company.llm.base import LLMError

    config.graphs["wikipedia_base_url"] = DEAD_HOST
    model = ANSWER if second == "answers" else LLMError("the model is down")
    provider = standard_script(WritePlan=[LOOKUP_PLAN, ANSWER_PLAN], Executor=model)
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("Who was Alan Turing?", RunOptions(sop="default"))
    assert outcome.status == "done", outcome.error
    messages = store.messages(outcome.task_id)
    assert [(m.cause_by, m.send_to) for m in messages] == [
        ("UserRequirement", [EVERYONE]), ("AnalyzeRequest", [EVERYONE]),
        ("WritePlan", [EVERYONE]), ("RunGraphs", ["Planner"]),  # only the Planner hears it
        ("WritePlan", [EVERYONE]), ("RunGraphs", [EVERYONE]), ("SummarizeResults", [EVERYONE])]
    # the host could not be reached: the code re-plans the lookup as a question (no call)
    assert len(provider.calls_for("WritePlan")) == 1
    assert len(replans_of(store, outcome.task_id)) == 1
    replan = [m for m in messages if m.cause_by == "WritePlan"][-1].payload
    assert replan["steps"][0]["inputs"] == {
        "question": "Alan Turing", "context": "The Boss asked: Who was Alan Turing?"}
    assert "not looked up" in replan["notes"]
    final = results_of(store, outcome.task_id)
    assert [(s.graph, s.status) for s in final.earlier] == [("wikipedia_lookup", "FAILED")]
    [step] = final.steps
    assert step.attempt == 2
    if second == "answers":
        assert (step.graph, step.status, step.outputs) == (
            "answer_question", "COMPLETED", {"answer": [ANSWER]})
        assert "| answer_question | COMPLETED |" in outcome.report
    else:
        assert (step.graph, step.status) == ("answer_question", "FAILED")
    # the report says what failed first, whatever came after
    assert f"| s1 | wikipedia_lookup | FAILED |  | {WIKI_ERROR} |" in outcome.report


BAD_PATTERN_PLAN = {"steps": [{"id": "s1", "graph": "extract_text",
                               "inputs": {"text": "Alan Turing", "pattern": "("}}]}
"""A step that fails when it runs, not on the network (an invalid regular expression)."""


async def test_a_replan_is_not_offered_the_graph_that_failed(config, store):
    """The 1.5B re-chose a graph after it failed; its schema no longer has it, and a model (or
    provider) that ignores the schema is refused by the plan check."""
    provider = standard_script(WritePlan=[BAD_PATTERN_PLAN] * 4, Executor=ANSWER)
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("Who was Alan Turing?", RunOptions(sop="default"))
    assert outcome.status == "done", outcome.error
    replan = provider.calls_for("WritePlan")[1]
    offered = {b["properties"]["graph"]["const"]
               for b in replan.json_schema["$defs"]["step"]["anyOf"]}
    assert "extract_text" not in offered and "answer_question" in offered
    plans = [m for m in store.messages(outcome.task_id) if m.cause_by == "WritePlan"]
    assert plans[-1].payload["steps"] == []  # still wrong after the fixes: no steps, a reason
    assert plans[-1].payload["notes"].startswith("No other plan could be made after the failure")
    assert "| s1 | extract_text | FAILED |" in outcome.report


async def test_direct_sop_replans_inside_the_executor_and_reports_both_attempts(config, store):
    config.graphs["wikipedia_base_url"] = DEAD_HOST
    provider = standard_script(WritePlan=[LOOKUP_PLAN, ANSWER_PLAN], Executor=ANSWER)
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("Who was Alan Turing?", RunOptions(sop="direct"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "RunGraphs", "SummarizeResults"]
    results = results_of(store, outcome.task_id)
    assert [(s.graph, s.status, s.attempt) for s in results.steps] == [
        ("wikipedia_lookup", "FAILED", 1), ("answer_question", "COMPLETED", 2)]
    assert results.replans == 1
    # the lookup's host was down: the Executor re-planned it as a question itself (no call)
    assert [c.role for c in provider.calls_for("WritePlan")] == ["Executor"]
    assert [e["by"] for e in replans_of(store, outcome.task_id)] == ["Executor"]
    # the report is honest about what failed, and shows what answered
    assert f"| s1 | wikipedia_lookup | FAILED |  | {WIKI_ERROR} |" in outcome.report
    assert "| answer_question | COMPLETED |" in outcome.report and ANSWER in outcome.report


async def test_direct_sop_has_no_planner(config, store):
    company, provider = scripted_company(config, store)
    outcome = await company.run("What is 6 times 7?", RunOptions(sop="direct"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "RunGraphs", "SummarizeResults"]
    assert results_of(store, outcome.task_id).steps[0].outputs["result"] == [42.0]
    assert [c.role for c in provider.calls_for("WritePlan")] == ["Executor"]  # it plans itself


async def test_review_loop_replans_once_then_reports(config, store):
    provider = standard_script(ReviewResults=[Review(verdict="replan", feedback="also add 1")])
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("What is 6 times 7?", RunOptions(sop="review-loop"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "WritePlan", "RunGraphs",
                      "ReviewResults", "WritePlan", "RunGraphs", "SummarizeResults"]
    assert "reviewer: also add 1" in last_prompt(provider, "WritePlan", 1)
    # max_replans: 1 — the second review is not asked, the report is written
    assert len(provider.calls_for("ReviewResults")) == 1


async def test_remote_executor_records_the_execution_and_resumes_without_resubmitting(
        config, store):
    from tests.fakes.autogpt_server import FakeAutoGPT, create_app

    server = FakeAutoGPT(queued_polls=10_000, outputs={"result": [42.0]})
    with StandIn(create_app(server)) as url:
        config.graphs = {"executor": "remote", "remote": {
            "base_url": url, "api": "external", "api_key": server.api_key,
            "poll_initial_s": 0.01, "poll_max_s": 0.02, "timeout_s": 30}}
        provider = standard_script(WritePlan=CHAIN_PLAN)
        company, _ = scripted_company(config, store, provider)
        task_id = company.create_task("x", RunOptions(sop="default"))
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
        outcome = await Company(config, store=store, provider=provider).run_task(task_id)
        assert outcome.status == "done", outcome.error
        steps = results_of(store, task_id).steps
        assert steps[0].execution_id == recorded
        assert steps[0].outputs == {"result": [42.0]}
        assert server.submissions == 2  # s1 resumed by polling, s2 submitted once


async def test_remote_timeout_in_queued_is_a_clear_step_error(config, store):
    from tests.fakes.autogpt_server import FakeAutoGPT, create_app

    server = FakeAutoGPT(queued_polls=10_000)
    with StandIn(create_app(server)) as url:
        config.graphs = {"executor": "remote", "remote": {
            "base_url": url, "api": "external", "api_key": server.api_key,
            "poll_initial_s": 0.01, "poll_max_s": 0.02, "timeout_s": 0.3}}
        company, _ = scripted_company(config, store, standard_script(WritePlan=CHAIN_PLAN))
        # no re-plan: the failed step's results go straight to the report
        outcome = await company.run("x", RunOptions(sop=sop_with_replans("default", 0)))
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
    assert llm.cost.total.calls == 1
