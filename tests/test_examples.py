"""The examples run as documented, on the scripted provider: a custom role hired in code, the
same role named in an SOP by import path, and a company built in code."""

from __future__ import annotations

import pytest

from company.llm.scripted import ScriptedProvider
from company.payloads import Review
from company.run_options import RunOptions
from company.sop import load_sop
from company.store import Store
from tests.conftest import ANALYSIS, PLAN, REPORT, ROOT

REQUEST = "Multiply 6 by 7 and tally the words of the quick brown fox"
"""Unquoted, and asking for the count in words no cue knows ("count the words" would): a plan
that left out a quoted text or the graph a cue names would be doubted by the Planner itself
(actions/plan_doubts.py, actions/request_notes.py) before the Critic could send it back."""
SHORT_PLAN = {"steps": [{"id": "s1", "graph": "calculate",
                         "inputs": {"a": 6, "b": 7, "operation": "Multiply"}}]}


def critic_script() -> ScriptedProvider:
    """A plan that forgets the word count, sent back once, then the full plan."""
    return ScriptedProvider({
        "AnalyzeRequest": ANALYSIS,
        "WritePlan": [SHORT_PLAN, PLAN],
        "CritiquePlan": [Review(verdict="replan", feedback="the word count is missing")],
        "SummarizeResults": REPORT,
    })


def assert_critic_flow(store: Store, task_id: str, provider: ScriptedProvider) -> None:
    messages = store.messages(task_id)
    assert [(m.sent_from, m.cause_by) for m in messages] == [
        ("Boss", "UserRequirement"), ("Analyst", "AnalyzeRequest"), ("Planner", "WritePlan"),
        ("Critic", "CritiquePlan"), ("Planner", "WritePlan"), ("Critic", "CritiquePlan"),
        ("Executor", "RunGraphs"), ("Analyst", "SummarizeResults")]
    rejection, approval = messages[3], messages[5]
    assert rejection.send_to == ["Planner"] and rejection.payload["verdict"] == "replan"
    assert approval.payload["verdict"] == "accept"
    critique = provider.calls_for("CritiquePlan")[0].messages[-1]["content"]
    assert REQUEST in critique and "calculate" in critique  # the Boss's words and the plan
    replan = provider.calls_for("WritePlan")[1].messages[-1]["content"]
    assert "the word count is missing" in replan
    executed = messages[6].payload["steps"]
    assert [s["graph"] for s in executed] == ["calculate", "word_count"]  # the approved plan
    assert provider.unused() == []


async def test_a_custom_role_hired_in_code_sends_the_planner_back(config):
    from examples.custom_role import build_company

    provider = critic_script()
    company = build_company(config, provider)
    outcome = await company.run(REQUEST)
    assert outcome.status == "done", outcome.error
    assert_critic_flow(company.store, outcome.task_id, provider)
    task = company.store.get_task(outcome.task_id)
    assert "examples.custom_role:Critic" in task.sop_text  # resumable from another process


async def test_the_custom_role_named_in_an_sop_by_import_path(config, store):
    from company.company import Company

    provider = critic_script()
    sop = load_sop(str(ROOT / "examples" / "critic.yaml"))
    assert [r.role_class.name for r in sop.roles] == [
        "Transcriber", "Analyst", "Planner", "Critic", "Executor"]
    company = Company(config, store=store, provider=provider)
    outcome = await company.run(REQUEST, RunOptions(sop=sop))
    assert outcome.status == "done", outcome.error
    assert_critic_flow(store, outcome.task_id, provider)


async def test_a_company_built_in_code_runs_with_its_options(config):
    from examples.company_in_code import build_company

    provider = ScriptedProvider({"AnalyzeRequest": ANALYSIS, "WritePlan": PLAN,
                                 "SummarizeResults": REPORT})
    company = build_company(config, provider)
    outcome = await company.run(REQUEST, RunOptions(max_llm_calls=2))
    assert outcome.status == "failed"
    assert outcome.error == "LLM call budget exhausted: made 2 of 2 calls"
    assert [m.cause_by for m in company.store.messages(outcome.task_id)] == [
        "UserRequirement", "AnalyzeRequest", "WritePlan", "RunGraphs"]  # no LLM for graphs
    roles = [r.role_class.name for r in company.hired.roles]
    assert roles == ["Analyst", "Planner", "Executor"]


@pytest.mark.parametrize("module", ["custom_role", "company_in_code"])
def test_the_examples_have_a_main_that_runs_a_request(module):
    import importlib
    import inspect

    main = importlib.import_module(f"examples.{module}").main
    assert inspect.iscoroutinefunction(main)
    assert list(inspect.signature(main).parameters) == ["request"]
