"""RunGraphs: step references resolved, steps run in dependency waves, failures skip their
dependents, a Planner-less SOP plans first, and an approval runs the newest plan in memory;
honest step statuses (a failed node with no output is FAILED, node statuses kept), the
failure feedback a re-plan reads, and the bounded re-plan after failed steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.memory_queries import failure_feedback, replans_after_failure
from actions.run_graphs import (
    RunGraphs,
    describe_results,
    node_statuses,
    resolve_inputs,
    step_status,
)
from actions.summarize_results import SummarizeResults
from actions.write_plan import WritePlan
from company.action import ActionContext, ActionFailed
from company.config import AppConfig
from company.events import EventKind
from company.graphs.results import ExecutionStatus, GraphRun, NodeExecution
from company.memory import Memory
from company.message import Message
from company.payloads import GraphResults, Plan, PlanStep, Review, StepResult
from company.research.expectations import completed
from company.status import StepStatus
from tests.action_support import harness, offline_config, remember
from tests.conftest import ANALYSIS, DEAD_HOST, PLAN


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


def done(step_id: str, **outputs: list) -> StepResult:
    return StepResult(step_id=step_id, graph="g", status=StepStatus.COMPLETED, outputs=outputs)


def calc(step_id: str, a, b, operation="Multiply", depends_on=()) -> dict:
    return {"id": step_id, "graph": "calculate", "depends_on": list(depends_on),
            "inputs": {"a": a, "b": b, "operation": operation}}


def words(step_id: str, text: str, depends_on=()) -> dict:
    return {"id": step_id, "graph": "word_count", "inputs": {"text": text},
            "depends_on": list(depends_on)}


def by_id(results: GraphResults) -> dict[str, StepResult]:
    return {s.step_id: s for s in results.steps}


# resolve_inputs ----------------------------------------------------------

def test_a_whole_reference_keeps_the_outputs_type():
    resolved = resolve_inputs({"a": "{{ s1.result }}", "b": "{{s1.result}}"},
                              {"s1": done("s1", result=[42.0, 7.0])})
    assert resolved == {"a": 42.0, "b": 42.0}  # the first value, as a number


def test_a_reference_inside_text_is_substituted_as_text():
    resolved = resolve_inputs({"text": "n={{ s1.result }}, w={{ s2.word_count }}!"},
                              {"s1": done("s1", result=[42.0]), "s2": done("s2", word_count=[4])})
    assert resolved == {"text": "n=42.0, w=4!"}


def test_plain_inputs_pass_through_untouched():
    inputs = {"a": 6, "text": "no {braces} here", "flag": True, "items": ["{{ s1.x }}"]}
    assert resolve_inputs(inputs, {}) == inputs


@pytest.mark.parametrize("done_steps", [{}, {"s1": done("s1", result=[])},
                                        {"s1": done("s1", other=[1])}])
def test_a_reference_to_no_value_fails_with_its_name(done_steps):
    with pytest.raises(ActionFailed, match=r"input refers to s1\.result, which produced no value"):
        resolve_inputs({"a": "{{ s1.result }}"}, done_steps)


# execute -----------------------------------------------------------------

async def test_steps_run_in_waves_and_outputs_feed_later_steps(config, store):
    h = harness(config, store, role="Executor")
    plan = Plan.model_validate({"steps": [
        calc("s1", 6, 7),
        calc("s2", "{{ s1.result }}", 2, "Add", depends_on=["s1"]),
        words("s3", "one two three"),
        words("s4", "answer {{ s2.result }} from {{ s1.result }}", depends_on=["s1", "s2"]),
    ]})
    results = await RunGraphs(h.ctx).execute(plan, "k")
    assert [s.step_id for s in results.steps] == ["s1", "s2", "s3", "s4"]  # the plan's order
    steps = by_id(results)
    assert all(s.status is StepStatus.COMPLETED and not s.error for s in steps.values())
    assert steps["s1"].outputs["result"] == [42.0]
    assert steps["s2"].outputs["result"] == [44.0]
    assert steps["s3"].outputs["word_count"] == [3]
    assert steps["s4"].outputs["word_count"] == [4]
    started = [d["step"] for kind, d in h.events
               if kind is EventKind.GRAPH_NODE and d.get("status") == StepStatus.RUNNING]
    assert started == ["s1", "s3", "s2", "s4"]  # wave 1: s1, s3; wave 2: s2; wave 3: s4
    assert all(d["role"] == "Executor" for _, d in h.events)


async def test_a_failed_step_skips_its_dependents_and_not_the_others(config, store):
    h = harness(config, store, role="Executor")
    plan = Plan.model_validate({"steps": [
        words("s1", "fine"),
        words("s2", "{{ s1.nope }}", depends_on=["s1"]),
        words("s3", "after s2", depends_on=["s2"]),
        words("s4", "after s3 and s1", depends_on=["s1", "s3"]),
        words("s5", "independent"),
    ]})
    steps = by_id(await RunGraphs(h.ctx).execute(plan, "k"))
    assert steps["s2"].status is StepStatus.FAILED
    assert steps["s2"].error == "input refers to s1.nope, which produced no value"
    assert steps["s3"].status is StepStatus.SKIPPED
    assert steps["s3"].error == "skipped: it depends on s2, which failed"
    assert steps["s4"].status is StepStatus.SKIPPED
    assert steps["s4"].error == "skipped: it depends on s3, which failed"
    assert steps["s1"].outputs["word_count"] == steps["s5"].outputs["word_count"] == [1]


async def test_circular_dependencies_are_skipped_not_run(config, store):
    h = harness(config, store, role="Executor")
    plan = Plan.model_validate({"steps": [
        words("s1", "ok"), words("a", "x", depends_on=["b"]), words("b", "y", depends_on=["a"]),
    ]})
    steps = by_id(await RunGraphs(h.ctx).execute(plan, "k"))
    assert steps["s1"].status is StepStatus.COMPLETED
    assert [(steps[s].status, steps[s].error) for s in ("a", "b")] == [
        (StepStatus.SKIPPED, "circular dependencies")] * 2


# run ---------------------------------------------------------------------

async def test_a_plan_in_the_news_is_executed_without_asking_the_model(config, store):
    h = harness(config, store, role="Executor")
    plan = h.remember("the plan", WritePlan, PLAN, sent_from="Planner")
    [out] = await h.publish(RunGraphs, [plan])
    assert out.cause_by == "RunGraphs" and out.send_to is None
    steps = by_id(out.payload)
    assert steps["s1"].outputs == {"result": [42.0]}
    assert steps["s2"].outputs["word_count"] == [4]
    assert out.content.startswith("s1 calculate: COMPLETED {'result': [42.0]}\n"
                                  "s2 word_count: COMPLETED {'word_count': [4], ")
    assert h.provider.calls == []


async def test_without_a_planner_the_analysis_is_planned_first(config, store):
    h = harness(config, store, {"WritePlan": PLAN}, role="Executor")
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    out = await RunGraphs(h.ctx).run([analysis])
    assert by_id(out.payload)["s1"].outputs == {"result": [42.0]}
    [call] = h.provider.calls
    assert (call.action, call.role) == ("WritePlan", "Executor")  # the plan prompt, booked so
    prompt = call.messages[-1]["content"]
    assert prompt.startswith("## Task: WritePlan") and "Multiply 6 by 7" in prompt


async def test_an_approval_with_no_plan_in_the_news_runs_the_newest_plan_in_memory(
        config, store):
    h = harness(config, store, role="Executor")
    h.remember("old plan", WritePlan, {"steps": [words("old", "one two")]}, sent_from="Planner")
    h.remember("new plan", WritePlan, {"steps": [words("new", "one two three")]},
               sent_from="Planner")
    approval = h.remember("fine", "CritiquePlan", Review(verdict="accept"), sent_from="Critic")
    out = await RunGraphs(h.ctx).run([approval])
    assert [(s.step_id, s.outputs["word_count"]) for s in out.payload.steps] == [("new", [3])]
    assert h.provider.calls == []


class KeyedRunGraphs(RunGraphs):
    """RunGraphs that notes the key each step runs under (a remote execution is recorded and
    resumed by it)."""

    def __init__(self, ctx: ActionContext) -> None:
        super().__init__(ctx)
        self.keys: list[str] = []

    async def _run_graph(self, step: PlanStep, inputs: dict[str, Any], step_key: str,
                         placement: Any) -> Any:
        self.keys.append(step_key)
        return await super()._run_graph(step, inputs, step_key, placement)


@pytest.mark.parametrize("in_news", [True, False])
async def test_steps_are_keyed_by_the_message_of_the_plan_they_run(config, store, in_news):
    h = harness(config, store, role="Executor")
    h.remember("old plan", WritePlan, {"steps": [words("a", "x")]}, sent_from="Planner")
    newest = h.remember("plan", WritePlan, {"steps": [words("a", "x"), words("b", "y")]},
                        sent_from="Planner")
    approval = h.remember("fine", "CritiquePlan", Review(verdict="accept"), sent_from="Critic")
    action = KeyedRunGraphs(h.ctx)
    await action.run([newest] if in_news else [approval])
    assert sorted(action.keys) == [f"{newest.id}:a", f"{newest.id}:b"]


async def test_no_plan_and_no_analysis_fails_clearly(config, store):
    h = harness(config, store, role="Executor")
    approval = h.remember("fine", "CritiquePlan", Review(verdict="accept"), sent_from="Critic")
    with pytest.raises(ActionFailed, match="there is no plan \\(and no analysis\\) to execute"):
        await RunGraphs(h.ctx).run([approval])


def test_it_is_triggered_by_a_plan():
    assert RunGraphs.trigger_names() == {"WritePlan"}
    assert RunGraphs.payload is GraphResults


def test_describe_results_names_each_step_and_its_error():
    results = GraphResults(steps=[
        StepResult(step_id="s1", graph="calculate", status=StepStatus.COMPLETED,
                   outputs={"result": [1.0]}),
        StepResult(step_id="s2", graph="word_count", status=StepStatus.SKIPPED, error="boom"),
    ])
    assert describe_results(results) == ("s1 calculate: COMPLETED {'result': [1.0]}\n"
                                         "s2 word_count: SKIPPED (error: boom)")
    assert describe_results(GraphResults()) == "No steps to run."


# honest step status ------------------------------------------------------

def wiki(step_id: str, topic: str = "Alan Turing", depends_on=()) -> dict:
    return {"id": step_id, "graph": "wikipedia_lookup", "inputs": {"topic": topic},
            "depends_on": list(depends_on)}


def dead_wikipedia(config: AppConfig) -> AppConfig:
    """Wikipedia at the discard port: the lookup's node fails ("connection failed")."""
    config.graphs["wikipedia_base_url"] = DEAD_HOST
    return config


