"""Company: tasks, Boss messages and runs, driven by the scripted provider (the fake Ollama
server only where the provider's failures are what is tested)."""

import asyncio
import json

import pytest

from company.company import Company
from company.events import EventKind
from company.notebook import Notebook
from company.run import INTERRUPT
from company.run_options import RunOptions
from company.sop import load_sop, parse_sop
from tests.conftest import ANALYSIS, PLAN, REPORT, normalize_log
from tests.runtime_support import last_prompt, scripted_company, standard_script


async def test_request_becomes_analysis_plan_and_report(config, store):
    company, _ = scripted_company(config, store)
    outcome = await company.run("What is 6 times 7?", RunOptions(sop="plan-only"))
    assert outcome.status == "done", outcome.error
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "WritePlan", "SummarizeResults"]
    assert "planned, not executed" in outcome.report
    assert "| s1 | calculate |" in outcome.report
    ws = config.workspace / outcome.task_id
    assert (ws / "report.md").read_text().startswith("# Report")
    assert len((ws / "messages.jsonl").read_text().splitlines()) == 4
    # the scripted idea quotes none of the Boss's words: not kept; the item is
    assert store.ideas(outcome.task_id) == []
    assert [n.text for n in Notebook(store).list_notes()] == ["Multiply 6 by 7"]
    usage = {u.role: u for u in store.usage(outcome.task_id)}
    assert set(usage) == {"Analyst", "Planner"} and usage["Analyst"].calls == 2
    assert outcome.usage.calls == 3 and outcome.rounds == 3


async def test_same_answers_give_identical_logs(config, store):
    company, _ = scripted_company(config, store)
    sop = load_sop("plan-only")
    first = await company.run("Compute it", RunOptions(sop=sop))
    second = await company.run("Compute it", RunOptions(sop=sop))
    a = normalize_log(config.workspace / first.task_id / "messages.jsonl", first.task_id)
    b = normalize_log(config.workspace / second.task_id / "messages.jsonl", second.task_id)
    assert a == b and "TASK-00004" in a


async def test_event_stream_has_the_whole_story(config, store):
    company, _ = scripted_company(config, store)
    outcome = await company.run("Compute 6 times 7", RunOptions(sop="plan-only"))
    events = store.events(outcome.task_id)
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.MESSAGE and events[0].data["sent_from"] == "Boss"
    assert kinds[1] is EventKind.TASK_STARTED and kinds[-1] is EventKind.TASK_FINISHED
    assert kinds.count(EventKind.LLM_CALL) == 3
    assert kinds.count(EventKind.MESSAGE) == 4
    assert events[-1].data["status"] == "done"
    saved = (config.workspace / outcome.task_id / "events.jsonl").read_text().splitlines()
    assert len(saved) == len(events)


async def test_llm_down_fails_the_task_with_a_clear_error(config, store):
    from company.llm.guard import allow_model_requests

    config.llm.host = "http://127.0.0.1:9"  # nothing listens on the discard port
    company = Company(config, store=store)
    with allow_model_requests(hosts=[config.llm.host]):
        outcome = await company.run("Compute it", RunOptions(sop="plan-only"))
    assert outcome.status == "failed"
    assert "cannot reach the Ollama server at http://127.0.0.1:9" in outcome.error
    assert store.get_task(outcome.task_id).status == "failed"
    errors = [e for e in store.events(outcome.task_id) if e.kind is EventKind.ERROR]
    assert errors and errors[0].data["role"] == "Analyst"


async def test_garbage_json_forever_fails_clearly(config, store, fake_ollama):
    """A garbage analysis leaves the request itself as the analysis (event analysis_fallback);
    a garbage plan then fails the task, saying so."""
    fake_ollama.on("## Task: AnalyzeRequest", "I refuse to answer in JSON")
    fake_ollama.on("## Task: WritePlan", "Neither do I")
    outcome = await Company(config, store=store).run("x", RunOptions(sop="plan-only"))
    assert outcome.status == "failed"
    assert outcome.error.startswith("Planner: ") and "no valid Plan in 3 attempts" in outcome.error
    assert fake_ollama.chat_calls == 6
    [fallback] = [e for e in store.events(outcome.task_id)
                  if e.kind is EventKind.PROGRESS and e.data.get("what") == "analysis_fallback"]
    assert "no valid Analysis in 3 attempts" in fallback.data["error"]


async def test_timeout_and_http_500_fail_the_task(config, store, fake_ollama):
    fake_ollama.on("## Task: AnalyzeRequest", json.dumps(ANALYSIS), delay_s=1.5)
    config.llm.timeout_s = 0.3
    outcome = await Company(config, store=store).run("x", RunOptions(sop="plan-only"))
    assert outcome.status == "failed" and "did not answer within 0.3 s" in outcome.error
    fake_ollama.rules.clear()
    fake_ollama.on("## Task: AnalyzeRequest", "boom", status=500)
    outcome = await Company(config, store=store).run("x", RunOptions(sop="plan-only"))
    assert outcome.status == "failed" and "HTTP 500" in outcome.error


