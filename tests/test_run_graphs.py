"""RunGraphs: step references resolved, steps run in dependency waves, failures skip their
dependents, a Planner-less SOP plans first, and an approval runs the newest plan in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.run_graphs import RunGraphs, describe_results, resolve_inputs
from actions.write_plan import WritePlan
from company.action import ActionContext, ActionFailed
from company.config import AppConfig
from company.events import EventKind
from company.payloads import GraphResults, Plan, PlanStep, Review, StepResult
from company.status import StepStatus
from tests.action_support import harness, offline_config
from tests.conftest import ANALYSIS, PLAN


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
    assert prompt.startswith("## Task: WritePlan") and "- [high] Multiply 6 by 7" in prompt


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

    async def _run_graph(self, step: PlanStep, inputs: dict[str, Any], step_key: str) -> Any:
        self.keys.append(step_key)
        return await super()._run_graph(step, inputs, step_key)


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