WIKI_ERROR = ("GetWikipediaSummaryBlock: cannot reach host '127.0.0.1': All connection attempts "
              "failed")


async def test_a_step_whose_node_failed_and_gave_nothing_is_failed_with_its_nodes(config, store):
    h = harness(dead_wikipedia(config), store, role="Executor")
    plan = Plan.model_validate({"steps": [wiki("s1"), words("s2", "{{ s1.summary }}", ["s1"])]})
    steps = by_id(await RunGraphs(h.ctx).execute(plan, "k"))
    s1 = steps["s1"]
    assert (s1.status, s1.outputs, s1.error) == (StepStatus.FAILED, {}, WIKI_ERROR)
    # AutoGPT's node executions: the input ran, the lookup failed, the output never ran
    assert [(n.block, n.status, n.error) for n in s1.nodes] == [
        ("AgentShortTextInputBlock", "COMPLETED", None),
        ("GetWikipediaSummaryBlock", "FAILED",
             "cannot reach host '127.0.0.1': All connection attempts failed")]
    assert steps["s2"].status is StepStatus.SKIPPED  # SKIPPED stays SKIPPED
    assert steps["s2"].nodes == []


def run_of(status: str, outputs: dict, *nodes: tuple[str, str, str | None]) -> GraphRun:
    return GraphRun(status=ExecutionStatus(status), outputs=outputs, nodes=[
        NodeExecution(node_id=node_id, block_name=f"{node_id}Block",
                      status=ExecutionStatus(node_status), error=error)
        for node_id, node_status, error in nodes])