async def test_budget_exhausted_stops_the_run(config, store):
    text = load_sop("plan-only").text.replace("max_llm_calls: 20", "max_llm_calls: 1")
    sop = parse_sop(text, source="tight.yaml")
    company, provider = scripted_company(config, store)
    outcome = await company.run("x", RunOptions(sop=sop))
    assert outcome.status == "failed"
    assert "LLM call budget exhausted: made 1 of 1 calls" in outcome.error
    budget = [e for e in store.events(outcome.task_id) if e.kind is EventKind.BUDGET]
    assert budget[-1].data.get("exhausted") is True
    assert len(provider.calls) == 1


async def test_the_call_budget_is_per_request_so_follow_ups_start_afresh(config, store):
    text = load_sop("plan-only").text.replace("max_llm_calls: 20", "max_llm_calls: 3")
    sop = parse_sop(text, source="three-per-request.yaml")  # a plan-only turn makes 3 calls
    company, provider = scripted_company(config, store)
    first = await company.run("What is 6 times 7?", RunOptions(sop=sop))
    for follow_up in ("And again, please.", "Once more."):  # no number the plan leaves out
        company.add_boss_message(first.task_id, follow_up)
        again = await company.run_task(first.task_id, RunOptions(sop=sop))
        assert again.status == "done", again.error
        assert again.usage.calls == 3  # this request's calls, not the task's
    assert len(provider.calls) == 9
    assert sum(u.calls for u in store.usage(first.task_id)) == 9  # the task's totals stay


async def test_invalid_plan_is_rejected_and_corrected(config, store):
    bad = {"steps": [{"id": "s1", "graph": "teleport", "inputs": {}}]}
    missing = {"steps": [{"id": "s1", "graph": "calculate", "inputs": {"a": 1}}]}
    company, provider = scripted_company(config, store,
                                         standard_script(WritePlan=[bad, missing, PLAN]))
    outcome = await company.run("x", RunOptions(sop="plan-only"))
    assert outcome.status == "done", outcome.error
    plan_prompts = [c.messages[-1]["content"] for c in provider.calls_for("WritePlan")]
    assert len(plan_prompts) == 3
    assert "teleport" in plan_prompts[1] and "calculate" in plan_prompts[1]
    assert "missing" in plan_prompts[2].lower()


async def test_follow_up_keeps_the_history(config, store):
    company, provider = scripted_company(config, store)
    sop = load_sop("plan-only")
    first = await company.run("What is 6 times 7?", RunOptions(sop=sop))
    company.add_boss_message(first.task_id, "And now add 1.")
    again = await company.run_task(first.task_id)
    assert again.status == "done"
    follow_up = last_prompt(provider, "AnalyzeRequest")
    assert "Boss: What is 6 times 7?" in follow_up and "And now add 1." in follow_up
    assert len(provider.calls_for("AnalyzeRequest")) == 2
    assert len(store.messages(first.task_id)) == 8


def analyst_sop(mode: str, max_react_loop: int = 3):
    """An SOP with one Analyst watching the Boss, in this react mode."""
    return parse_sop("name: r\nroles:\n  - name: Analyst\n    watch: [UserRequirement]\n"
                     f"    react_mode: {mode}\n    max_react_loop: {max_react_loop}\n")


async def test_react_mode_lets_the_llm_choose_and_stop(config, store):
    provider = standard_script(RoleReact=[{"action": "AnalyzeRequest", "reason": "new request"},
                                          {"action": "stop", "reason": "done"}])
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("x", RunOptions(sop=analyst_sop("react", 3)))
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest"]
    assert len(provider.calls_for("RoleReact")) == 2


async def test_react_mode_is_bounded_by_max_react_loop(config, store):
    provider = standard_script(RoleReact={"action": "SummarizeResults"})
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("x", RunOptions(sop=analyst_sop("react", 2)))
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "SummarizeResults", "SummarizeResults"]


async def test_plan_and_act_runs_the_chosen_actions_in_order(config, store):
    provider = standard_script(RolePlan={"actions": ["AnalyzeRequest", "SummarizeResults"]})
    company, _ = scripted_company(config, store, provider)
    outcome = await company.run("x", RunOptions(sop=analyst_sop("plan_and_act")))
    causes = [m.cause_by for m in store.messages(outcome.task_id)]
    assert causes == ["UserRequirement", "AnalyzeRequest", "SummarizeResults"]


async def test_empty_request_is_refused(config, store):
    with pytest.raises(ValueError, match="empty"):
        Company(config, store=store).create_task("   ", RunOptions(sop="plan-only"))


async def test_interrupt_is_not_a_cancel_and_the_task_resumes(config, store):
    gate = asyncio.Event()

    async def slow_report(request):
        await gate.wait()
        return REPORT

    company, provider = scripted_company(config, store,
                                         standard_script(SummarizeResults=slow_report))
    task_id = company.create_task("x", RunOptions(sop="plan-only"))
    run = asyncio.create_task(company.run_task(task_id))
    while not provider.calls_for("SummarizeResults"):  # the last LLM call is in flight
        await asyncio.sleep(0.01)
    run.cancel(INTERRUPT)
    with pytest.raises(asyncio.CancelledError):
        await run
    assert store.get_task(task_id).status == "queued"
    assert store.events(task_id)[-1].kind is EventKind.TASK_INTERRUPTED
    assert company.buses.live(task_id) is None
    gate.set()  # the model answers this time
    outcome = await company.run_task(task_id)
    assert outcome.status == "done" and outcome.rounds == 3