@pytest.mark.parametrize(("status", "outputs", "failed", "expected"), [
    ("COMPLETED", {}, True, StepStatus.FAILED),
    ("COMPLETED", {"answer": []}, True, StepStatus.FAILED),  # an output pin with no value
    ("COMPLETED", {"answer": ["yes"]}, True, StepStatus.COMPLETED),  # partial: kept
    ("COMPLETED", {}, False, StepStatus.COMPLETED),  # nothing failed, nothing came out
    ("TERMINATED", {}, True, StepStatus.TERMINATED),
    ("FAILED", {"answer": ["yes"]}, False, StepStatus.FAILED),
])
def test_step_status_is_failed_only_when_a_node_failed_and_no_output_came(
        status, outputs, failed, expected):
    node = ("n2", "FAILED" if failed else "COMPLETED", "boom" if failed else None)
    assert step_status(run_of(status, outputs, ("n1", "COMPLETED", None), node)) is expected


class CannedRunGraphs(RunGraphs):
    """RunGraphs whose graphs 'run' to canned results (graph name → GraphRun)."""

    runs: dict[str, GraphRun] = {}

    async def _run_graph(self, step: PlanStep, inputs: dict[str, Any], step_key: str,
                         placement: Any) -> Any:
        return self.runs[step.graph]


async def test_a_step_with_output_and_a_failed_node_stays_completed_with_its_error(
        config, store):
    h = harness(config, store, role="Executor")
    action = CannedRunGraphs(h.ctx)
    action.runs = {"answer_question": run_of(
        "COMPLETED", {"answer": ["42"]}, ("in", "COMPLETED", None), ("side", "FAILED", "boom"),
        ("llm", "COMPLETED", None))}
    plan = Plan.model_validate({"steps": [
        {"id": "s1", "graph": "answer_question", "inputs": {"question": "6 x 7?"}},
        words("s2", "{{ s1.answer }}", ["s1"])]})
    steps = by_id(await action.execute(plan, "k"))
    s1 = steps["s1"]
    assert (s1.status, s1.outputs, s1.error) == (StepStatus.COMPLETED, {"answer": ["42"]},
                                                 "sideBlock: boom")
    assert [(n.node_id, n.status) for n in s1.nodes] == [
        ("in", "COMPLETED"), ("side", "FAILED"), ("llm", "COMPLETED")]
    assert not completed(s1)  # for the evaluation a partial run is no clean success
    assert steps["s2"].status is StepStatus.SKIPPED  # as before: a dependency with an error


def test_node_statuses_fold_a_nodes_executions_and_keep_its_failure():
    run = run_of("COMPLETED", {}, ("a", "COMPLETED", None), ("b", "COMPLETED", None),
                 ("b", "FAILED", "second item broke"), ("b", "COMPLETED", None))
    assert [n.model_dump() for n in node_statuses(run)] == [
        {"node_id": "a", "block": "aBlock", "status": "COMPLETED", "error": None,
         "executions": 1},
        {"node_id": "b", "block": "bBlock", "status": "FAILED", "error": "second item broke",
         "executions": 3},
    ]


def test_results_stored_before_node_statuses_still_load():
    old = {"steps": [{"step_id": "s1", "graph": "calculate", "status": "COMPLETED",
                      "outputs": {"result": [42.0]}, "error": None, "duration_s": 0.1,
                      "execution_id": "ex-1"}]}
    results = GraphResults.model_validate(old)
    [step] = results.steps
    assert (step.nodes, step.attempt, step.execution_id) == ([], 1, "ex-1")
    assert (results.replans, results.earlier) == (0, [])
    assert GraphResults.model_validate(results.model_dump(mode="json")) == results


async def test_the_reports_table_says_failed(config, store):
    h = harness(dead_wikipedia(config), store, {"SummarizeResults": "The lookup did not work."})
    h.remember("Who was Alan Turing?", "UserRequirement")
    plan = Plan.model_validate({"steps": [wiki("s1")]})
    results = await RunGraphs(harness(config, store, role="Executor").ctx).execute(plan, "k")
    news = h.remember(describe_results(results), RunGraphs, results, sent_from="Executor")
    [report] = await h.publish(SummarizeResults, [news])
    assert f"| s1 | wikipedia_lookup | FAILED |  | {WIKI_ERROR} |" in report.content
    assert "COMPLETED" not in report.content


# failure feedback ----------------------------------------------------------

def test_failure_feedback_is_one_short_line_per_failed_or_skipped_step():
    memory = Memory()
    first = GraphResults(steps=[
        StepResult(step_id="s1", graph="wikipedia_lookup", status=StepStatus.FAILED,
                   error=WIKI_ERROR),
        StepResult(step_id="s2", graph="word_count", status=StepStatus.SKIPPED,
                   error="skipped: it depends on s1, which failed"),
        StepResult(step_id="s3", graph="calculate", status=StepStatus.COMPLETED,
                   outputs={"result": [42.0]}),
        StepResult(step_id="s4", graph="calculate", status=StepStatus.COMPLETED,
                   outputs={"result": [1.0]}, error="partial: kept out of the feedback"),
    ])
    second = GraphResults(steps=[
        StepResult(step_id="s1", graph="answer_question", status=StepStatus.TERMINATED,
                   error="the run took\nlonger than " + "very " * 60 + "long"),
    ])
    news = [remember(memory, "plan", WritePlan, PLAN, sent_from="Planner"),
            remember(memory, "r1", RunGraphs, first, sent_from="Executor"),
            remember(memory, "r2", RunGraphs, second, sent_from="Executor")]
    lines = failure_feedback(news)
    assert lines[:2] == [
        "step s1 (wikipedia_lookup) failed: GetWikipediaSummaryBlock: cannot reach host "
        "'127.0.0.1': All connection attempts failed; use another graph from the catalogue, "
        "or answer with no steps and say why in notes",
        "step s2 (word_count) was skipped: it depends on s1, which failed",
    ]
    assert len(lines) == 3
    assert lines[2].startswith("step s1 (answer_question) failed: the run took longer than very")
    assert "\n" not in lines[2] and "…; use another graph" in lines[2]
    assert len(lines[2]) < 300
    assert failure_feedback([news[0]]) == []
    assert failure_feedback([*news, news[1]]) == lines  # the same failure is said once


# re-plan after failed steps ----------------------------------------------

def replans(h) -> list[dict]:
    return [d for kind, d in h.events
            if kind is EventKind.PROGRESS and d.get("what") == "replan_after_failure"]


def publish_results(h, out) -> Message:
    """Remember RunGraphs' output as the environment would publish it."""
    return h.remember(out.content, RunGraphs, out.payload, sent_from="Executor",
                      send_to=out.send_to)


async def test_failed_steps_go_back_to_the_planner_once_then_to_everyone(config, store):
    h = harness(dead_wikipedia(config), store, role="Executor",
                options={"replan_on_failure": 1})
    h.remember("Who was Alan Turing?", "UserRequirement")
    first = h.remember("plan", WritePlan, {"steps": [wiki("s1")]}, sent_from="Planner")
    [out] = await h.publish(RunGraphs, [first])
    assert out.send_to == ["Planner"]  # the Analyst does not report on these
    assert [(s.step_id, s.status, s.attempt) for s in out.payload.steps] == [
        ("s1", StepStatus.FAILED, 1)]
    assert out.content.startswith("Steps failed; back to Planner for a new plan.\n"
                                  "s1 wikipedia_lookup: FAILED")
    assert replans(h) == [{"role": "Executor", "what": "replan_after_failure", "steps": ["s1"],
                           "graphs": ["wikipedia_lookup"], "attempt": 2, "by": "Planner"}]
    sent = publish_results(h, out)
    assert failure_feedback([sent])[0].startswith("step s1 (wikipedia_lookup) failed: ")
    # the Planner's new plan fails too: the budget is spent, the results go to everyone
    second = h.remember("plan", WritePlan, {"steps": [wiki("s1", "Ada Lovelace")]},
                        sent_from="Planner")
    [out] = await h.publish(RunGraphs, [second])
    assert out.send_to is None
    assert [(s.step_id, s.status, s.attempt) for s in out.payload.steps] == [
        ("s1", StepStatus.FAILED, 2)]
    assert out.payload.earlier == sent_payload(sent).steps  # what failed before, for the report
    assert len(replans(h)) == 1
    assert out.content == (f"s1 wikipedia_lookup: FAILED (error: {WIKI_ERROR})\n"
                           f"s1 (attempt 2) wikipedia_lookup: FAILED (error: {WIKI_ERROR})")


def sent_payload(message: Message) -> GraphResults:
    return GraphResults.model_validate(message.payload)


async def test_a_new_request_gets_its_own_replan(config, store):
    h = harness(dead_wikipedia(config), store, role="Executor",
                options={"replan_on_failure": 1})
    h.remember("Who was Alan Turing?", "UserRequirement")
    plan = h.remember("plan", WritePlan, {"steps": [wiki("s1")]}, sent_from="Planner")
    publish_results(h, (await h.publish(RunGraphs, [plan]))[0])
    assert replans_after_failure(h.memory) == 1
    h.remember("And Ada Lovelace?", "UserRequirement")  # a follow-up
    assert replans_after_failure(h.memory) == 0
    plan = h.remember("plan", WritePlan, {"steps": [wiki("s1", "Ada")]}, sent_from="Planner")
    [out] = await h.publish(RunGraphs, [plan])
    assert out.send_to == ["Planner"] and out.payload.steps[0].attempt == 1
    assert len(replans(h)) == 2


@pytest.mark.parametrize("options", [{}, {"replan_on_failure": 0}])
async def test_without_a_replan_budget_failed_steps_go_to_everyone(config, store, options):
    h = harness(dead_wikipedia(config), store, role="Executor", options=options)
    plan = h.remember("plan", WritePlan, {"steps": [wiki("s1")]}, sent_from="Planner")
    [out] = await h.publish(RunGraphs, [plan])
    assert out.send_to is None and out.payload.steps[0].status is StepStatus.FAILED
    assert replans(h) == []


async def test_skipped_steps_alone_do_not_replan(config, store):
    h = harness(config, store, role="Executor", options={"replan_on_failure": 1})
    plan = h.remember("plan", WritePlan, {"steps": [
        words("a", "x", depends_on=["b"]), words("b", "y", depends_on=["a"])]},
        sent_from="Planner")
    [out] = await h.publish(RunGraphs, [plan])
    assert out.send_to is None
    assert {s.status for s in out.payload.steps} == {StepStatus.SKIPPED}
    assert replans(h) == []


ANSWER_PLAN = {"steps": [{"id": "s1", "graph": "answer_question",
                          "inputs": {"question": "Who was Alan Turing?"}}],
               "notes": "Wikipedia failed; the model answers."}


async def test_without_a_planner_it_replans_itself_once_and_keeps_both_attempts(config, store):
    h = harness(dead_wikipedia(config), store, {
        "WritePlan": [{"steps": [wiki("s1")]}, ANSWER_PLAN],
        "Executor": "A British mathematician and computer scientist."},  # the graph's LLM
        role="Executor", options={"replan_on_failure": 1})
    h.remember("Who was Alan Turing?", "UserRequirement")
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    out = await RunGraphs(h.ctx).run([analysis])
    assert out.send_to is None
    results = out.payload
    assert [(s.step_id, s.graph, s.status, s.attempt) for s in results.steps] == [
        ("s1", "wikipedia_lookup", StepStatus.FAILED, 1),
        ("s1", "answer_question", StepStatus.COMPLETED, 2)]
    assert results.steps[1].outputs == {
        "answer": ["A British mathematician and computer scientist."]}
    assert (results.replans, results.earlier) == (1, [])
    assert replans(h) == [{"role": "Executor", "what": "replan_after_failure", "steps": ["s1"],
                           "graphs": ["wikipedia_lookup"], "attempt": 2, "by": "Executor"}]
    # the host could not be reached: the code re-plans the lookup as a question to the model
    # (no second WritePlan call), and says so in the plan's notes
    assert len(h.prompts("WritePlan")) == 1
    assert [d["steps"] for _, d in h.events if d.get("what") == "offline_fallback"] == [["s1"]]
    # the re-plan is counted in memory: the request has no re-plan left
    publish_results(h, out)
    assert replans_after_failure(h.memory) == 1


async def test_without_a_planner_the_replan_is_bounded(config, store):
    from company.llm.base import LLMError

    ask = {"id": "s1", "graph": "answer_question", "inputs": {"question": "Who was Turing?"}}
    h = harness(dead_wikipedia(config), store, {
        "WritePlan": [{"steps": [wiki("s1")]}, {"steps": [ask]}],
        "Executor": LLMError("the model is down")},  # the graph's LLM block fails too
        role="Executor", options={"replan_on_failure": 1})
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    out = await RunGraphs(h.ctx).run([analysis])
    assert [(s.graph, s.status, s.attempt) for s in out.payload.steps] == [
        ("wikipedia_lookup", StepStatus.FAILED, 1), ("answer_question", StepStatus.FAILED, 2)]
    # the lookup's host was down: re-planned by the code (answer_question), not by a call
    assert len(h.provider.calls_for("WritePlan")) == 1 and len(replans(h)) == 1
    assert out.payload.replans == 1


async def test_without_a_planner_a_replan_with_no_valid_plan_reports_the_failure(
        config, store):
    bad = {"steps": [{"id": "s1", "graph": "no_such_graph", "inputs": {}}]}
    split = {"id": "s1", "graph": "extract_text",  # fails at run time, not on the network
             "inputs": {"text": "a,b", "pattern": "("}}
    h = harness(config, store, {"WritePlan": [{"steps": [split]}, bad]},
                role="Executor", options={"replan_on_failure": 1, "max_plan_fixes": 0})
    analysis = h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    out = await RunGraphs(h.ctx).run([analysis])
    assert [(s.graph, s.status) for s in out.payload.steps] == [
        ("extract_text", StepStatus.FAILED)]
    assert out.payload.replans == 1
    failed = [d for kind, d in h.events if d.get("what") == "replan_failed"]
    assert len(failed) == 1 and "no_such_graph" in failed[0]["error"]
